"""The endpoints controller in-process against a real apiserver: pods' readiness, written
through pods/status as a kubelet would, moves their addresses."""

from __future__ import annotations

from typing import Any

from servers.apimachinery.errors import NotFound
from servers.client.resources import ENDPOINTS, PODS, SERVICES
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]
EP = ("--controllers", "endpoint")


async def set_status(client: Client, name: str, ip: str, ready: bool) -> None:
    pod = await client.get(PODS, name, "default")
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.update(PODS, pod, "status")


async def endpoints(client: Client, name: str) -> Obj | None:
    try:
        return await client.get(ENDPOINTS, name, "default")
    except NotFound:
        return None


async def test_endpoints_follow_pod_readiness(client: Client, manager: Manager) -> None:
    await client.create(SERVICES, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}, "default")
    for i in range(2):
        await client.create(PODS, {"metadata": {"name": f"web-{i}", "labels": {"app": "web"}},
                                   "spec": {"nodeName": "n1", "containers": [
                                       {"name": "c", "image": "x",
                                        "ports": [{"name": "http", "containerPort": 8080}]}]}},
                            "default")
    async with manager(*EP):
        await set_status(client, "web-0", "10.1.0.1", True)
        await set_status(client, "web-1", "10.1.0.2", False)

        async def split() -> Obj | None:
            got = await endpoints(client, "web")
            subsets = (got or {}).get("subsets") or []
            if len(subsets) == 1 and subsets[0].get("notReadyAddresses"):
                return subsets[0]
            return None

        subset = await eventually(split, "ready and not-ready addresses", WAIT, POLL)
        assert [a["ip"] for a in subset["addresses"]] == ["10.1.0.1"]
        assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.1.0.2"]
        assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert subset["addresses"][0]["targetRef"]["name"] == "web-0"
        await set_status(client, "web-1", "10.1.0.2", True)

        async def both_ready() -> bool:
            got = await endpoints(client, "web")
            subsets = (got or {}).get("subsets") or []
            return len(subsets) == 1 and len(subsets[0].get("addresses") or []) == 2 and \
                not subsets[0].get("notReadyAddresses")

        await eventually(both_ready, "both ready", WAIT, POLL)
        got = await endpoints(client, "web")
        assert got is not None
        assert "endpoints.kubernetes.io/last-change-trigger-time" in got["metadata"][
            "annotations"]
        await client.delete(PODS, "web-0", "default", grace_period_seconds=0)

        async def one_left() -> bool:
            got = await endpoints(client, "web")
            subsets = (got or {}).get("subsets") or []
            return [a["ip"] for s in subsets for a in s.get("addresses") or []] == ["10.1.0.2"]

        await eventually(one_left, "the deleted pod to leave", WAIT, POLL)
        await client.delete(SERVICES, "web", "default")

        async def gone() -> bool:
            return await endpoints(client, "web") is None

        await eventually(gone, "Endpoints of a deleted service to go", WAIT, POLL)


async def test_selectorless_service_endpoints_are_left_alone(client: Client,
                                                             manager: Manager) -> None:
    await client.create(SERVICES, {"metadata": {"name": "ext"}, "spec": {
        "ports": [{"port": 80}]}}, "default")
    manual = {"metadata": {"name": "ext"}, "subsets": [
        {"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}]}
    made = await client.create(ENDPOINTS, manual, "default")
    async with manager(*EP):
        await client.create(SERVICES, {"metadata": {"name": "probe"}, "spec": {
            "selector": {"app": "none"}, "ports": [{"port": 80}]}}, "default")
        await eventually(lambda: endpoints(client, "probe"), "the probe's Endpoints", WAIT, POLL)
        got = await endpoints(client, "ext")
        assert got is not None
        assert got["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
        assert got["subsets"][0]["addresses"] == [{"ip": "192.0.2.10"}]
