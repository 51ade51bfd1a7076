"""Scheduler benchmark: scheduler_perf's SchedulingBasic shape against km's apiserver.

    python bench/scheduler.py [--km dist/km.pyz] [--shape 5000:1000:10000] [--shape 500:500:1000]

For each shape NODES:INIT:MEASURED, in one run on this machine (kube's
test/integration/scheduler_perf, workload SchedulingBasic/5000Nodes_10000Pods):

1. a fresh apiserver on SQLite; NODES nodes created through the API (4 cpu, 32Gi, 110 pods,
   Ready), then ``km scheduler`` (leader election off, no secure port);
2. INIT pods (100m cpu, 500Mi) created and waited for until all are bound (not measured);
3. MEASURED pods created by 64 concurrent writers while a watch records the moment each
   pod's ``spec.nodeName`` is first seen set: pods/s from the first to the last binding, and
   scheduler_perf's 1 s samples (the first sample dropped, empty seconds folded into the
   next; Average and percentiles); per pod, the time from its create being acknowledged to
   its binding being seen (p50, p99); the scheduler's peak RSS and CPU seconds;
4. the backlog: MEASURED more pods created while no scheduler runs, then a fresh scheduler
   started: pods/s from its first binding to its last (only the binding and the Scheduled
   event are written per pod, as the issue's "50 % is the physical limit" assumes), and the
   time from its start (informer lists included);
5. the scheduler stopped, the apiserver's raw binding ceiling in the same run: wrk posting
   ``pods/NAME/binding`` for 2 s at 64 connections from a pool of fresh pods no scheduler
   looks at (bench/bind.lua) — the
   ratio scheduler/ceiling is the figure issue 8 asks for (each scheduled pod also writes its
   Scheduled event, so 50 % is the physical limit of two writes per pod).

With ``--profile DIR``, py-spy samples the scheduler and the apiserver during step 3 and
writes DIR/<shape>-scheduler.txt and -apiserver.txt (collapsed stacks; the top frames by own
time are printed).

Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import wrk  # noqa: E402
from bench.support.procfs import cpu_seconds, rss_mb  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

WRITERS = 64
NODE_CAPACITY = {"cpu": "4", "memory": "32Gi", "pods": "110"}
POD_REQUESTS = {"cpu": "100m", "memory": "500Mi"}
BIND_TIMEOUT = 600.0
CEILING_PODS = 12_000  # unscheduled pods wrk binds for CEILING_SECONDS
CEILING_SECONDS = 2


@dataclass
class Shape:
    nodes: int
    init: int
    measured: int

    @classmethod
    def parse(cls, text: str) -> Shape:
        nodes, init, measured = (int(x) for x in text.split(":"))
        return cls(nodes, init, measured)

    def __str__(self) -> str:
        return f"{self.nodes} nodes, {self.init} placed, {self.measured} measured"


@dataclass
class Result:
    shape: Shape
    pods_per_second: float = 0.0
    samples: list[float] = field(default_factory=list)
    latency_p50: float = 0.0
    latency_p99: float = 0.0
    rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    ceiling: float = 0.0
    node_seconds: float = 0.0
    backlog_rate: float = 0.0
    backlog_from_start: float = 0.0
    backlog_cpu: float = 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--shape", type=Shape.parse, action="append",
                   help="NODES:INIT:MEASURED (default 5000:1000:10000 and 500:500:1000)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy the scheduler and the apiserver while the pods are measured")
    opts = p.parse_args()
    shapes = opts.shape or [Shape(5000, 1000, 10000), Shape(500, 500, 1000)]
    results = []
    for shape in shapes:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_shape(Path(tmp), opts.km, shape, opts.profile))
    print_table(results)
    return 0


def run_shape(tmp: Path, km: Path, shape: Shape, profile: Path | None) -> Result:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp / "cache")}
    result = Result(shape)
    with start_apiserver(tmp / "data", km=km, env=env) as api:
        started = time.monotonic()
        asyncio.run(create_nodes(api.url, shape.nodes))
        result.node_seconds = time.monotonic() - started
        scheduler = start_scheduler(km, api.url, env)
        try:
            asyncio.run(schedule_pods(api.url, "init", shape.init, None))
            cpu_before = cpu_seconds(scheduler.pid)
            with profiling(profile, f"{shape.nodes}-nodes",
                           {"scheduler": scheduler.pid, "apiserver": api.proc.pid}):
                asyncio.run(schedule_pods(api.url, "measure", shape.measured,
                                          (result, scheduler)))
            result.cpu_seconds = cpu_seconds(scheduler.pid) - cpu_before
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=30)
        asyncio.run(backlog(api.url, shape.measured, result,
                            lambda: start_scheduler(km, api.url, env)))
        result.ceiling = binding_ceiling(api.url, shape)
    return result


def start_scheduler(km: Path, url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(km), "scheduler", "--master", url, "--secure-port", "0",
                             "--leader-elect=false"], env=env, stderr=subprocess.DEVNULL)


async def backlog(url: str, count: int, result: Result,
                  start: Callable[[], subprocess.Popen[bytes]]) -> None:
    """MEASURED pods created while no scheduler runs, then a scheduler started: pods/s from
    its first binding to its last, with only the binding and the event written per pod."""
    from servers.client.resources import NAMESPACES, PODS
    from servers.client.rest import Client

    async with Client(url, connection_limit=WRITERS + 8) as client:
        await client.create(NAMESPACES, {"metadata": {"name": "backlog"}})
        await _concurrently(count, lambda i: client.create(PODS, pod("backlog", f"b{i}"),
                                                           "backlog"))
        listed = await client.list(PODS, "backlog", limit=1)
        bound: dict[str, float] = {}
        watcher = asyncio.create_task(_watch_bindings(
            client, "backlog", listed["metadata"]["resourceVersion"], count, bound))
        started = time.monotonic()
        scheduler = start()
        try:
            await asyncio.wait_for(watcher, BIND_TIMEOUT)
            result.backlog_cpu = cpu_seconds(scheduler.pid)
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=30)
    times = sorted(bound.values())
    result.backlog_rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0
    result.backlog_from_start = times[-1] - started if times else 0.0


# -- the cluster -----------------------------------------------------------------------------

def node(i: int) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"node-{i}", "labels": {"kubernetes.io/hostname": f"node-{i}"}},
        "status": {"capacity": NODE_CAPACITY, "allocatable": NODE_CAPACITY,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status"}]},
    }


def pod(namespace: str, name: str, scheduler: str = "default-scheduler") -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"schedulerName": scheduler, "containers": [{
            "name": "pause", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": POD_REQUESTS, "limits": POD_REQUESTS}}]},
    }


async def create_nodes(url: str, count: int) -> None:
    from servers.client.resources import NODES
    from servers.client.rest import Client

    async with Client(url) as client:
        await _concurrently(count, lambda i: _create_node(client, NODES, i))


async def _create_node(client: object, nodes: object, i: int) -> None:
    created = await client.create(nodes, node(i))  # type: ignore[attr-defined]
    if not (created.get("status") or {}).get("allocatable"):
        await client.update(nodes, {**created, "status": node(i)["status"]},  # type: ignore[attr-defined]
                            "status")


async def _concurrently(count: int, make: object, writers: int = WRITERS) -> None:
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await make(i)  # type: ignore[operator]

    await asyncio.gather(*(worker() for _ in range(writers)))


async def schedule_pods(url: str, namespace: str, count: int,
                        measure: tuple[Result, subprocess.Popen[bytes]] | None) -> None:
    """Create ``count`` pods and wait until every one is bound; fill ``measure`` if given."""
    from servers.client.resources import NAMESPACES, PODS
    from servers.client.rest import Client

    # One connection per writer, and one for the watch.
    async with Client(url, connection_limit=WRITERS + 8) as client:
        await client.create(NAMESPACES, {"metadata": {"name": namespace}})
        listed = await client.list(PODS, namespace)
        acked: dict[str, float] = {}
        bound: dict[str, float] = {}
        rss = [0.0]
        watcher = asyncio.create_task(_watch_bindings(
            client, namespace, listed["metadata"]["resourceVersion"], count, bound))
        sampler = asyncio.create_task(_sample_rss(measure[1].pid if measure else 0, rss))

        async def create(i: int) -> None:
            name = f"p{i}"
            await client.create(PODS, pod(namespace, name), namespace)
            acked[name] = time.monotonic()

        await _concurrently(count, create)
        await asyncio.wait_for(watcher, BIND_TIMEOUT)
        sampler.cancel()
    if measure:
        fill(measure[0], acked, bound, rss[0])


async def _watch_bindings(client: object, namespace: str, rv: str, count: int,
                          bound: dict[str, float]) -> None:
    from servers.client.resources import PODS

    while len(bound) < count:
        async for kind, obj in client.watch(PODS, namespace,  # type: ignore[attr-defined]
                                            resource_version=rv, timeout_seconds=600):
            rv = obj["metadata"]["resourceVersion"]
            if kind in ("ADDED", "MODIFIED") and obj["spec"].get("nodeName"):
                bound.setdefault(obj["metadata"]["name"], time.monotonic())
                if len(bound) >= count:
                    return


async def _sample_rss(pid: int, peak: list[float]) -> None:
    while pid:
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.5)


def fill(result: Result, acked: dict[str, float], bound: dict[str, float], rss: float) -> None:
    times = sorted(bound.values())
    result.pods_per_second = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0
    result.samples = throughput_samples(times)
    latencies = sorted(bound[name] - acked[name] for name in bound if name in acked)
    result.latency_p50 = percentile(latencies, 50)
    result.latency_p99 = percentile(latencies, 99)
    result.rss_mb = rss


def throughput_samples(times: list[float]) -> list[float]:
    """scheduler_perf's SchedulingThroughput: 1 s samples from the first binding, the first
    sample dropped, a second with no binding folded into the next sample."""
    if not times:
        return []
    start, samples, pending, width = times[0], [], 0, 1
    buckets: dict[int, int] = {}
    for t in times:
        buckets[int(t - start)] = buckets.get(int(t - start), 0) + 1
    for second in range(max(buckets) + 1):
        pending += buckets.get(second, 0)
        if pending == 0:
            width += 1
            continue
        samples.append(pending / width)
        pending, width = 0, 1
    return samples[1:]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# -- the ceiling -----------------------------------------------------------------------------

def binding_ceiling(url: str, shape: Shape) -> float:
    """Bindings/s the apiserver takes from wrk for pods no scheduler looks at."""

    async def unscheduled() -> None:
        from servers.client.resources import NAMESPACES, PODS
        from servers.client.rest import Client

        async with Client(url) as client:
            await client.create(NAMESPACES, {"metadata": {"name": "ceiling"}})
            await _concurrently(CEILING_PODS, lambda i: client.create(
                PODS, pod("ceiling", f"c{i}", scheduler="nobody"), "ceiling"))

    asyncio.run(unscheduled())
    # wrk runs for a time, not a count: the pool must outlast it (a few thousand binds/s).
    run = wrk(f"{url}/api/v1/namespaces/ceiling/pods", WRITERS, CEILING_SECONDS, "bind.lua",
              "c", str(CEILING_PODS), str(shape.nodes))
    return (run["requests"] - run["non2xx"]) / run["seconds"]


# -- where the time goes ---------------------------------------------------------------------

@contextlib.contextmanager
def profiling(out: Path | None, label: str, pids: dict[str, int]) -> Iterator[None]:
    """py-spy on each pid while the block runs; collapsed stacks to OUT/LABEL-NAME.txt."""
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    spies = {name: subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
         "--format", "raw", "--rate", "200", "--nonblocking",
         "--output", str(out / f"{label}-{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()}
    try:
        yield
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)
        for name, spy in spies.items():
            spy.wait(timeout=60)
            print(f"\n{label} {name}: top frames by own samples")
            for frame, share in top_frames(out / f"{label}-{name}.txt"):
                print(f"  {share:5.1%}  {frame}")


def top_frames(collapsed: Path, count: int = 15) -> list[tuple[str, float]]:
    """The leaf frames with the most samples in a py-spy raw (collapsed) profile."""
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        own[leaf] = own.get(leaf, 0) + int(samples)
        total += int(samples)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    return [(frame, n / total) for frame, n in ranked] if total else []


def print_table(results: list[Result]) -> None:
    print("| shape | pods/s (first to last bind) | 1 s samples avg / p50 / p90 / p99 | "
          "bind ceiling /s | ratio | pod latency p50 / p99 | scheduler RSS | scheduler CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        s = sorted(r.samples)
        avg = statistics.fmean(s) if s else 0.0
        cells = " / ".join(f"{x:.0f}" for x in (avg, percentile(s, 50), percentile(s, 90),
                                                  percentile(s, 99)))
        ratio = r.pods_per_second / r.ceiling if r.ceiling else 0.0
        print(f"| {r.shape} | {r.pods_per_second:.0f} | {cells} | {r.ceiling:.0f} | "
              f"{ratio:.0%} | {r.latency_p50 * 1000:.0f} ms / {r.latency_p99 * 1000:.0f} ms | "
              f"{r.rss_mb:.0f} MB | {r.cpu_seconds:.1f} s |")
    print("\n| shape | backlog: pods/s first to last bind | ratio to ceiling | "
          "scheduler start to last bind | scheduler CPU (start included) |")
    print("|---|---|---|---|---|")
    for r in results:
        ratio = r.backlog_rate / r.ceiling if r.ceiling else 0.0
        print(f"| {r.shape} | {r.backlog_rate:.0f} | {ratio:.0%} | "
              f"{r.backlog_from_start:.1f} s | {r.backlog_cpu:.1f} s |")
    for r in results:
        print(f"\n{r.shape}: nodes created in {r.node_seconds:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main())
