"""The scheduler's own cost per pod, A/B: a backlog of pods, then a fresh ``km scheduler``.

    .venv/bin/python bench/scheduler_backlog.py [--nodes 500] [--pods 3000] [--rounds 5]
        [--variant NAME=DIR ...] [--km dist/km.pyz] [--profile DIR]

bench/scheduler.py's backlog case (step 4), made small and repeatable so two versions of the
scheduler can be compared on a shared, noisy machine. One apiserver (``--km``, a built
km.pyz, on SQLite, plain HTTP on loopback) with NODES nodes (4 cpu, 32Gi, 110 pods). Each
round runs every variant once, in an order that alternates between rounds: PODS pods
(100m cpu, 500Mi) created while no scheduler runs, then ``python -m servers.km scheduler``
started from the variant's source tree (``DIR`` holds its ``servers`` package; default: this
tree), until a watch has seen every pod bound; then the pods are deleted (grace 0), so each
run starts from the same cluster.

Per run: **CPU per pod**, the scheduler's CPU seconds (``/proc/PID/stat``) between the first
and the last binding the watch sees, divided by the pods bound in between (start-up and the
informers' first lists left out), and from the first binding until the number of Scheduled
events stops growing (the events written after the last binding included); **pods/s** from
the first binding to the last; the Scheduled events written; the CPU from the scheduler's
start; the apiserver's CPU per pod over the same window (each pod costs it a binding, a
Scheduled event and the watch fan-out). Medians per variant at the end. ``--profile DIR``
runs py-spy (200 Hz) on the first variant's scheduler and on the apiserver in each round:
DIR/round-N.txt and DIR/round-N-apiserver.txt, collapsed stacks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scheduler import node, pod  # noqa: E402
from bench.support.procfs import cpu_seconds  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

WRITERS = 64
BIND_TIMEOUT = 300.0


@dataclass
class Run:
    variant: str
    pods: int
    cpu_per_pod_ms: float  # first to last binding
    cpu_per_pod_all_ms: float  # first binding until the Scheduled events are written
    pods_per_second: float
    cpu_from_start: float
    events: int
    api_cpu_per_pod_ms: float  # the apiserver's, first to last binding


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--nodes", type=int, default=500)
    p.add_argument("--pods", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variant", action="append", metavar="NAME=DIR",
                   help="a source tree to run the scheduler from (default: this one)")
    p.add_argument("--profile", type=Path, metavar="DIR")
    opts = p.parse_args()
    variants = [_variant(v) for v in opts.variant or [f"this={ROOT}"]]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KM_CACHE_DIR": str(Path(tmp) / "cache")}
        with start_apiserver(Path(tmp) / "data", km=opts.km, env=env) as api:
            asyncio.run(create_nodes(api.url, opts.nodes))
            for r in range(opts.rounds):
                order = variants if r % 2 == 0 else variants[::-1]
                for name, tree in order:
                    spy = opts.profile / f"round-{r}.txt" if (
                        opts.profile and name == variants[0][0]) else None
                    run = asyncio.run(one_run(api.url, api.proc.pid, name, tree, opts.pods,
                                              f"r{r}-{name}", spy))
                    runs.append(run)
                    print(f"round {r} {name}: {run.cpu_per_pod_ms:.3f} ms CPU/pod binding, "
                          f"{run.cpu_per_pod_all_ms:.3f} until the events are written, "
                          f"{run.pods_per_second:.0f} pods/s, {run.cpu_from_start:.2f} s CPU "
                          f"from start, {run.events} Scheduled events, apiserver "
                          f"{run.api_cpu_per_pod_ms:.3f} ms CPU/pod", flush=True)
    print("\n| variant | runs | CPU per pod, first to last binding | CPU per pod, until "
          "the events are written | pods/s | Scheduled events written | apiserver CPU per pod |")
    print("|---|---:|---|---|---|---|---|")
    for name, _ in variants:
        mine = [r for r in runs if r.variant == name]
        cells = [_median([getattr(r, a) for r in mine], fmt) for a, fmt in (
            ("cpu_per_pod_ms", "{:.3f} ms"), ("cpu_per_pod_all_ms", "{:.3f} ms"),
            ("pods_per_second", "{:.0f}"), ("events", "{:.0f}"),
            ("api_cpu_per_pod_ms", "{:.3f} ms"))]
        print(f"| {name} | {len(mine)} | {' | '.join(cells)} |")
    return 0


def _median(values: list[float], fmt: str) -> str:
    """``median (min-max)``."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(low)}-{fmt.format(high)})"


def _variant(text: str) -> tuple[str, Path]:
    name, _, tree = text.partition("=")
    return name, Path(tree or ROOT).resolve()


async def create_nodes(url: str, count: int) -> None:
    from servers.client.resources import NODES
    from servers.client.rest import Client

    async with Client(url) as client:
        await _concurrently(count, lambda i: client.create(NODES, node(i)))
        nodes = await client.list(NODES)
        for item in nodes["items"]:  # an apiserver that drops status on create
            if not (item.get("status") or {}).get("allocatable"):
                i = int(item["metadata"]["name"].rsplit("-", 1)[1])
                await client.update(NODES, {**item, "status": node(i)["status"]}, "status")


async def _concurrently(count: int, make: object) -> None:
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await make(i)  # type: ignore[operator]

    await asyncio.gather(*(worker() for _ in range(WRITERS)))


async def one_run(url: str, api_pid: int, variant: str, tree: Path, count: int,
                  namespace: str, profile: Path | None) -> Run:
    """A backlog of ``count`` pods, a scheduler from ``tree``, every pod bound, pods gone."""
    from servers.client.resources import NAMESPACES, PODS
    from servers.client.rest import Client

    async with Client(url, connection_limit=WRITERS + 8) as client:
        if not (await client.list(NAMESPACES, field_selector=f"metadata.name={namespace}")
                )["items"]:
            await client.create(NAMESPACES, {"metadata": {"name": namespace}})
        await _concurrently(count, lambda i: client.create(PODS, pod(namespace, f"p{i}"),
                                                           namespace))
        rv = (await client.list(PODS, namespace, limit=1))["metadata"]["resourceVersion"]
        log = open(os.environ.get("KM_BENCH_LOG", os.devnull), "ab")  # noqa: SIM115
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "servers.km", "scheduler", "--master", url,
             "--secure-port", "0", "--leader-elect=false"],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, stderr=log)
        spies = [_spy(scheduler.pid, profile), _spy(api_pid, profile and profile.with_name(
            f"{profile.stem}-apiserver.txt"))]
        # (time, scheduler CPU, apiserver CPU) at each binding seen; the CPUs read at the
        # first and the last only
        marks: list[tuple[float, float, float]] = []
        try:
            await asyncio.wait_for(_watch(client, namespace, rv, count, scheduler.pid,
                                          api_pid, marks), BIND_TIMEOUT)
            events = await _scheduled_events(client, namespace, count)
            total_cpu = cpu_seconds(scheduler.pid)
        finally:
            for spy in spies:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
            scheduler.terminate()
            scheduler.wait(timeout=30)
            log.close()
        await _concurrently(count, lambda i: client.delete(PODS, f"p{i}", namespace,
                                                           grace_period_seconds=0))
    (t0, c0, a0), (t1, c1, a1) = marks[0], marks[-1]
    per_pod = 1000 / (len(marks) - 1)
    return Run(variant, count, (c1 - c0) * per_pod, (total_cpu - c0) * per_pod,
               (len(marks) - 1) / (t1 - t0), total_cpu, events, (a1 - a0) * per_pod)


async def _scheduled_events(client: object, namespace: str, count: int) -> int:
    """The Scheduled events of the run, once their number stops growing (the recorder
    writes them after the bindings, and drops those its full queue has no room for)."""
    from servers.client.resources import EVENTS

    seen, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        events = await client.list_all(EVENTS, namespace,  # type: ignore[attr-defined]
                                       field_selector="reason=Scheduled")
        if len(events["items"]) in (seen, count):
            return len(events["items"])
        seen = len(events["items"])
        await asyncio.sleep(0.5)
    return seen


def _spy(pid: int, out: Path | None) -> subprocess.Popen[bytes] | None:
    if out is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format",
         "raw", "--rate", "200", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _watch(client: object, namespace: str, rv: str, count: int, pid: int,
                 api_pid: int, marks: list[tuple[float, float, float]]) -> None:
    from servers.client.resources import PODS

    bound: set[str] = set()
    while len(bound) < count:
        async for kind, obj in client.watch(PODS, namespace,  # type: ignore[attr-defined]
                                            resource_version=rv, timeout_seconds=600):
            rv = obj["metadata"]["resourceVersion"]
            if kind not in ("ADDED", "MODIFIED") or not obj["spec"].get("nodeName"):
                continue
            name = obj["metadata"]["name"]
            if name not in bound:
                bound.add(name)
                first_or_last = len(bound) in (1, count)
                marks.append((time.monotonic(), *((cpu_seconds(pid), cpu_seconds(api_pid))
                                                  if first_or_last else (0.0, 0.0))))
                if len(bound) >= count:
                    return


if __name__ == "__main__":
    raise SystemExit(main())
