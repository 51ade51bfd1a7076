"""The replication controller in-process against a real apiserver: scale up and down,
adopt and release, status, events."""

from __future__ import annotations

from typing import Any

from servers.client.resources import EVENTS, PODS, REPLICATION_CONTROLLERS
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]
RC = ("--controllers", "replicationcontroller")


def rc(name: str, replicas: int, labels: dict[str, str] | None = None) -> Obj:
    labels = labels or {"app": name}
    return {"metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": labels,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


async def owned_pods(client: Client, name: str) -> list[Obj]:
    items = (await client.list(PODS, "default"))["items"]
    return [p for p in items if any(r.get("name") == name and r.get("controller")
                                    for r in p["metadata"].get("ownerReferences") or ())
            and not p["metadata"].get("deletionTimestamp")]


async def count_is(client: Client, name: str, n: int) -> Any:
    async def check() -> list[Obj] | None:
        pods = await owned_pods(client, name)
        return pods if len(pods) == n else None
    return await eventually(check, f"{n} pods of {name}", WAIT, POLL)


async def test_scale_up_down_and_status(client: Client, manager: Manager) -> None:
    await client.create(REPLICATION_CONTROLLERS, rc("web", 5), "default")
    async with manager(*RC):
        pods = await count_is(client, "web", 5)
        assert all(p["metadata"]["name"].startswith("web-") for p in pods)

        async def status() -> Obj | None:
            got = await client.get(REPLICATION_CONTROLLERS, "web", "default")
            st = got.get("status") or {}
            return st if st.get("replicas") == 5 and st.get("observedGeneration") else None

        st = await eventually(status, "status", WAIT, POLL)
        assert st["fullyLabeledReplicas"] == 5 and st["readyReplicas"] == 0
        await client.patch(REPLICATION_CONTROLLERS, "web", {"spec": {"replicas": 2}},
                           namespace="default", subresource="scale")
        await count_is(client, "web", 2)

        async def events() -> set[str] | None:
            items = (await client.list(EVENTS, "default"))["items"]
            reasons = {e["reason"] for e in items
                       if e["involvedObject"].get("name") == "web"}
            return reasons if {"SuccessfulCreate", "SuccessfulDelete"} <= reasons else None

        await eventually(events, "events", WAIT, POLL)
        # No more pods made or removed once settled.
        names = sorted(p["metadata"]["name"] for p in await owned_pods(client, "web"))
        for _ in range(5):
            await count_is(client, "web", 2)
        assert sorted(p["metadata"]["name"] for p in await owned_pods(client, "web")) == names


async def test_adopts_orphans_and_releases_relabelled_pods(client: Client,
                                                           manager: Manager) -> None:
    for i in range(2):
        await client.create(PODS, {"metadata": {"name": f"orphan-{i}",
                                                "labels": {"app": "db"}},
                                   "spec": {"containers": [{"name": "c", "image": "x"}]}},
                            "default")
    await client.create(REPLICATION_CONTROLLERS, rc("db", 3), "default")
    async with manager(*RC):
        pods = await count_is(client, "db", 3)
        assert {"orphan-0", "orphan-1"} <= {p["metadata"]["name"] for p in pods}
        await client.patch(PODS, "orphan-0", {"metadata": {"labels": {"app": "gone"}}},
                           namespace="default")

        async def released() -> bool:
            got = await client.get(PODS, "orphan-0", "default")
            return not got["metadata"].get("ownerReferences")

        await eventually(released, "release", WAIT, POLL)
        pods = await count_is(client, "db", 3)  # a replacement was made
        assert "orphan-0" not in {p["metadata"]["name"] for p in pods}
