"""The EndpointSlice and mirroring controllers in-process against a real apiserver: pods'
readiness (written through pods/status as a kubelet would) moves their endpoints, slices
split at --max-endpoints-per-slice, and hand-written Endpoints of a selector-less Service
are mirrored."""

from __future__ import annotations

from typing import Any

from servers.client.resources import ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]
FLAGS = ("--controllers", "endpoint,endpointslice,endpointslicemirroring",
         "--max-endpoints-per-slice", "3")


async def set_status(client: Client, name: str, ip: str, ready: bool) -> None:
    pod = await client.get(PODS, name, "default")
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.update(PODS, pod, "status")


async def slices(client: Client, service: str) -> list[Obj]:
    found = await client.list(ENDPOINTSLICES, "default",
                              label_selector=f"kubernetes.io/service-name={service}")
    return list(found.get("items") or [])


def ready_ips(items: list[Obj]) -> list[str]:
    return sorted(e["addresses"][0] for s in items for e in s.get("endpoints") or ()
                  if e["conditions"].get("ready"))


async def test_slices_follow_pods(client: Client, manager: Manager) -> None:
    await client.create(SERVICES, {"metadata": {"name": "web", "labels": {"tier": "a"}},
                                   "spec": {"selector": {"app": "web"}, "ports": [
                                       {"name": "http", "port": 80, "targetPort": "http"}]}},
                        "default")
    for i in range(5):
        await client.create(PODS, {"metadata": {"name": f"web-{i}", "labels": {"app": "web"}},
                                   "spec": {"nodeName": "n1", "containers": [
                                       {"name": "c", "image": "x",
                                        "ports": [{"name": "http", "containerPort": 8080}]}]}},
                            "default")
    async with manager(*FLAGS):
        for i in range(5):
            await set_status(client, f"web-{i}", f"10.1.0.{i + 1}", i != 4)
        want = [f"10.1.0.{i + 1}" for i in range(4)]

        async def settled() -> list[Obj] | None:
            items = await slices(client, "web")
            total = sum(len(s.get("endpoints") or ()) for s in items)
            return items if ready_ips(items) == want and total == 5 else None

        items = await eventually(settled, "five endpoints, four ready", WAIT, POLL)
        assert sorted(len(s["endpoints"]) for s in items) == [2, 3]
        for item in items:
            meta = item["metadata"]
            assert meta["name"].startswith("web-") and len(meta["name"]) == len("web-") + 5
            assert meta["labels"]["endpointslice.kubernetes.io/managed-by"] == \
                "endpointslice-controller.k8s.io"
            assert meta["labels"]["tier"] == "a"
            assert meta["ownerReferences"][0]["kind"] == "Service"
            assert item["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        names = sorted(s["metadata"]["name"] for s in items)
        await set_status(client, "web-4", "10.1.0.5", True)
        want.append("10.1.0.5")
        await eventually(lambda: _ready_is(client, want), "the fifth ready", WAIT, POLL)
        assert sorted(s["metadata"]["name"] for s in await slices(client, "web")) == names
        for i in range(5):
            await client.delete(PODS, f"web-{i}", "default", grace_period_seconds=0)

        async def placeholder() -> bool:
            items = await slices(client, "web")
            return len(items) == 1 and not items[0].get("endpoints")

        await eventually(placeholder, "one empty slice", WAIT, POLL)
        await client.delete(SERVICES, "web", "default")
        await eventually(lambda: _none(client, "web"), "the slices to go", WAIT, POLL)


async def _ready_is(client: Client, want: list[str]) -> bool:
    return ready_ips(await slices(client, "web")) == want


async def _none(client: Client, service: str) -> bool:
    return not await slices(client, service)


async def test_selector_less_endpoints_are_mirrored(client: Client, manager: Manager) -> None:
    await client.create(SERVICES, {"metadata": {"name": "ext"}, "spec": {
        "ports": [{"name": "db", "port": 5432}]}}, "default")
    await client.create(ENDPOINTS, {"metadata": {"name": "ext", "labels": {"k": "v"}},
                                    "subsets": [{"addresses": [{"ip": "192.0.2.10"}],
                                                 "ports": [{"name": "db", "port": 5432}]}]},
                        "default")
    await client.create(SERVICES, {"metadata": {"name": "sel"}, "spec": {
        "selector": {"app": "none"}, "ports": [{"port": 80}]}}, "default")
    await client.create(ENDPOINTS, {"metadata": {"name": "sel"}, "subsets": [
        {"addresses": [{"ip": "192.0.2.20"}], "ports": [{"port": 80}]}]}, "default")
    async with manager("--controllers", "endpointslice,endpointslicemirroring"):
        async def mirrored() -> list[Obj] | None:
            items = await slices(client, "ext")
            return items if ready_ips(items) == ["192.0.2.10"] else None

        (item,) = await eventually(mirrored, "the mirrored slice", WAIT, POLL)
        assert item["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslicemirroring-controller.k8s.io"
        assert item["metadata"]["labels"]["k"] == "v"
        assert item["ports"] == [{"name": "db", "port": 5432, "protocol": "TCP"}]
        assert item["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
        # A selector Service's Endpoints are the endpoints controller's: never mirrored.
        sel = await eventually(lambda: slices(client, "sel"), "the placeholder of sel", WAIT, POLL)
        assert [s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
                for s in sel] == ["endpointslice-controller.k8s.io"]
        endpoints = await client.get(ENDPOINTS, "ext", "default")
        endpoints["subsets"][0]["addresses"].append({"ip": "192.0.2.11"})
        await client.update(ENDPOINTS, endpoints)

        async def two() -> bool:
            return ready_ips(await slices(client, "ext")) == ["192.0.2.10", "192.0.2.11"]

        await eventually(two, "the second address mirrored", WAIT, POLL)
        endpoints = await client.get(ENDPOINTS, "ext", "default")
        endpoints["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] = "true"
        await client.update(ENDPOINTS, endpoints)
        await eventually(lambda: _none(client, "ext"),
                         "skip-mirror to remove the slice", WAIT, POLL)
