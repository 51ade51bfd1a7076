"""The cronjob and ttl-after-finished controllers in-process against a real apiserver.

A CronJob's start time is made due at once honestly: it runs hourly at the current minute,
and its ``status.lastScheduleTime`` is written back two hours through /status (any client
may), so the minute that is running now is owed."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from servers.apimachinery.errors import NotFound
from servers.client.resources import CRONJOBS, EVENTS, JOBS, PODS
from servers.client.rest import Client
from servers.controller_manager.controllers.cronjobschedule import rfc3339
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.integration.controller_manager.test_job import condition, end, some_pods
from tests.support.wait import eventually

Obj = dict[str, Any]
TEMPLATE = {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "x"}]}}}}


async def reasons(client: Client, name: str) -> set[str]:
    items = (await client.list(EVENTS, "default"))["items"]
    return {e["reason"] for e in items if e["involvedObject"]["name"] == name}


async def test_a_due_cronjob_makes_its_job_and_sees_it_complete(client: Client,
                                                                manager: Manager) -> None:
    # Hourly at this minute: due once below, and not again while the test runs (an every-
    # minute schedule starts a second Job when the test crosses a minute's end).
    minute_start = time.time() // 60 * 60
    cj = await client.create(CRONJOBS, {"metadata": {"name": "tick"}, "spec": {
        "schedule": f"{int(minute_start // 60) % 60} * * * *", "jobTemplate": TEMPLATE}},
        "default")
    back = rfc3339(datetime.fromtimestamp(minute_start - 2 * 3600, timezone.utc))
    await client.patch(CRONJOBS, "tick", {"status": {"lastScheduleTime": back}},
                       namespace="default", subresource="status")
    async with manager("--controllers", "cronjob,job"):
        async def made() -> Obj | None:
            got = await client.get(CRONJOBS, "tick", "default")
            return got if (got.get("status") or {}).get("active") else None
        status = (await made() or await eventually(made, "an active job", WAIT, POLL))["status"]
        [ref] = status["active"]
        assert ref["name"] == f"tick-{int(minute_start) // 60}", "named after its minute"
        job = await client.get(JOBS, ref["name"], "default")
        assert job["metadata"]["ownerReferences"][0]["uid"] == cj["metadata"]["uid"]
        [pod] = await some_pods(client, ref["name"], 1)
        await end(client, pod, "Succeeded", 0)
        await condition(client, ref["name"], "Complete")

        async def seen() -> Obj | None:
            got = await client.get(CRONJOBS, "tick", "default")
            st = got.get("status") or {}
            return st if not st.get("active") and st.get("lastSuccessfulTime") else None
        await eventually(seen, "the completed job seen", WAIT, POLL)

        async def events() -> bool:
            return {"SuccessfulCreate", "SawCompletedJob"} <= await reasons(client, "tick")
        await eventually(events, "the CronJob's events", WAIT, POLL)


async def test_ttl_after_finished_deletes_the_job_and_its_pods(client: Client,
                                                              manager: Manager) -> None:
    await client.create(JOBS, {"metadata": {"name": "brief"}, "spec": {
        "ttlSecondsAfterFinished": 0, **TEMPLATE["spec"]}}, "default")
    async with manager("--controllers", "job,ttl-after-finished,garbagecollector"):
        [pod] = await some_pods(client, "brief", 1)
        await end(client, pod, "Succeeded", 0)

        async def gone() -> bool:
            try:
                await client.get(JOBS, "brief", "default")
            except NotFound:
                return True
            return False
        await eventually(gone, "the Job deleted", WAIT, POLL)

        async def pods_gone() -> bool:
            items = (await client.list(PODS, "default"))["items"]
            return not items
        await eventually(pods_gone, "its pod deleted", WAIT, POLL)
