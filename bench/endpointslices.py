"""EndpointSlice benchmark: one Service over N Ready pods, against a real apiserver.

    python bench/endpointslices.py [--pods 1000] [--max-endpoints-per-slice 100]

1. a fresh apiserver subprocess; N pods created and made Running/Ready with an IP through
   pods/status (as a kubelet would), and one Service selecting them;
2. ``run`` of the controller-manager in-process with ``--controllers endpointslice``: seconds
   from its start until the slices hold N ready endpoints, and the slice writes it made
   (creates, updates, deletes, counted from a watch);
3. one pod made not Ready: seconds until its endpoint says so, and the writes for it (kube's
   reconciler idea: one update of the slice holding it).

Prints Markdown. Not a test: numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from servers.client.resources import ENDPOINTSLICES, PODS, SERVICES  # noqa: E402
from servers.client.rest import Client  # noqa: E402
from servers.controller_manager import server  # noqa: E402
from servers.controller_manager.app import run  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

Obj = dict[str, Any]
TIMEOUT = 600.0


def pod(i: int) -> Obj:
    return {"metadata": {"name": f"p{i}", "labels": {"app": "bench"}}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "x",
                                          "ports": [{"name": "http", "containerPort": 8080}]}]}}


async def set_status(client: Client, i: int, ready: bool) -> None:
    got = await client.get(PODS, f"p{i}", "default")
    ip = f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"
    got["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    await client.update(PODS, got, "status")


async def ready_count(client: Client) -> int:
    items = (await client.list(ENDPOINTSLICES, "default",
                               label_selector="kubernetes.io/service-name=bench"))["items"]
    return sum(1 for s in items for e in s.get("endpoints") or ()
               if e["conditions"].get("ready"))


async def until(check: Any, want: int) -> float:
    start = time.monotonic()
    while await check() != want:
        if time.monotonic() - start > TIMEOUT:
            raise SystemExit("timed out")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def count_writes(client: Client, rv: str, counts: Counter[str]) -> None:
    async for kind, _ in client.watch(ENDPOINTSLICES, "default", resource_version=rv,
                                      allow_bookmarks=False):
        counts[kind] += 1


async def bench(url: str, pods: int, per_slice: int) -> None:
    async with Client(url, request_timeout=30.0) as client:
        sem = asyncio.Semaphore(16)

        async def make(i: int) -> None:
            async with sem:
                await client.create(PODS, pod(i), "default")
                await set_status(client, i, True)

        await asyncio.gather(*(make(i) for i in range(pods)))
        await client.create(SERVICES, {"metadata": {"name": "bench"}, "spec": {
            "selector": {"app": "bench"}, "ports": [{"port": 80, "targetPort": "http"}]}},
            "default")
        rv = (await client.list(ENDPOINTSLICES, "default"))["metadata"]["resourceVersion"]
        counts: Counter[str] = Counter()
        watcher = asyncio.ensure_future(count_writes(client, rv, counts))
        opts = server().make_parser("km controller-manager").parse_args(
            ["--master", url, "--secure-port", "0", "--leader-elect=false",
             "--controllers", "endpointslice", "--max-endpoints-per-slice", str(per_slice)])
        stop = asyncio.Event()
        manager = asyncio.ensure_future(run(opts, stop))
        first = await until(lambda: ready_count(client), pods)
        await asyncio.sleep(1.0)
        initial = dict(counts)
        counts.clear()
        start = time.monotonic()
        await set_status(client, 0, False)
        await until(lambda: ready_count(client), pods - 1)
        one = time.monotonic() - start
        await asyncio.sleep(1.0)
        stop.set()
        await manager
        watcher.cancel()
        print(f"| pods | per slice | to all ready | slice writes | one pod not ready | writes |\n"
              f"|---|---|---|---|---|---|\n"
              f"| {pods} | {per_slice} | {first:.2f} s | {initial} | {one:.3f} s "
              f"| {dict(counts)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--max-endpoints-per-slice", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_apiserver(Path(tmp) / "data") as api:
        asyncio.run(bench(api.url, args.pods, args.max_endpoints_per_slice))


if __name__ == "__main__":
    main()
