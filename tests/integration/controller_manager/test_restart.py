"""``km controller-manager`` as a process (source tree): kill -9 mid-scale-up and start
again — it converges with no duplicate and no orphaned pod; leader election on the Lease
kube-system/kube-controller-manager; /metrics with workqueue_* per queue."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from servers.client.resources import LEASES, PODS, REPLICATION_CONTROLLERS
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.apiserver import ROOT, ApiServer
from tests.support.ports import free_port
from tests.support.wait import eventually

Obj = dict[str, Any]
FAST_ELECTION = ("--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline",
                 "1500ms", "--leader-elect-retry-period", "200ms")


def start(api: ApiServer, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "servers.km", "controller-manager", "--master", api.url,
             "--secure-port", "0", "-v", "2", *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# Enough that slow start (1, 2, 4, ...) is surely still under way when a poll first sees it.
REPLICAS = 200


def rc(name: str, replicas: int) -> Obj:
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": labels,
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


async def test_killed_and_restarted_it_converges_without_duplicates(
        apiserver: ApiServer, client: Client, tmp_path: Path) -> None:
    log = tmp_path / "cm.log"
    flags = ("--controllers", "replicationcontroller,garbagecollector", *FAST_ELECTION)
    proc = start(apiserver, log, *flags)
    try:
        await client.create(REPLICATION_CONTROLLERS, rc("big", REPLICAS), "default")

        async def some() -> bool:
            items = (await client.list(PODS, "default"))["items"]
            return 3 <= len(items) < REPLICAS

        # The start (a process, then the lease) may take a while on a busy machine.
        await eventually(some, "the scale-up to be under way", 40, POLL)
        stop(proc, signal.SIGKILL)
        proc = start(apiserver, log, *flags)

        async def settled() -> list[Obj] | None:
            items = (await client.list(PODS, "default"))["items"]
            return items if len(items) == REPLICAS else None

        await eventually(settled, f"{REPLICAS} pods", 60, POLL)
        await asyncio.sleep(1.0)  # nothing more happens once settled
        items = (await client.list(PODS, "default"))["items"]
        assert len(items) == REPLICAS
        assert all([r["uid"] for r in p["metadata"]["ownerReferences"]] ==
                   [items[0]["metadata"]["ownerReferences"][0]["uid"]] for p in items)
        lease = await client.get(LEASES, "kube-controller-manager", "kube-system")
        assert lease["spec"]["holderIdentity"]
        assert lease["spec"].get("leaseTransitions", 0) >= 1
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()[-2000:]


async def test_metrics_count_work_per_queue(client: Client, manager: Manager) -> None:
    port = free_port()
    await client.create(REPLICATION_CONTROLLERS, rc("web", 2), "default")
    async with manager("--controllers", "replicationcontroller,endpoint", "--secure-port",
                       str(port), "--bind-address", "127.0.0.1",
                       "--authorization-always-allow-paths", "/healthz,/metrics"), \
            aiohttp.ClientSession() as session:

        async def scrape() -> str | None:
            try:
                async with session.get(f"https://127.0.0.1:{port}/metrics",
                                       ssl=False) as answer:
                    text = await answer.text()
            except aiohttp.ClientConnectionError:
                return None
            return text if 'workqueue_adds_total{name="replicationmanager"}' in text else None

        text = await eventually(scrape, "metrics", WAIT, POLL)
    assert 'workqueue_depth{name="endpoint"}' in text
    assert 'workqueue_retries_total{name="replicationmanager"}' in text
    adds = next(line for line in text.splitlines()
                if line.startswith('workqueue_adds_total{name="replicationmanager"}'))
    assert float(adds.split()[-1]) >= 1
