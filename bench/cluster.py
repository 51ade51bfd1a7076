"""Cluster benchmark: pod start-up as Kubernetes' SLO defines it, over many real kubelets.

    python bench/cluster.py [--km dist/km.pyz] [--kubelets 10] [--pods 1000] [--rate 20]
                            [--backend both|sqlite|etcd]

For each storage backend (the embedded SQLite file; a real single-member etcd) one km.pyz
apiserver (plain HTTP on loopback), ``km scheduler`` and KUBELETS ``km kubelet --isolation
none`` processes (nodes bench-0..N-1, every one on 127.0.0.1, pods plain ``sleep 3600``
processes), and:

1. paced: PODS pods created unbound at RATE pods/s (the SLO's measurement rate); the
   scheduler places them, the kubelets run them; per pod the time from its create to a
   watch's first sight of phase Running (kube's pod start-up SLI, image pulls excluded:
   there are none): p50, p99, max — the issue's goal is p99 <= 1 s (the SLO's is 5 s);
2. the write budget of step 1: the apiserver's ``apiserver_request_total`` for every write
   verb, before and after, per pod started, by resource — where the writes go;
3. burst: PODS more pods created at once (32 creates in flight), timed until all run;
4. everything deleted and the kubelets' leftovers removed.

Everything listens on 127.0.0.1 and the pods need no network, so no namespace is made; every
process started here is stopped here. Prints Markdown for docs/benchmarks.md; the machine's
other work shares the CPU (its load average is printed with the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from kubelet import Watcher, pct  # noqa: E402

from servers.client.resources import NODES, PODS  # noqa: E402
from servers.client.rest import Client  # noqa: E402
from tests.support.apiserver import ApiServer, start_apiserver  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402

WRITES = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")
WAIT = 300.0
IN_FLIGHT = 32


@dataclass
class Figures:
    backend: str
    latencies: list[float] = field(default_factory=list)
    burst: float = 0.0
    writes: Counter[str] = field(default_factory=Counter)  # "VERB resource[/sub]" -> count
    load: float = 0.0
    spread: list[int] = field(default_factory=list)  # pods per node after the paced phase


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


def write_counts(api: ApiServer) -> Counter[str]:
    """apiserver_request_total's write verbs by resource (codes summed)."""
    with urllib.request.urlopen(api.url + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in
                      labels_text[len("apiserver_request_total{"):-1].split(","))
        labels = {k: v.strip('"') for k, v in labels.items()}
        if labels.get("verb") not in WRITES:
            continue
        what = labels.get("resource", "")
        if labels.get("subresource"):
            what += "/" + labels["subresource"]
        counts[f"{labels['verb']} {what}"] += int(float(value))
    return counts


@contextlib.contextmanager
def cluster(km: Path, tmp: Path, backend: str, kubelets: int) -> Iterator[ApiServer]:
    etcd = EtcdServer() if backend == "etcd" else None
    procs: list[subprocess.Popen[bytes]] = []
    roots = [str(tmp / f"kubelet-{i}") for i in range(kubelets)]
    try:
        extra: list[str] = []
        if etcd is not None:
            etcd.start()
            extra = ["--storage-backend", "etcd", "--etcd-servers", etcd.endpoint]
        with start_apiserver(tmp / "data", km=km, extra_args=extra) as api:
            def start(name: str, *args: str) -> None:
                with open(tmp / f"{name}.log", "wb") as log:
                    procs.append(subprocess.Popen([str(km), *args, "--master", api.url],
                                                  stdout=subprocess.DEVNULL, stderr=log))

            start("scheduler", "scheduler", "--leader-elect=false", "--secure-port", "0")
            for i, root in enumerate(roots):
                start(f"kubelet-{i}", "kubelet", "--hostname-override", f"bench-{i}",
                      "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port", "0",
                      "--healthz-port", "0", "--isolation", "none", "--root-dir", root)
            try:
                yield api
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
    finally:
        asyncio.run(remove_pods(roots))
        if etcd is not None:
            etcd.stop()


async def remove_pods(roots: list[str]) -> None:
    """What the kubelets left running (pods outlive their kubelet by design)."""
    from servers.kubelet.runtime import open_runtime

    for i, root in enumerate(roots):
        if os.path.isdir(root):
            runtime: Any = open_runtime("none", root, f"bench-{i}", "10.244.0.0/24",
                                        "10.244.0.0/16", "10.96.0.0/12")
            await runtime.remove_all()


async def nodes_ready(client: Client, count: int) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        nodes = (await client.list(NODES))["items"]
        ready = [n for n in nodes if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (n.get("status") or {}).get("conditions") or ())]
        if len(ready) >= count:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"bench/cluster.py: {count} nodes never became Ready")


async def drive(api: ApiServer, figures: Figures, kubelets: int, count: int,
                rate: float) -> None:
    # A loaded apiserver may hold the pool's connections for seconds: wait, do not fail.
    async with Client(api.url, connect_timeout=120.0, request_timeout=120.0) as client:
        await nodes_ready(client, kubelets)
        watcher = Watcher(client)
        stop = asyncio.Event()
        follower = asyncio.ensure_future(watcher.informer.run(stop))
        await watcher.informer.wait_synced()
        try:
            before = write_counts(api)
            await paced(client, watcher, count, rate, figures)
            figures.writes = write_counts(api) - before
            pods = (await client.list(PODS, "default"))["items"]
            figures.spread = sorted(Counter(p["spec"].get("nodeName") for p in pods).values())
            await delete_all(client, watcher, [f"p{i}" for i in range(count)])
            figures.burst = await burst(client, watcher, count)
            await delete_all(client, watcher, [f"b{i}" for i in range(count)])
        finally:
            stop.set()
            await follower


async def until(watcher: Watcher, done: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        watcher.changed.clear()
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench/cluster.py: timed out waiting for {what}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(watcher.changed.wait(), 1.0)


async def paced(client: Client, watcher: Watcher, count: int, rate: float,
                figures: Figures) -> None:
    created: dict[str, float] = {}
    began = time.monotonic()

    async def create(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        created[f"p{i}"] = time.monotonic()
        await client.create(PODS, pod(f"p{i}"), "default")

    await asyncio.gather(*(create(i) for i in range(count)))
    await until(watcher, lambda: all(n in watcher.running for n in created),
                "the paced pods to run")
    figures.load = os.getloadavg()[0]
    figures.latencies = [watcher.running[n] - t for n, t in created.items()]


async def burst(client: Client, watcher: Watcher, count: int) -> float:
    names = [f"b{i}" for i in range(count)]
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def create(name: str) -> None:
        async with gate:
            await client.create(PODS, pod(name), "default")

    began = time.monotonic()
    await asyncio.gather(*(create(n) for n in names))
    await until(watcher, lambda: all(n in watcher.running for n in names), "the burst to run")
    return time.monotonic() - began


async def delete_all(client: Client, watcher: Watcher, names: list[str]) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def delete(name: str) -> None:
        async with gate:
            await client.delete(PODS, name, "default")

    await asyncio.gather(*(delete(n) for n in names))
    await until(watcher, lambda: all(n in watcher.gone for n in names), "the pods to go")


def report(rows: list[Figures], kubelets: int, count: int, rate: float) -> None:
    print(f"\n{count} pods (`sleep 3600`, unbound: the scheduler places them) over {kubelets} "
          f"kubelets (--isolation none), paced at {rate:g} pods/s: create → Running seen by a "
          f"watch; burst: {count} more created at once ({IN_FLIGHT} in flight) until all run")
    print("| backend | p50 | p99 | max | burst of "
          f"{count} | pods per node (min-max) | apiserver writes per pod | load |")
    print("|---|---|---|---|---|---|---|---|")
    for f in rows:
        per_pod = sum(f.writes.values()) / len(f.latencies)
        print(f"| {f.backend} | {pct(f.latencies, 0.5) * 1000:.0f} ms | "
              f"{pct(f.latencies, 0.99) * 1000:.0f} ms | {max(f.latencies) * 1000:.0f} ms | "
              f"{f.burst:.1f} s | {f.spread[0]}-{f.spread[-1]} | {per_pod:.1f} | "
              f"{f.load:.1f} |")
    for f in rows:
        print(f"\nWrites per pod started, {f.backend} (apiserver_request_total over the paced "
              "phase, divided by the pods):")
        print("| verb resource | per pod |")
        print("|---|---:|")
        for what, n in f.writes.most_common():
            print(f"| {what} | {n / len(f.latencies):.2f} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--kubelets", type=int, default=10)
    p.add_argument("--pods", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20.0, help="paced arrival, pods/s")
    p.add_argument("--backend", choices=("both", "sqlite", "etcd"), default="both")
    args = p.parse_args()
    backends = ("sqlite", "etcd") if args.backend == "both" else (args.backend,)
    rows = []
    for backend in backends:
        figures = Figures(backend)
        with tempfile.TemporaryDirectory() as tmp, \
                cluster(args.km.resolve(), Path(tmp), backend, args.kubelets) as api:
            asyncio.run(drive(api, figures, args.kubelets, args.pods, args.rate))
        rows.append(figures)
    report(rows, args.kubelets, args.pods, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
