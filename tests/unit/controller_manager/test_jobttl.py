"""The ttl-after-finished controller over a filled cache and a fake client."""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers.jobstatus import timestamp
from servers.controller_manager.controllers.jobttl import TTLAfterFinishedController, expires_in
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
NOW = 1_800_000_000.0


def job(ttl: int | None, finished: float | None) -> Obj:
    status: Obj = {}
    if finished is not None:
        status["conditions"] = [{"type": "Complete", "status": "True",
                                 "lastTransitionTime": timestamp(finished)}]
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
            "spec": spec, "status": status}


def setup() -> tuple[TTLAfterFinishedController, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    return TTLAfterFinishedController(ctx, workers=1, clock=lambda: NOW), factory, client


def test_expiry_counts_from_the_finished_condition() -> None:
    assert expires_in(job(10, NOW - 4), NOW) == 6.0
    assert expires_in(job(None, NOW - 4), NOW) is None
    assert expires_in(job(10, None), NOW) is None


async def test_an_expired_job_is_read_again_then_deleted_in_the_foreground() -> None:
    controller, factory, client = setup()
    expired = factory["jobs"].add(job(0, NOW - 1))
    client.objects[("jobs", "default", "pi")] = expired
    await controller.sync("default/pi")
    [delete] = client.verbs("delete", "jobs")
    assert delete[4] == {"uid": "u1", "propagation_policy": "Foreground"}


async def test_a_ttl_raised_meanwhile_spares_the_job() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(0, NOW - 1))
    client.objects[("jobs", "default", "pi")] = job(3600, NOW - 1)
    await controller.sync("default/pi")
    assert client.verbs("delete") == []


async def test_a_job_not_expired_yet_is_left_alone() -> None:
    controller, factory, client = setup()
    factory["jobs"].add(job(60, NOW - 1))
    await controller.sync("default/pi")
    assert client.writes == []
