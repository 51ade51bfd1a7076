"""The apps/v1 ReplicaSet controller against a real apiserver: a set-based selector adopts
a matching orphan, creates the rest, scales down through /scale, writes status."""

from __future__ import annotations

from typing import Any

from servers.client.resources import PODS, REPLICASETS
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]


def owned(pods: list[Obj], uid: str) -> list[Obj]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
        r["uid"] == uid and r.get("controller") for r in p["metadata"].get("ownerReferences")
        or ())]


async def test_set_based_selector_adopts_creates_scales_and_counts(client: Client,
                                                                   manager: Manager) -> None:
    for name, tier in (("orphan-a", "a"), ("stranger", "z")):
        await client.create(PODS, {"metadata": {"name": name,
                                                "labels": {"app": "web", "tier": tier}},
                                   "spec": {"containers": [{"name": "c", "image": "x"}]}},
                            "default")
    rs = await client.create(REPLICASETS, {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]}]},
        "template": {"metadata": {"labels": {"app": "web", "tier": "b"}},
                     "spec": {"containers": [{"name": "c", "image": "x"}]}}}}, "default")
    uid = rs["metadata"]["uid"]
    async with manager("--controllers", "replicaset"):
        async def three() -> list[Obj] | None:
            pods = owned((await client.list(PODS, "default"))["items"], uid)
            return pods if len(pods) == 3 else None

        pods = await eventually(three, "3 pods of the RS", WAIT, POLL)
        names = {p["metadata"]["name"] for p in pods}
        assert "orphan-a" in names and "stranger" not in names
        assert all(n == "orphan-a" or n.startswith("web-") for n in names)
        await client.patch(REPLICASETS, "web", {"spec": {"replicas": 1}},
                           namespace="default", subresource="scale")

        async def status() -> Obj | None:
            got = await client.get(REPLICASETS, "web", "default")
            st = got.get("status") or {}
            return st if st.get("replicas") == 1 and st.get(
                "observedGeneration") == got["metadata"]["generation"] else None

        st = await eventually(status, "status at 1 replica", WAIT, POLL)
        (left,) = await eventually(_count(client, uid, 1), "1 pod", WAIT, POLL)
        full = left["metadata"]["labels"].get("tier") == "b"  # the template's labels
        assert st["fullyLabeledReplicas"] == (1 if full else 0)
        stranger = await client.get(PODS, "stranger", "default")
        assert not stranger["metadata"].get("ownerReferences")


def _count(client: Client, uid: str, n: int) -> Any:
    async def check() -> list[Obj] | None:
        pods = owned((await client.list(PODS, "default"))["items"], uid)
        return pods if len(pods) == n else None
    return check
