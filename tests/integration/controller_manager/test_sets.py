"""statefulset, daemonset and disruption controllers in-process against a real apiserver.
No kubelet runs: the test marks pods Running and Ready through pods/status as one would."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apimachinery.errors import StatusError
from servers.client.resources import DAEMONSETS, NODES, PODDISRUPTIONBUDGETS, PODS, STATEFULSETS
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]
CONTAINERS = [{"name": "c", "image": "x"}]


async def pods_named(client: Client, prefix: str, namespace: str = "default") -> dict[str, Obj]:
    items = (await client.list(PODS, namespace))["items"]
    return {p["metadata"]["name"]: p for p in items if p["metadata"]["name"].startswith(prefix)
            and not p["metadata"].get("deletionTimestamp")}


async def make_ready(client: Client, pod: Obj) -> None:
    fresh = await client.get(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"])
    fresh["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    await client.update(PODS, fresh, "status")


async def test_statefulset_ordered_scale_down_and_partitioned_update(
        client: Client, manager: Manager) -> None:
    sts = {"metadata": {"name": "web"},
           "spec": {"replicas": 3, "serviceName": "nginx",
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": CONTAINERS}}}}
    await client.create(STATEFULSETS, sts, "default")
    async with manager("--controllers", "statefulset"):
        for i in range(3):
            async def exactly(n: int = i + 1) -> dict[str, Obj] | None:
                found = await pods_named(client, "web-")
                return found if len(found) == n else None

            found = await eventually(exactly, f"web-{i}", WAIT, POLL)
            assert sorted(found) == [f"web-{j}" for j in range(i + 1)]  # web-i+1 not yet
            pod = found[f"web-{i}"]
            assert pod["spec"]["hostname"] == f"web-{i}"
            assert pod["spec"]["subdomain"] == "nginx"
            assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == str(i)
            await make_ready(client, pod)

        async def status() -> Obj | None:
            st = (await client.get(STATEFULSETS, "web", "default")).get("status") or {}
            return st if st.get("readyReplicas") == 3 and st.get("currentReplicas") == 3 \
                else None

        first = await eventually(status, "3 ready replicas", WAIT, POLL)
        assert first["currentRevision"] == first["updateRevision"]
        # A partitioned rolling update: only web-2 moves to the new revision.
        await client.patch(STATEFULSETS, "web", {"spec": {
            "updateStrategy": {"rollingUpdate": {"partition": 2}},
            "template": {"spec": {"containers": [{"name": "c", "image": "y"}]}}}},
            namespace="default")

        async def web2_updated() -> Obj | None:
            pod = (await pods_named(client, "web-")).get("web-2")
            return pod if pod and pod["spec"]["containers"][0]["image"] == "y" else None

        await make_ready(client, await eventually(web2_updated, "web-2 updated", WAIT, POLL))

        async def partitioned() -> Obj | None:
            st = (await client.get(STATEFULSETS, "web", "default")).get("status") or {}
            return st if st.get("updatedReplicas") == 1 and st.get("readyReplicas") == 3 \
                else None

        st = await eventually(partitioned, "one updated replica", WAIT, POLL)
        assert st["currentRevision"] == first["currentRevision"] != st["updateRevision"]
        images = {n: p["spec"]["containers"][0]["image"]
                  for n, p in (await pods_named(client, "web-")).items()}
        assert images == {"web-0": "x", "web-1": "x", "web-2": "y"}
        await client.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, namespace="default")

        async def scaled_down() -> dict[str, Obj] | None:
            found = await pods_named(client, "web-")
            return found if sorted(found) == ["web-0"] else None

        await eventually(scaled_down, "scale down to web-0", WAIT, POLL)
        await client.patch(PODS, "web-0", {"metadata": {"labels": {
            "apps.kubernetes.io/pod-index": None}}}, namespace="default")

        async def relabelled() -> bool:
            got = await client.get(PODS, "web-0", "default")
            return got["metadata"]["labels"].get("apps.kubernetes.io/pod-index") == "0"

        await eventually(relabelled, "web-0's pod-index label back", WAIT, POLL)


def node(name: str, labels: Obj | None = None, taints: list[Obj] | None = None) -> Obj:
    body: Obj = {"metadata": {"name": name, "labels": labels or {}}}
    if taints:
        body["spec"] = {"taints": taints}
    return body


async def test_daemonset_follows_nodes_and_skips_tainted(client: Client,
                                                         manager: Manager) -> None:
    await client.create(NODES, node("n1"))
    await client.create(NODES, node("n2", taints=[{"key": "gpu", "effect": "NoSchedule"}]))
    ds = {"metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": CONTAINERS}}}}
    await client.create(DAEMONSETS, ds, "default")

    async def on_nodes(wanted: set[str]) -> Any:
        async def check() -> tuple[dict[str, Obj]] | None:
            found = await pods_named(client, "agent-")
            pins = {p["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
                "matchFields"][0]["values"][0]: p for p in found.values()}
            return (pins,) if set(pins) == wanted and len(found) == len(wanted) else None
        return (await eventually(check, f"daemon pods on {sorted(wanted)}", WAIT, POLL))[0]

    async with manager("--controllers", "daemonset"):
        await on_nodes({"n1"})
        await client.create(NODES, node("n3"))
        pins = await on_nodes({"n1", "n3"})
        for pod in pins.values():
            await make_ready(client, pod)

        async def status() -> Obj | None:
            st = (await client.get(DAEMONSETS, "agent", "default")).get("status") or {}
            return st if st.get("numberReady") == 2 else None

        st = await eventually(status, "2 ready", WAIT, POLL)
        assert (st["desiredNumberScheduled"], st["currentNumberScheduled"],
                st["updatedNumberScheduled"], st["numberMisscheduled"]) == (2, 2, 2, 0)
        # Only nodes labelled role=agent now: n1 and n3 lose their pods until relabelled.
        await client.patch(DAEMONSETS, "agent", {"spec": {"template": {"spec": {
            "nodeSelector": {"role": "agent"}}}}}, namespace="default")
        await on_nodes(set())
        await client.patch(NODES, "n3", {"metadata": {"labels": {"role": "agent"}}})
        await on_nodes({"n3"})


async def test_pdb_status_lets_evictions_through_up_to_the_budget(
        client: Client, manager: Manager) -> None:
    for name in ("a", "b", "c"):
        await client.create(PODS, {"metadata": {"name": name, "labels": {"app": "db"}},
                                   "spec": {"containers": CONTAINERS}}, "default")
        await make_ready(client, await client.get(PODS, name, "default"))
    await client.create(PODDISRUPTIONBUDGETS, {
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}}, "default")
    async with manager("--controllers", "disruption"):
        async def allowed(n: int) -> Any:
            async def check() -> Obj | None:
                got = await client.get(PODDISRUPTIONBUDGETS, "db", "default")
                st = got.get("status") or {}
                return st if st.get("observedGeneration") and \
                    st.get("disruptionsAllowed") == n else None
            return await eventually(check, f"{n} disruptions allowed", WAIT, POLL)

        st = await allowed(1)
        assert (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"]) == (3, 2, 3)
        await _evict(client, "a")
        await allowed(0)
        with pytest.raises(StatusError) as caught:
            await _evict(client, "b")
        assert caught.value.code == 429


async def _evict(client: Client, name: str) -> None:
    body = {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": "default"}}
    await client.create(PODS, body, "default", subresource="eviction")
