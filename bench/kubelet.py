"""Kubelet benchmark: pod start-up as the SLO measures it, a burst, and the kubelet's cost.

    python bench/kubelet.py [--km dist/km.pyz] [--pods 100] [--rate 20]

For each isolation (``none``; then ``namespaces`` when run as root) one km.pyz apiserver
(SQLite, plain HTTP on loopback) and one ``km kubelet`` run, and:

1. paced: PODS pods (``sleep 3600``, bound with ``spec.nodeName``) created at RATE pods/s
   (the pod start-up SLO's measurement rate); per pod the time from its create to the
   informer's (a watch's) first sight of phase Running: p50, p99, max;
2. with the PODS pods running: the kubelet's RSS, its CPU while they start and over an idle
   window, and each conmon's RSS (the only process the runtime adds per container); the
   per-pod overhead is the kubelet's RSS growth per pod plus one conmon;
3. all deleted, timed until the watch saw the last one go;
4. burst: PODS pods created at once (32 creates in flight), timed until all are Running.

Then the runtime's own sandbox set-up time per pod (``bench/sandbox.py``'s measure, 20 pods).

Safety: as root the whole run re-executes itself under ``unshare -n``: a fresh network
namespace with only loopback up and no route out, so the pods' bridge, veths and 10.244.x
addresses exist only in there; it ends with the process. Not root: the namespaces part is
skipped with a note. Prints Markdown for docs/benchmarks.md; other processes share the CPU.
``--profile PREFIX`` records the kubelet with py-spy; ``KM_BENCH_TRACE=1`` prints each paced
pod's latency in creation order (a growing queue, or a few slow pods?).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.support import node, procfs  # noqa: E402
from bench.support.procfs import rss_mb  # noqa: E402
from servers.client.informer import Informer  # noqa: E402
from servers.client.resources import PODS  # noqa: E402
from servers.client.rest import Client  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

INSIDE = "KM_BENCH_KUBELET_NETNS"
WAIT = 120.0
IDLE_WINDOW = 10.0


@dataclass
class Figures:
    isolation: str
    latencies: list[float] = field(default_factory=list)
    burst: float = 0.0
    deleted: float = 0.0
    rss_idle: float = 0.0
    rss_pods: float = 0.0
    cpu_start: float = 0.0  # CPU seconds spent while the paced pods started
    cores_idle: float = 0.0  # cores with the pods running, nothing changing
    conmon_rss: list[float] = field(default_factory=list)
    monitor_pss: list[float] = field(default_factory=list)  # RSS less the pages it shares
    load: float = 0.0  # the machine's 1-minute load average after the paced pods ran


# utime + stime of the process and of its waited-for children, in seconds
cpu_seconds = functools.partial(procfs.cpu_seconds, children=True)


def pss_mb(pid: int) -> float:
    """Proportional set size: km's monitors are forks of one server and share most pages."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def conmons(root: str) -> list[int]:
    """The monitors of this kubelet's containers (their command line names the root): conmon,
    or under --isolation none km's own (a Python process, "# km container monitor")."""
    found = []
    servers = {p.read_text() for p in Path(root).glob("monitor-*.sock.pid")}  # not monitors
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry in servers:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        monitor = cmdline[0].endswith(b"conmon") or any(
            part.startswith(b"# km container monitor") for part in cmdline)
        if monitor and any(root.encode() in part for part in cmdline):
            found.append(int(entry))
    return found


def pod(i: int, prefix: str) -> dict[str, Any]:
    return {"metadata": {"name": f"{prefix}{i}"}, "spec": {
        "nodeName": node.NODE, "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


class Watcher:
    """First sight of Running, and deletion, per pod name (an informer: a watch that
    re-lists if it falls behind)."""

    def __init__(self, client: Client) -> None:
        self.running: dict[str, float] = {}
        self.gone: set[str] = set()
        self.changed = asyncio.Event()
        self.informer = Informer(client, PODS, namespace="default")
        self.informer.add_handler(self._seen, lambda old, new: self._seen(new), self._gone)

    def _seen(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if (obj.get("status") or {}).get("phase") == "Running" and name not in self.running:
            self.running[name] = time.monotonic()
            self.changed.set()

    def _gone(self, obj: dict[str, Any]) -> None:
        self.gone.add(obj["metadata"]["name"])
        self.changed.set()

    async def until(self, done: Any, what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not done():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"bench/kubelet.py: timed out waiting for {what}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))


async def drive(url: str, kubelet_pid: int, root: str, count: int, rate: float,
                figures: Figures) -> None:
    async with Client(url) as client:
        await node.node_ready(client)
        await asyncio.sleep(2)
        figures.rss_idle = rss_mb(kubelet_pid)
        watcher = Watcher(client)
        stop = asyncio.Event()
        follower = asyncio.ensure_future(watcher.informer.run(stop))
        await watcher.informer.wait_synced()
        try:
            await paced(client, watcher, kubelet_pid, root, count, rate, figures)
            await burst(client, watcher, count, figures)
        finally:
            stop.set()
            await follower


async def paced(client: Client, watcher: Watcher, kubelet_pid: int, root: str, count: int,
                rate: float, figures: Figures) -> None:
    created: dict[str, float] = {}
    cpu0 = cpu_seconds(kubelet_pid)
    began = time.monotonic()

    async def create(i: int) -> None:
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        created[f"p{i}"] = time.monotonic()
        await client.create(PODS, pod(i, "p"), "default")

    await asyncio.gather(*(create(i) for i in range(count)))
    await watcher.until(lambda: all(f"p{i}" in watcher.running for i in range(count)),
                        "the paced pods to run")
    figures.cpu_start = cpu_seconds(kubelet_pid) - cpu0
    figures.load = os.getloadavg()[0]
    figures.latencies = [watcher.running[n] - t for n, t in created.items()]
    if os.environ.get("KM_BENCH_TRACE"):  # latency in creation order: a queue or one slow pod?
        print(" ".join(f"{(watcher.running[f'p{i}'] - created[f'p{i}']) * 1000:.0f}"
                       for i in range(count)), file=sys.stderr)
    await asyncio.sleep(3)  # let the last status writes and events settle
    cpu1 = cpu_seconds(kubelet_pid)
    await asyncio.sleep(IDLE_WINDOW)
    figures.cores_idle = (cpu_seconds(kubelet_pid) - cpu1) / IDLE_WINDOW
    figures.rss_pods = rss_mb(kubelet_pid)
    figures.conmon_rss = [rss_mb(pid) for pid in conmons(root)]
    figures.monitor_pss = [pss_mb(pid) for pid in conmons(root)]
    figures.deleted = await delete_all(client, watcher, [f"p{i}" for i in range(count)])


async def burst(client: Client, watcher: Watcher, count: int, figures: Figures) -> None:
    names = [f"b{i}" for i in range(count)]
    gate = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        async with gate:
            await client.create(PODS, pod(i, "b"), "default")

    began = time.monotonic()
    await asyncio.gather(*(create(i) for i in range(count)))
    await watcher.until(lambda: all(n in watcher.running for n in names), "the burst to run")
    figures.burst = time.monotonic() - began
    await delete_all(client, watcher, names)


async def delete_all(client: Client, watcher: Watcher, names: list[str]) -> float:
    began = time.monotonic()
    gate = asyncio.Semaphore(32)

    async def delete(name: str) -> None:
        async with gate:
            await client.delete(PODS, name, "default")

    await asyncio.gather(*(delete(n) for n in names))
    await watcher.until(lambda: all(n in watcher.gone for n in names), "the pods to go")
    return time.monotonic() - began


def run_one(km: Path, isolation: str, count: int, rate: float, profile: str) -> Figures:
    figures = Figures(isolation)
    with tempfile.TemporaryDirectory() as name, \
            start_apiserver(Path(name) / "data", km=km) as api:
        tmp = Path(name)
        try:
            with node.kubelet(km, api.url, isolation, tmp) as proc, \
                    profiled(proc.pid, f"{profile}-{isolation}.txt" if profile else ""):
                asyncio.run(drive(api.url, proc.pid, str(tmp / "kubelet"), count, rate,
                                  figures))
        finally:
            complaints = [line for line in (tmp / "kubelet.log").read_text().splitlines()
                          if line[:1] in ("W", "E") or "Traceback" in line]
            if complaints:  # a figure from a kubelet that retried is not the figure
                print(f"kubelet ({isolation}) warned {len(complaints)} times; the first: "
                      f"{complaints[0]}")
    return figures


@contextlib.contextmanager
def profiled(pid: int, into: str) -> Iterator[None]:
    """py-spy's flame graph of process ``pid`` (collapsed stacks) into ``into`` while the
    block runs; nothing when ``into`` is empty."""
    if not into:
        yield
        return
    spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(pid),
                            "--format", "raw", "-o", into],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(rows: list[Figures], count: int, rate: float) -> None:
    print(f"\n{count} pods (`sleep 3600`), paced at {rate:g} pods/s: create → Running seen "
          "by a watch; burst: all created at once, until all Running")
    print("| isolation | p50 | p99 | max | burst of "
          f"{count} | delete all | kubelet RSS idle → {count} pods | RSS per pod | "
          "monitor RSS / PSS | CPU while starting | idle cores with pods | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in rows:
        growth = (f.rss_pods - f.rss_idle) / count
        conmon = statistics.median(f.conmon_rss) if f.conmon_rss else 0.0
        pss = statistics.median(f.monitor_pss) if f.monitor_pss else 0.0
        print(f"| {f.isolation} | {statistics.median(f.latencies) * 1000:.0f} ms | "
              f"{pct(f.latencies, 0.99) * 1000:.0f} ms | {max(f.latencies) * 1000:.0f} ms | "
              f"{f.burst:.1f} s | {f.deleted:.1f} s | {f.rss_idle:.0f} → {f.rss_pods:.0f} MB "
              f"| {growth * 1024:.0f} KiB + monitor | {conmon * 1024:.0f} / {pss * 1024:.0f} KiB "
              f"({len(f.conmon_rss)} monitors) | {f.cpu_start:.1f} s | {f.cores_idle:.3f} | "
              f"{f.load:.1f} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--pods", type=int, default=100)
    p.add_argument("--rate", type=float, default=20.0, help="paced arrival, pods/s")
    p.add_argument("--isolation", choices=("both", "none", "namespaces"), default="both")
    p.add_argument("--profile", default="", metavar="PREFIX",
                   help="py-spy the kubelet (collapsed stacks) into PREFIX-ISOLATION.txt")
    args = p.parse_args()
    code = node.own_network_namespace(INSIDE, __file__)
    if code is not None:
        return code
    rows = [run_one(args.km.resolve(), isolation, args.pods, args.rate, args.profile)
            for isolation in node.isolations(args.isolation, "bench/kubelet.py")]
    report(rows, args.pods, args.rate)
    if os.geteuid() == 0 and args.isolation == "both":
        import sandbox

        sandboxes = [asyncio.run(sandbox.measure(kind)) for kind in ("namespaces", "none")]
        print("\nThe runtime alone (bench/sandbox.py's measure):")
        sandbox.print_table(sandboxes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
