"""API benchmark: km's apiserver on SQLite and on etcd, beside a bare-handler ceiling.

    python bench/api.py [--km dist/km.pyz] [--seconds 10] [--watch-writes 10000]

In one run, with one load generator (wrk, one thread) on this machine:
- durable pod creates per second at 1, 16 and 64 connections: the bare aiohttp+SQLite
  handler (bench/bare_server.py: km's storage with the same group commit, nothing else),
  km on SQLite, km on etcd;
- gets and lists (100 pods) per second at 16 connections, on both backends;
- watch fan-out: 100 watchers, N creates from 16 concurrent writers; delivery latency from
  the moment a create was sent to the moment each watcher has the event (p50/p99), and
  the number of events lost (must be 0).
Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.apiserver import start_apiserver  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402

BENCH = Path(__file__).resolve().parent
CONCURRENCY = (1, 16, 64)
SENT = re.compile(rb'"sent":"([0-9.]+)"')


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--watchers", type=int, default=100)
    p.add_argument("--watch-writes", type=int, default=10000)
    opts = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(Path(tmp), opts)
    print_tables(results, opts)
    return 0


def run_all(tmp: Path, opts: argparse.Namespace) -> dict[str, dict[str, object]]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp / "cache")}
    results: dict[str, dict[str, object]] = {}
    results["bare"] = {"creates": bare_creates(tmp, opts.seconds)}
    with start_apiserver(tmp / "sqlite", km=opts.km, env=env) as api:
        results["km sqlite"] = measure_api(api.url, opts)
    with EtcdServer() as etcd, start_apiserver(
            tmp / "unused", km=opts.km, env=env,
            extra_args=["--storage-backend", "etcd", "--etcd-servers", etcd.endpoint]) as api:
        results["km etcd"] = measure_api(api.url, opts)
    return results


def measure_api(url: str, opts: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {"creates": creates(url, opts.seconds)}
    asyncio.run(setup_reads(url))
    pod = f"{url}/api/v1/namespaces/bench-list/pods/p0"
    out["gets"] = wrk(pod, 16, opts.seconds, "read.lua")
    out["lists"] = wrk(f"{url}/api/v1/namespaces/bench-list/pods", 16, opts.seconds, "read.lua")
    out["watch"] = asyncio.run(fan_out(url, opts.watchers, opts.watch_writes))
    return out


def creates(url: str, seconds: int) -> dict[int, dict[str, float]]:
    path = f"{url}/api/v1/namespaces/default/pods"
    return {c: wrk(path, c, seconds, "create.lua", uuid.uuid4().hex[:8]) for c in CONCURRENCY}


def bare_creates(tmp: Path, seconds: int) -> dict[int, dict[str, float]]:
    proc = subprocess.Popen([sys.executable, str(BENCH / "bare_server.py"), str(tmp / "bare")],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"serving on (\S+)", line)
        if not match:
            raise SystemExit(f"bench: bare server did not start: {line}")
        return creates(match.group(1), seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def wrk(url: str, connections: int, seconds: int, script: str, *args: str,
        wrk_args: tuple[str, ...] | list[str] = ()) -> dict[str, float]:
    """One wrk run; ``args`` go to the Lua script, ``wrk_args`` to wrk (e.g. ``-H``)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *wrk_args, "-s",
           str(BENCH / script), url]
    if args:
        cmd += ["--", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                          env={**os.environ, "BENCH_DIR": str(BENCH)})
    line = next((x for x in done.stdout.splitlines() if x.startswith("JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed: {done.stderr or done.stdout}")
    result: dict[str, float] = json.loads(line[5:])
    result["per_second"] = result["requests"] / result["seconds"]
    return result


async def setup_reads(url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        await s.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": "bench-list"}})
        for i in range(100):
            body = {"metadata": {"name": f"p{i}"},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
            async with s.post(f"{url}/api/v1/namespaces/bench-list/pods", json=body) as r:
                assert r.status == 201, await r.text()


async def fan_out(url: str, watchers: int, writes: int) -> dict[str, float]:
    import aiohttp

    ns = f"fanout-{uuid.uuid4().hex[:6]}"
    pods = f"{url}/api/v1/namespaces/{ns}/pods"
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=0)) as s:
        async with s.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": ns}}) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        streams = [await s.get(f"{pods}?watch=true&resourceVersion={rv}")
                   for _ in range(watchers)]
        readers = [asyncio.create_task(_read(stream, writes, latencies)) for stream in streams]
        started = time.perf_counter()
        await _write(s, pods, writes)
        write_seconds = time.perf_counter() - started
        counts = await asyncio.wait_for(asyncio.gather(*readers), timeout=600)
        for stream in streams:
            stream.close()
    latencies.sort()
    return {"watchers": watchers, "writes": writes, "write_seconds": write_seconds,
            "lost": watchers * writes - sum(counts),
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0}


async def _read(stream: object, expected: int, latencies: list[float]) -> int:
    seen = 0
    content = stream.content  # type: ignore[attr-defined]
    while seen < expected:
        line = await content.readline()
        if not line:
            break
        match = SENT.search(line)
        if match:
            latencies.append(time.time() - float(match.group(1)))
            seen += 1
    return seen


async def _write(session: object, pods: str, writes: int) -> None:
    queue = iter(range(writes))

    async def writer() -> None:
        for i in queue:
            body = {"metadata": {"name": f"w{i}", "annotations": {"sent": repr(time.time())}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
            async with session.post(pods, json=body) as r:  # type: ignore[attr-defined]
                assert r.status == 201, await r.text()

    await asyncio.gather(*(writer() for _ in range(16)))


def print_tables(results: dict[str, dict[str, object]], opts: argparse.Namespace) -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, wrk -t1, "
          f"{opts.seconds} s per cell\n")
    print("| durable pod creates | " + " | ".join(f"{c} conn: /s (p50, p99 ms)"
                                                 for c in CONCURRENCY) + " |")
    print("|---|" + "---:|" * len(CONCURRENCY))
    for name, res in results.items():
        cells = []
        for c in CONCURRENCY:
            r = res["creates"][c]  # type: ignore[index]
            bad = f", {r['non2xx']:.0f} non-2xx" if r["non2xx"] else ""
            cells.append(f"{r['per_second']:.0f} ({r['p50_ms']:.1f}, {r['p99_ms']:.1f}{bad})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    ceiling = results["bare"]["creates"][64]["per_second"]  # type: ignore[index]
    for name in ("km sqlite", "km etcd"):
        share = results[name]["creates"][64]["per_second"] / ceiling  # type: ignore[index]
        print(f"\n{name}: {share:.0%} of the bare ceiling at 64 connections", end="")
    print("\n\n| reads, 16 conn | gets/s (p50, p99 ms) | lists of 100 pods/s (p50, p99 ms) |")
    print("|---|---:|---:|")
    for name in ("km sqlite", "km etcd"):
        g, li = results[name]["gets"], results[name]["lists"]  # type: ignore[index]
        print(f"| {name} | {g['per_second']:.0f} ({g['p50_ms']:.1f}, {g['p99_ms']:.1f}) | "
              f"{li['per_second']:.0f} ({li['p50_ms']:.1f}, {li['p99_ms']:.1f}) |")
    print("\n| watch fan-out | watchers | writes | write time s | p50 ms | p99 ms | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("km sqlite", "km etcd"):
        w = results[name]["watch"]  # type: ignore[index]
        print(f"| {name} | {w['watchers']} | {w['writes']} | {w['write_seconds']:.1f} | "
              f"{w['p50_ms']:.1f} | {w['p99_ms']:.1f} | {w['lost']} |")


if __name__ == "__main__":
    sys.exit(main())
