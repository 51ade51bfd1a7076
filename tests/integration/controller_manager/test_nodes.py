"""Node lifecycle, taint eviction, IPAM and pod GC against a real apiserver, with short
timings passed by flags (the lifecycle; the apiserver's DefaultTolerationSeconds) or to the
controller (pod GC's quarantine)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.apimachinery.errors import NotFound
from servers.client.informer import SharedInformerFactory
from servers.client.leaderelection import micro_time
from servers.client.resources import EVENTS, LEASES, NAMESPACES, NODES, PODS
from servers.client.rest import Client
from servers.controller_manager.controllers.base import Context
from servers.controller_manager.controllers.podgc import PodGC
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import eventually
from tests.unit.controller_manager.fakes import options

Obj = dict[str, Any]
# Pods that name no unreachable toleration get one of this many seconds from admission.
DEFAULT_UNREACHABLE_SECONDS = 1
FAST = ("--node-monitor-grace-period", "2s", "--node-monitor-period", "200ms",
        "--node-eviction-rate", "100")


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    args = ["--default-unreachable-toleration-seconds", str(DEFAULT_UNREACHABLE_SECONDS)]
    with start_apiserver(tmp_path / "data", extra_args=args) as api:
        yield api


def node(name: str) -> Obj:
    return {"metadata": {"name": name}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}}


def pod(name: str, node_name: str, tolerations: list[Obj] | None = None) -> Obj:
    spec: Obj = {"nodeName": node_name, "containers": [{"name": "c", "image": "x"}]}
    if tolerations:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": name}, "spec": spec}


async def make_running(client: Client, name: str, node_name: str,
                       tolerations: list[Obj] | None = None) -> None:
    made = await client.create(PODS, pod(name, node_name, tolerations), "default")
    made["status"] = {"phase": "Running", "podIP": "10.9.0.1", "conditions": [
        {"type": "Ready", "status": "True"}]}
    await client.update(PODS, made, "status")


@contextlib.asynccontextmanager
async def heartbeats(client: Client, *names: str) -> AsyncIterator[None]:
    """Renew the Leases of ``names`` every 200 ms, as their kubelets would."""
    with contextlib.suppress(Exception):
        await client.create(NAMESPACES, {"metadata": {"name": "kube-node-lease"}})
    for name in names:
        await client.create(LEASES, {"metadata": {"name": name}, "spec": {
            "holderIdentity": name, "leaseDurationSeconds": 40,
            "renewTime": micro_time()}}, "kube-node-lease")

    async def beat() -> None:
        while True:
            await asyncio.sleep(0.2)
            for name in names:
                await client.patch(LEASES, name, {"spec": {"renewTime": micro_time()}},
                                   namespace="kube-node-lease")

    task = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def ready(client: Client, name: str) -> str:
    got = await client.get(NODES, name)
    return next(c["status"] for c in got["status"]["conditions"] if c["type"] == "Ready")


async def evicted(client: Client, name: str) -> bool:
    try:
        got = await client.get(PODS, name, "default")
    except NotFound:
        return True
    return bool(got["metadata"].get("deletionTimestamp"))


async def test_a_silent_node_goes_unknown_and_its_pods_are_evicted(
        client: Client, manager: Manager) -> None:
    await client.create(NODES, node("quiet"))
    await client.create(NODES, node("alive"))
    await make_running(client, "plain", "quiet")
    await make_running(client, "patient", "quiet", [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
         "effect": "NoExecute", "tolerationSeconds": 5}])
    await make_running(client, "safe", "alive")
    async with heartbeats(client, "alive"), manager(
            "--controllers", "nodelifecycle,taint-eviction-controller", *FAST):

        async def unknown() -> bool:
            return await ready(client, "quiet") == "Unknown"

        await eventually(unknown, "the silent node to go Unknown", WAIT, POLL)

        async def tainted() -> bool:
            got = await client.get(NODES, "quiet")
            keys = {(t["key"], t["effect"]) for t in got.get("spec", {}).get("taints") or ()}
            return {("node.kubernetes.io/unreachable", "NoSchedule"),
                    ("node.kubernetes.io/unreachable", "NoExecute")} <= keys

        await eventually(tainted, "the unreachable taints", WAIT, POLL)
        # "plain" has the 1 s toleration admission gave it; "patient" asked for 5 s.
        await eventually(lambda: evicted(client, "plain"), "the plain pod's eviction", WAIT, POLL)
        assert not await evicted(client, "patient")
        await eventually(lambda: evicted(client, "patient"), "the patient pod, later", WAIT, POLL)
        assert await ready(client, "alive") == "True" and not await evicted(client, "safe")
        events = (await client.list(EVENTS, "default"))["items"]
        assert "TaintManagerEviction" in {e["reason"] for e in events}


async def test_when_every_node_is_silent_nothing_is_evicted(client: Client,
                                                            manager: Manager) -> None:
    await client.create(NODES, node("only"))
    await make_running(client, "stays", "only")
    async with manager("--controllers", "nodelifecycle,taint-eviction-controller", *FAST):

        async def unknown() -> bool:
            return await ready(client, "only") == "Unknown"

        await eventually(unknown, "the node to go Unknown", WAIT, POLL)

        async def pod_not_ready() -> bool:
            got = await client.get(PODS, "stays", "default")
            return any(c["type"] == "Ready" and c["status"] == "False"
                       for c in got["status"]["conditions"])

        await eventually(pod_not_ready, "the pod's Ready=False", WAIT, POLL)
        await asyncio.sleep(1.0)
        got = await client.get(NODES, "only")
        assert all(t["effect"] != "NoExecute" for t in got.get("spec", {}).get("taints") or ())
        assert not await evicted(client, "stays")


async def test_a_node_that_comes_back_is_untainted(client: Client, manager: Manager) -> None:
    await client.create(NODES, node("flaky"))
    await client.create(NODES, node("steady"))
    async with heartbeats(client, "steady"), manager(
            "--controllers", "nodelifecycle", *FAST):

        async def tainted() -> bool:
            got = await client.get(NODES, "flaky")
            return bool(got.get("spec", {}).get("taints"))

        await eventually(tainted, "taints", WAIT, POLL)
        async with heartbeats(client, "flaky"):
            got = await client.get(NODES, "flaky")
            for condition in got["status"]["conditions"]:
                condition.update(status="True" if condition["type"] == "Ready" else "False",
                                 reason="KubeletReady")
            await client.update(NODES, got, "status")

            async def clean() -> bool:
                got = await client.get(NODES, "flaky")
                return not got.get("spec", {}).get("taints")

            await eventually(clean, "the taints to go", WAIT, POLL)


async def test_ipam_allocates_distinct_cidrs_across_restarts(client: Client,
                                                             manager: Manager) -> None:
    flags = ("--controllers", "nodeipam", "--allocate-node-cidrs",
             "--cluster-cidr", "10.244.0.0/16")

    async def cidr(name: str) -> str:
        return str((await client.get(NODES, name)).get("spec", {}).get("podCIDR", ""))

    await client.create(NODES, node("a"))
    async with manager(*flags):
        await eventually(lambda: cidr("a"), "a's CIDR", WAIT, POLL)
    await client.create(NODES, node("b"))
    async with manager(*flags):
        await eventually(lambda: cidr("b"), "b's CIDR", WAIT, POLL)
        got = await client.get(NODES, "b")
        assert got["spec"]["podCIDRs"] == [got["spec"]["podCIDR"]]
    assert {await cidr("a"), await cidr("b")} == {"10.244.0.0/24", "10.244.1.0/24"}


async def test_pod_gc_removes_pods_of_deleted_nodes(client: Client) -> None:
    await client.create(NODES, node("doomed"))
    await make_running(client, "on-doomed", "doomed")
    await client.delete(NODES, "doomed")
    stop = asyncio.Event()
    factory = SharedInformerFactory(client)
    ctx = Context(client, factory, options())
    gc = PodGC(ctx, threshold=0, period=0.2, quarantine=0.5)
    factory.start(stop)
    await factory.wait_synced()
    task = asyncio.ensure_future(gc.run(stop))
    try:
        async def gone() -> bool:
            try:
                await client.get(PODS, "on-doomed", "default")
            except NotFound:
                return True
            return False

        await eventually(gone, "the pod of the deleted node to go", WAIT, POLL)
    finally:
        stop.set()
        await asyncio.gather(task, factory.join())
