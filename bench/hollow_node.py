"""Hollow-node benchmark: N fake nodes heartbeating against a km apiserver (SQLite, loopback).

    python bench/hollow_node.py [--nodes 5000] [--interval 10s] [--window 60] [--km dist/km.pyz]

In one run on this machine:

1. a fresh apiserver on SQLite (plain HTTP on loopback); its idle CPU over a short window;
2. ``km hollow-node --nodes N --node-lease-renew-interval INTERVAL --delete-nodes-on-exit``
   started; registration time as the process logs it (list, then create node + lease per
   node, 32 in flight) and the wall time until a list shows N Ready nodes;
3. after one settling interval, window A (nobody else talks to the apiserver): writes per
   second from the resourceVersion's advance (every write is a lease renewal, bar the rare
   status reports), and the CPU of the apiserver and of the hollow-node process from
   /proc/PID/stat (cores: CPU seconds per wall second), the hollow-node's RSS;
4. window B: a watch on kube-node-lease sees every renewal; per lease the gap between
   consecutive renewTimes (max and p99: is each lease renewed within its interval?), and at
   the end the oldest lease of all (now - renewTime); the watch costs the apiserver too, so
   CPU is taken in window A only;
5. pods (``--pods P``, default 5000): P pods created with ``spec.nodeName`` spread over the
   nodes (32 concurrent creates) while a watch waits for each to be Running with a podIP:
   pods/s from the first create to the last Running; then all deleted gracefully (the
   default 30 s grace) and timed until the watch saw the last one go (the hollow kubelet's
   final DELETE, grace 0, uid precondition);
6. SIGTERM: the nodes and leases are deleted (--delete-nodes-on-exit), timed.

Prints Markdown for docs/benchmarks.md. Other processes share the CPU: figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import procfs  # noqa: E402
from bench.support.procfs import rss_mb  # noqa: E402
from servers.apimachinery.errors import Gone  # noqa: E402
from servers.apimachinery.meta import parse_rfc3339  # noqa: E402
from servers.client.informer import Informer  # noqa: E402
from servers.client.resources import LEASES, NODES, PODS  # noqa: E402
from servers.client.rest import Client  # noqa: E402
from servers.component.options import duration  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

REGISTER_TIMEOUT = 900.0


# utime + stime of the process and of its waited-for children, in seconds
cpu_seconds = functools.partial(procfs.cpu_seconds, children=True)


@dataclass
class Figures:
    nodes: int
    interval: float
    idle_api_cores: float = 0.0
    register_logged: str = ""
    register_wall: float = 0.0
    writes_per_s: float = 0.0
    api_cores: float = 0.0
    hollow_cores: float = 0.0
    hollow_rss: float = 0.0
    renewals_seen_per_s: float = 0.0
    gaps: list[float] = field(default_factory=list)
    oldest: float = 0.0
    leases: int = 0
    delete_seconds: float = 0.0
    watch_closed: bool = False
    max_silence: float = 0.0
    late_lines: list[str] = field(default_factory=list)
    pods: int = 0
    pods_running_seconds: float = 0.0
    pods_deleted_seconds: float = 0.0
    pods_api_cores: float = 0.0
    pods_rss: float = 0.0
    pods_hollow_cores: float = 0.0


class Hollow:
    """The hollow-node subprocess; its log lines are collected by a thread."""

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def registered(self) -> str | None:
        return next((line.strip() for line in self.log if "registered" in line), None)

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=300)
        self.reader.join(timeout=10)
        return time.monotonic() - started


async def resource_version(client: Client) -> int:
    listing = await client.list(LEASES, "kube-node-lease", limit=1)
    return int(listing["metadata"]["resourceVersion"])


async def ready_nodes(client: Client) -> int:
    items = (await client.list_all(NODES, page_size=1000))["items"]
    return sum(1 for n in items for c in n["status"].get("conditions") or ()
               if c["type"] == "Ready" and c["status"] == "True")


async def window_a(client: Client, api_pid: int, hollow_pid: int, seconds: float,
                   figures: Figures) -> None:
    rv0, api0, hol0, t0 = (await resource_version(client), cpu_seconds(api_pid),
                           cpu_seconds(hollow_pid), time.monotonic())
    await asyncio.sleep(seconds)
    rv1, api1, hol1, t1 = (await resource_version(client), cpu_seconds(api_pid),
                           cpu_seconds(hollow_pid), time.monotonic())
    wall = t1 - t0
    figures.writes_per_s = (rv1 - rv0) / wall
    figures.api_cores = (api1 - api0) / wall
    figures.hollow_cores = (hol1 - hol0) / wall
    figures.hollow_rss = rss_mb(hollow_pid)


async def window_b(client: Client, seconds: float, figures: Figures) -> None:
    listing = await client.list_all(LEASES, "kube-node-lease", page_size=1000)
    last = {i["metadata"]["name"]: parse_rfc3339(i["spec"]["renewTime"])
            for i in listing["items"]}
    seen = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    watch = client.watch(LEASES, "kube-node-lease",
                         resource_version=listing["metadata"]["resourceVersion"],
                         timeout_seconds=int(seconds) + 30)
    began = loop.time()
    heard: float | None = None
    try:
        async with watch:
            async for kind, lease in watch:
                if kind == "MODIFIED":
                    now = loop.time()
                    figures.max_silence = max(figures.max_silence, now - (heard or now))
                    heard = now
                    name = lease["metadata"]["name"]
                    renewed = parse_rfc3339(lease["spec"]["renewTime"])
                    if name in last:
                        figures.gaps.append((renewed - last[name]).total_seconds())
                    last[name] = renewed
                    seen += 1
                if loop.time() > end:
                    break
    except Gone:  # this watcher fell behind and was closed: the window ends early
        figures.watch_closed = True
    figures.renewals_seen_per_s = seen / (loop.time() - began)
    final = await client.list_all(LEASES, "kube-node-lease", page_size=1000)
    now = datetime.now(timezone.utc)
    figures.leases = len(final["items"])
    figures.oldest = max((now - parse_rfc3339(i["spec"]["renewTime"])).total_seconds()
                         for i in final["items"])


async def measure(url: str, api_pid: int, hollow: Hollow, args: argparse.Namespace,
                  figures: Figures, started: float) -> None:
    async with Client(url, request_timeout=120.0) as client:
        while hollow.registered() is None:
            if hollow.proc.poll() is not None or time.monotonic() - started > REGISTER_TIMEOUT:
                raise SystemExit("hollow-node did not register:\n" + "".join(hollow.log[-20:]))
            await asyncio.sleep(0.2)
        while await ready_nodes(client) < args.nodes:
            await asyncio.sleep(0.5)
        figures.register_wall = time.monotonic() - started
        figures.register_logged = hollow.registered() or ""
        await asyncio.sleep(args.interval)  # settle: every lease renewed at least once
        await window_a(client, api_pid, hollow.proc.pid, args.window, figures)
        await window_b(client, args.window, figures)
        if args.pods:
            pids = (api_pid, hollow.proc.pid)
            cpu0 = [cpu_seconds(pid) for pid in pids]
            await pods_window(client, args.nodes, args.pods, figures, hollow.proc.pid)
            spent = figures.pods_running_seconds + figures.pods_deleted_seconds
            figures.pods_api_cores, figures.pods_hollow_cores = (
                (cpu_seconds(pid) - c) / spent for pid, c in zip(pids, cpu0, strict=True))


WRITERS = 32


async def _in_parallel(count: int, call: object) -> None:
    items = iter(range(count))

    async def worker() -> None:
        for i in items:
            await call(i)  # type: ignore[operator]

    await asyncio.gather(*(worker() for _ in range(WRITERS)))


async def pods_window(client: Client, nodes: int, count: int, figures: Figures,
                      hollow_pid: int) -> None:
    figures.pods = count
    running: set[str] = set()
    gone: set[str] = set()
    all_running, all_gone = asyncio.Event(), asyncio.Event()

    # An informer, not a bare watch: the apiserver closes a watcher that falls behind
    # (410), and the informer re-lists and carries on.
    def seen(pod: dict, *more: dict) -> None:
        pod = more[-1] if more else pod
        if (pod.get("status") or {}).get("podIP"):
            running.add(pod["metadata"]["name"])
            if len(running) >= count:
                all_running.set()

    def deleted(pod: dict) -> None:
        gone.add(pod["metadata"]["name"])
        if len(gone) >= count:
            all_gone.set()

    informer = Informer(client, PODS, namespace="default")
    informer.add_handler(seen, seen, deleted)
    stop = asyncio.Event()
    follower = asyncio.ensure_future(informer.run(stop))
    await informer.wait_synced()

    async def create(i: int) -> None:
        await client.create(PODS, {"metadata": {"name": f"p{i}"}, "spec": {
            "nodeName": f"hollow-{i % nodes}",
            "containers": [{"name": "c", "image": "nginx"}]}}, "default")

    started = time.monotonic()
    await _in_parallel(count, create)
    await asyncio.wait_for(all_running.wait(), REGISTER_TIMEOUT)
    figures.pods_running_seconds = time.monotonic() - started
    figures.pods_rss = rss_mb(hollow_pid)

    async def delete(i: int) -> None:
        await client.delete(PODS, f"p{i}", "default")

    started = time.monotonic()
    await _in_parallel(count, delete)
    await asyncio.wait_for(all_gone.wait(), REGISTER_TIMEOUT)
    figures.pods_deleted_seconds = time.monotonic() - started
    stop.set()
    await follower


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--interval", type=duration, default=10.0)
    p.add_argument("--window", type=float, default=60.0, help="seconds of each window")
    p.add_argument("--pods", type=int, default=5000, help="pods to run and delete (0: none)")
    p.add_argument("--km", type=Path, help="a built km.pyz (default: the source tree)")
    args = p.parse_args()
    figures = Figures(args.nodes, args.interval)
    km = [str(args.km)] if args.km else [sys.executable, "-m", "servers.km"]
    with tempfile.TemporaryDirectory() as tmp, \
            start_apiserver(Path(tmp) / "data", km=args.km) as api:
        assert api.proc is not None
        c0 = cpu_seconds(api.proc.pid)
        time.sleep(5)
        figures.idle_api_cores = (cpu_seconds(api.proc.pid) - c0) / 5
        started = time.monotonic()
        hollow = Hollow([*km, "hollow-node", "--master", api.url, "--nodes", str(args.nodes),
                         "--node-lease-renew-interval", f"{args.interval}s",
                         "--delete-nodes-on-exit"])
        try:
            asyncio.run(measure(api.url, api.proc.pid, hollow, args, figures, started))
        finally:
            figures.delete_seconds = hollow.stop()
            figures.late_lines = [line.split("] ")[-1].strip() for line in hollow.log
                                  if "leases:" in line]
    report(figures)
    return 0


def report(f: Figures) -> None:
    gaps = sorted(f.gaps)
    p99 = gaps[int(len(gaps) * 0.99) - 1] if gaps else 0.0
    late = sum(1 for g in gaps if g > f.interval * 1.5)
    print(f"### {f.nodes} hollow nodes, lease renew interval {f.interval:g}s\n")
    print("| figure | value |\n|---|---|")
    print(f"| registration (logged) | {f.register_logged.split('] ')[-1]} |")
    print(f"| registration until a list shows all Ready | {f.register_wall:.1f} s |")
    print(f"| writes/s (window A, from resourceVersion) | {f.writes_per_s:.0f} "
          f"(ideal {f.nodes / f.interval:.0f}) |")
    closed = " (the watch fell behind and was closed early)" if f.watch_closed else ""
    print(f"| renewals seen by a watch (window B) | {f.renewals_seen_per_s:.0f}/s{closed} |")
    print(f"| gap between renewals of one lease | median "
          f"{statistics.median(gaps) if gaps else 0:.2f} s, p99 {p99:.2f} s, "
          f"max {max(gaps, default=0):.2f} s; {late} of {len(gaps)} over "
          f"{f.interval * 1.5:g} s |")
    print(f"| longest time the watch saw no renewal at all | {f.max_silence:.2f} s |")
    print(f"| oldest lease at the end | {f.oldest:.2f} s ({f.leases} leases) |")
    print(f"| apiserver CPU, idle / with hollow nodes | {f.idle_api_cores:.2f} / "
          f"{f.api_cores:.2f} cores |")
    print(f"| hollow-node CPU, RSS | {f.hollow_cores:.2f} cores, {f.hollow_rss:.0f} MB |")
    if f.pods:
        print(f"| {f.pods} pods created (nodeName set) until all Running | "
              f"{f.pods_running_seconds:.1f} s ({f.pods / f.pods_running_seconds:.0f} pods/s) |")
        print(f"| {f.pods} graceful deletes until all gone | {f.pods_deleted_seconds:.1f} s "
              f"({f.pods / f.pods_deleted_seconds:.0f} pods/s) |")
        print(f"| CPU meanwhile: apiserver, hollow-node | {f.pods_api_cores:.2f}, "
              f"{f.pods_hollow_cores:.2f} cores |")
        print(f"| hollow-node RSS with all pods Running | {f.pods_rss:.0f} MB |")
    print(f"| SIGTERM with --delete-nodes-on-exit | {f.delete_seconds:.1f} s |")
    for line in f.late_lines:
        print(f"\nhollow-node said: {line}")


if __name__ == "__main__":
    raise SystemExit(main())
