"""The job controller in-process against a real apiserver; the test ends pods through
pods/status as a kubelet would (and does the kubelet's final delete)."""

from __future__ import annotations

import contextlib
from typing import Any

from servers.apimachinery.errors import NotFound
from servers.client.resources import EVENTS, JOBS, PODS
from servers.client.rest import Client
from servers.controller_manager.controllers.jobpods import INDEX_KEY, TRACKING_FINALIZER
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]
JOB = ("--controllers", "job")


def job(name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {
        "template": {"spec": {"restartPolicy": "Never",
                              "containers": [{"name": "c", "image": "x"}]}}, **spec}}


async def pods_of(client: Client, name: str, *, live: bool = True) -> list[Obj]:
    items = (await client.list(PODS, "default",
                               label_selector=f"batch.kubernetes.io/job-name={name}"))["items"]
    return [p for p in items if not (live and p["metadata"].get("deletionTimestamp"))]


async def end(client: Client, pod: Obj, phase: str, code: int) -> None:
    """What a kubelet writes when the pod's one container exits with ``code``."""
    state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                            "startedAt": "2026-01-01T00:00:00Z",
                            "finishedAt": "2026-01-01T00:00:01Z"}}
    await client.patch(PODS, pod["metadata"]["name"], {"status": {
        "phase": phase, "containerStatuses": [{"name": "c", "image": "x", "ready": False,
                                               "restartCount": 0, "state": state}]}},
        namespace="default", subresource="status")


async def condition(client: Client, name: str, type_: str) -> Obj:
    async def check() -> Obj | None:
        got = await client.get(JOBS, name, "default")
        conds = (got.get("status") or {}).get("conditions") or []
        return got if any(c["type"] == type_ and c["status"] == "True" for c in conds) \
            else None
    return await eventually(check, f"{name} {type_}", WAIT, POLL)


async def some_pods(client: Client, name: str, n: int) -> list[Obj]:
    async def check() -> list[Obj] | None:
        pods = await pods_of(client, name)
        return pods if len(pods) >= n else None
    return await eventually(check, f"{n} pods of {name}", WAIT, POLL)


async def test_a_job_completes_when_its_pod_succeeds(client: Client, manager: Manager) -> None:
    await client.create(JOBS, job("pi"), "default")
    async with manager(*JOB):
        [pod] = await some_pods(client, "pi", 1)
        assert pod["metadata"]["finalizers"] == [TRACKING_FINALIZER]
        await end(client, pod, "Succeeded", 0)
        done = await condition(client, "pi", "Complete")
        status = done["status"]
        assert status["succeeded"] == 1 and status.get("active", 0) == 0
        assert status["completionTime"] and status["startTime"]
        assert status["uncountedTerminatedPods"] == {}
        [after] = await pods_of(client, "pi")
        assert not after["metadata"].get("finalizers")

        async def completed_event() -> bool:
            items = (await client.list(EVENTS, "default"))["items"]
            return any(e["reason"] == "Completed" and e["involvedObject"]["name"] == "pi"
                       for e in items)
        await eventually(completed_event, "the Completed event", WAIT, POLL)


async def test_backoff_limit_zero_fails_on_the_first_failure(client: Client,
                                                             manager: Manager) -> None:
    await client.create(JOBS, job("bad", backoffLimit=0), "default")
    async with manager(*JOB):
        [pod] = await some_pods(client, "bad", 1)
        await end(client, pod, "Failed", 3)
        failed = await condition(client, "bad", "Failed")
        assert failed["status"]["failed"] == 1
        reasons = {c["reason"] for c in failed["status"]["conditions"]}
        assert reasons == {"BackoffLimitExceeded"}


async def test_parallel_indexed_job(client: Client, manager: Manager) -> None:
    await client.create(JOBS, job("idx", completions=3, parallelism=2,
                                  completionMode="Indexed"), "default")
    async with manager(*JOB):
        pods = await some_pods(client, "idx", 2)
        assert sorted(p["metadata"]["annotations"][INDEX_KEY] for p in pods) == ["0", "1"]
        for pod in pods:
            await end(client, pod, "Succeeded", 0)
        [third] = [p for p in await some_pods(client, "idx", 3)
                   if p["metadata"]["annotations"][INDEX_KEY] == "2"]
        assert third["spec"]["hostname"] == "idx-2"
        await end(client, third, "Succeeded", 0)
        done = await condition(client, "idx", "Complete")
        assert done["status"]["completedIndexes"] == "0-2"
        assert done["status"]["succeeded"] == 3


async def test_active_deadline(client: Client, manager: Manager) -> None:
    await client.create(JOBS, job("slow", activeDeadlineSeconds=1), "default")
    async with manager(*JOB):
        [pod] = await some_pods(client, "slow", 1)
        await condition(client, "slow", "FailureTarget")
        # The kubelet's final delete of the pod the controller deleted (an unbound pod
        # went at once).
        with contextlib.suppress(NotFound):
            await client.delete(PODS, pod["metadata"]["name"], "default",
                                grace_period_seconds=0)
        failed = await condition(client, "slow", "Failed")
        assert {c["reason"] for c in failed["status"]["conditions"]} == {"DeadlineExceeded"}
        assert failed["status"]["failed"] == 1


async def test_deleting_a_job_frees_its_tracked_pods(client: Client, manager: Manager) -> None:
    await client.create(JOBS, job("gone", parallelism=2, completions=2), "default")
    async with manager("--controllers", "job,garbagecollector"):
        await some_pods(client, "gone", 2)
        await client.delete(JOBS, "gone", "default", propagation_policy="Background")

        async def freed() -> bool:
            return not await pods_of(client, "gone", live=False)
        await eventually(freed, "the Job's pods deleted (finalizers removed)", WAIT, POLL)
