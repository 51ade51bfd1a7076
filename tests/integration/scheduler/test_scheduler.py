"""``km scheduler``'s run() in-process against a real apiserver subprocess (source tree):
binding, FailedScheduling and the PodScheduled condition, /metrics names."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hyperkube import Server
from servers.apimachinery.errors import NotFound
from servers.client.resources import EVENTS, LEASES, NODES, PODS
from servers.client.rest import Client
from servers.scheduler import server
from servers.scheduler.app import run
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.ports import free_port
from tests.support.wait import eventually

WAIT, POLL = 10.0, 0.05  # a bound on each wait, and how often it looks


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data") as api:
        yield api


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(apiserver.url, request_timeout=10.0) as opened:
        yield opened


@contextlib.asynccontextmanager
async def scheduler(api: ApiServer, *args: str,
                    leader_elect: bool = False) -> AsyncIterator[asyncio.Task[int]]:
    spec: Server = server()
    flags = [] if leader_elect else ["--leader-elect=false"]
    opts = spec.make_parser().parse_args(
        ["--master", api.url, "--secure-port", "0", *flags, *args])
    stop = asyncio.Event()
    task = asyncio.ensure_future(run(opts, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def node(name: str, cpu: str = "2") -> dict[str, Any]:
    resources = {"cpu": cpu, "memory": "4Gi", "pods": "10"}
    return {"metadata": {"name": name}, "status": {"capacity": resources,
                                                   "allocatable": resources}}


def pod(name: str, cpu: str = "500m") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [
        {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}}


async def test_pods_are_bound_and_counted(apiserver: ApiServer, client: Client) -> None:
    await client.create(NODES, node("n1"))
    await client.create(NODES, node("n2"))
    async with scheduler(apiserver):
        for i in range(6):
            await client.create(PODS, pod(f"p{i}"), "default")

        async def bound() -> list[str] | None:
            items = (await client.list(PODS, "default"))["items"]
            nodes = [p["spec"].get("nodeName", "") for p in items]
            return nodes if len(nodes) == 6 and all(nodes) else None

        nodes = await eventually(bound, "6 bound pods", WAIT, POLL)
        # 2 cpu per node, 500m per pod: LeastAllocated spreads them 3 and 3.
        assert sorted(nodes) == ["n1"] * 3 + ["n2"] * 3

        async def scheduled() -> list[Any]:
            items = (await client.list(EVENTS, "default",
                                       field_selector="reason=Scheduled"))["items"]
            return items if len(items) == 6 else []

        events = await eventually(scheduled, "6 Scheduled events", WAIT, POLL)
        assert {e["source"]["component"] for e in events} == {"default-scheduler"}


async def test_a_pod_that_fits_nowhere_says_why(apiserver: ApiServer, client: Client) -> None:
    await client.create(NODES, node("n1"))
    async with scheduler(apiserver):
        await client.create(PODS, pod("huge", cpu="8"), "default")

        async def condition() -> dict[str, Any] | None:
            status = (await client.get(PODS, "huge", "default")).get("status") or {}
            return next((c for c in status.get("conditions") or ()
                         if c["type"] == "PodScheduled"), None)

        found = await eventually(condition, "huge's PodScheduled condition", WAIT, POLL)
        assert found["status"] == "False" and found["reason"] == "Unschedulable"
        assert found["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
        await client.create(NODES, node("n2", cpu="16"))

        async def bound() -> str:
            return str((await client.get(PODS, "huge", "default"))["spec"].get("nodeName", ""))

        assert await eventually(bound, "huge bound", WAIT, POLL) == "n2"


async def test_metrics_in_kubes_names_on_the_secure_port(apiserver: ApiServer,
                                                         client: Client) -> None:
    await client.create(NODES, node("n1", cpu="1"))
    port = free_port()
    args = ["--secure-port", str(port), "--bind-address", "127.0.0.1",
            "--authorization-always-allow-paths", "/healthz,/metrics"]
    async with scheduler(apiserver, *args):
        await client.create(PODS, pod("fits"), "default")
        await client.create(PODS, pod("too-big", cpu="4"), "default")
        ssl = False  # the server's certificate is self-signed, made at start
        async with aiohttp.ClientSession() as session:

            async def scrape() -> str | None:
                try:
                    async with session.get(f"https://127.0.0.1:{port}/metrics",
                                           ssl=ssl) as answer:
                        text = await answer.text()
                except aiohttp.ClientConnectionError:
                    return None
                wanted = [f'scheduler_schedule_attempts_total{{profile="default-scheduler",'
                          f'result="{result}"}}' for result in ("unschedulable", "scheduled")]
                # the failed pod reaches the unschedulable queue just after its attempt counts
                wanted.append('scheduler_pending_pods{queue="unschedulable"} 1.0')
                return text if all(w in text for w in wanted) else None

            text = await eventually(scrape, "both attempts in /metrics", WAIT, POLL)
        assert ('scheduler_schedule_attempts_total{profile="default-scheduler",'
                'result="scheduled"} 1.0') in text
        assert 'scheduler_pending_pods{queue="unschedulable"} 1.0' in text
        assert "scheduler_scheduling_attempt_duration_seconds_bucket" in text
        assert 'scheduler_pod_scheduling_sli_duration_seconds_count{attempts="1"} 1.0' in text


async def test_config_file_leader_election_fills_the_flags(apiserver: ApiServer, client: Client,
                                                          tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: kubescheduler.config.k8s.io/v1\n"
                      "kind: KubeSchedulerConfiguration\n"
                      "leaderElection:\n  leaderElect: true\n  leaseDuration: 3s\n"
                      "  renewDeadline: 2s\n  retryPeriod: 500ms\n"
                      "  resourceName: from-config\n  resourceNamespace: default\n")
    await client.create(NODES, node("n1"))
    async with scheduler(apiserver, "--config", str(config), leader_elect=True):
        await client.create(PODS, pod("led"), "default")

        async def lease() -> dict[str, Any] | None:
            try:
                return await client.get(LEASES, "from-config", "default")
            except NotFound:
                return None

        spec = (await eventually(lease, "the from-config lease", WAIT, POLL))["spec"]
        assert spec["leaseDurationSeconds"] == 3
        assert spec["holderIdentity"]

        async def bound() -> str:
            return str((await client.get(PODS, "led", "default"))["spec"].get("nodeName", ""))

        assert await eventually(bound, "led bound", WAIT, POLL) == "n1"


async def test_a_failed_informer_stops_the_scheduler() -> None:
    from servers.scheduler.app import _supervised

    async def informer() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("pods: handler failed")

    never = asyncio.Event()
    with pytest.raises(RuntimeError, match="handler failed"):
        await asyncio.wait_for(_supervised(never.wait(),  # type: ignore[arg-type]
                                           [asyncio.ensure_future(informer())]), 5)


async def test_preemption_spares_a_pod_its_disruption_budget_guards(
        apiserver: ApiServer, client: Client) -> None:
    """The scheduler's PDB informer: without the budget the victim would be ``db`` (the
    lower priority); with it preemption takes ``web`` on the other node."""
    from servers.client.resources import PODDISRUPTIONBUDGETS, PRIORITYCLASSES

    for name, value in (("low", 5), ("high", 1000)):
        await client.create(PRIORITYCLASSES, {"metadata": {"name": name}, "value": value})
    await client.create(NODES, node("n1", cpu="1"))
    await client.create(NODES, node("n2", cpu="1"))
    db = pod("db", cpu="1")
    db["metadata"]["labels"] = {"app": "db"}
    db["spec"]["nodeName"] = "n1"
    web = pod("web", cpu="1")
    web["spec"].update(nodeName="n2", priorityClassName="low")
    for victim in (db, web):
        await client.create(PODS, victim, "default")
    budget = await client.create(PODDISRUPTIONBUDGETS, {
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}, "default")
    budget["status"] = {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1,
                        "expectedPods": 1, "observedGeneration": 1}
    await client.update(PODDISRUPTIONBUDGETS, budget, "status")
    async with scheduler(apiserver):
        urgent = pod("urgent", cpu="1")
        urgent["spec"]["priorityClassName"] = "high"
        await client.create(PODS, urgent, "default")

        async def nominated() -> str:
            got = await client.get(PODS, "urgent", "default")
            return str((got.get("status") or {}).get("nominatedNodeName") or "")

        assert await eventually(nominated, "urgent nominated", WAIT, POLL) == "n2"
        got = await client.get(PODS, "db", "default")
        assert not got["metadata"].get("deletionTimestamp")
