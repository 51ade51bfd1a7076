"""StatefulSet and DaemonSet benchmark on hollow nodes, with every server of the control plane
running as a process.

    python bench/sets.py [--km dist/km.pyz] [--nodes 200] [--replicas 50]

1. a fresh apiserver on SQLite, ``km hollow-node --nodes NODES`` (bound pods go Running and
   Ready at once), ``km scheduler`` and ``km controller-manager --controllers
   statefulset,daemonset``; wait for the nodes;
2. a DaemonSet: seconds from the create until every node's pod is Ready
   (numberReady = desiredNumberScheduled = NODES), then a rolling update of its image with
   maxUnavailable 10 %: seconds until updatedNumberScheduled = numberAvailable = NODES;
3. a StatefulSet of REPLICAS, OrderedReady (one pod at a time, each waiting for the one
   before to be Ready): seconds to readyReplicas = REPLICAS; the same with Parallel.

Prints Markdown for docs/benchmarks.md. Not a test: numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.hollow import TIMEOUT, hollow_cluster, wait_nodes  # noqa: E402
from servers.client.resources import DAEMONSETS, STATEFULSETS  # noqa: E402
from servers.client.rest import Client  # noqa: E402

Obj = dict[str, Any]


def template(app: str, image: str) -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


async def until(client: Client, resource: Any, name: str,
                done: Callable[[Obj], bool]) -> float:
    """Poll the object (20/s) until ``done(status)``; the monotonic time it was seen."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        obj = await client.get(resource, name, "default")
        if done(obj.get("status") or {}):
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise SystemExit(f"{name} did not get there")


async def measure(url: str, nodes: int, replicas: int) -> dict[str, float]:
    result: dict[str, float] = {}
    async with Client(url, request_timeout=60.0) as client:
        await wait_nodes(client, nodes)
        started = time.monotonic()
        await client.create(DAEMONSETS, {"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"rollingUpdate": {"maxUnavailable": "10%"}},
            "template": template("agent", "agent:1")}}, "default")
        result["ds_ready"] = await until(client, DAEMONSETS, "agent", lambda s: s.get(
            "numberReady") == s.get("desiredNumberScheduled") == nodes) - started
        started = time.monotonic()
        await client.patch(DAEMONSETS, "agent", {"spec": {"template": template(
            "agent", "agent:2")}}, namespace="default", patch_type="strategic")
        result["ds_update"] = await until(client, DAEMONSETS, "agent", lambda s: s.get(
            "observedGeneration") == 2 and s.get("updatedNumberScheduled")
            == s.get("numberAvailable") == nodes) - started
        for policy in ("OrderedReady", "Parallel"):
            name = policy.lower()
            started = time.monotonic()
            await client.create(STATEFULSETS, {"metadata": {"name": name}, "spec": {
                "replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                "selector": {"matchLabels": {"app": name}},
                "template": template(name, "db:1")}}, "default")
            result[name] = await until(client, STATEFULSETS, name, lambda s: s.get(
                "readyReplicas") == replicas) - started
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=None,
                   help="a built km.pyz (default: the source tree)")
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--replicas", type=int, default=50)
    opts = p.parse_args()
    with hollow_cluster(opts.km, opts.nodes, "statefulset,daemonset") as url:
        result = asyncio.run(measure(url, opts.nodes, opts.replicas))
    n, r = opts.nodes, opts.replicas
    print(f"DaemonSet on {n} hollow nodes, StatefulSets of {r} (scheduler, controller-manager)\n")
    print("| measure | value |\n|---|---|")
    print(f"| DaemonSet create to {n} pods Ready | {result['ds_ready']:.1f} s |")
    print(f"| DaemonSet rolling update (maxUnavailable 10%) to {n} updated and available "
          f"| {result['ds_update']:.1f} s |")
    print(f"| StatefulSet OrderedReady, {r} pods Ready | {result['orderedready']:.1f} s "
          f"({result['orderedready'] / r * 1000:.0f} ms a pod) |")
    print(f"| StatefulSet Parallel, {r} pods Ready | {result['parallel']:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
