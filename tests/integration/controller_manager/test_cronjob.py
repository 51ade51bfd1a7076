"""The cronjob and ttl-after-finished controllers in-process against a real apiserver.

A CronJob's start time is made due at once honestly: its ``status.lastScheduleTime`` is
written back two minutes through /status (any client may), so the minute that is running
now is owed."""

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
    cj = await client.create(CRONJOBS, {"metadata": {"name": "tick"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": TEMPLATE}}, "default")
    back = rfc3339(datetime.fromtimestamp((time.time() // 60 - 2) * 60, timezone.utc))
    await client.patch(CRONJOBS, "tick", {"status": {"lastScheduleTime": back}},
                       namespace="default", subresource="status")
    async with manager("--controllers", "cronjob,job"):
        async def made() -> Obj | None:
            got = await client.get(CRONJOBS, "tick", "default")
            return got if (got.get("status") or {}).get("active") else None
        status = (await made() or await eventually(made, "an active job", WAIT, POLL))["status"]
        [ref] = status["active"]
        minute = int(time.time()) // 60
        assert ref["name"] in (f"tick-{minute}", f"tick-{minute - 1}")
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
