"""Deployment benchmark: a Deployment of N replicas on hollow nodes, to Available and through
a rolling update, with every server of the control plane running.

    python bench/deployment.py [--km dist/km.pyz] [--replicas 3000] [--nodes 100]

In one run on this machine:

1. a fresh apiserver on SQLite; ``km hollow-node --nodes NODES`` (pods bound to them go
   Running and Ready at once), ``km scheduler`` and ``km controller-manager --controllers
   deployment,replicaset`` (leader election off), all as processes; wait for the nodes;
2. the apiserver's ``apiserver_request_total`` read from /metrics, then one Deployment of
   REPLICAS created (RollingUpdate 25 %/25 %) and a watch on it until the status shows every
   replica updated, ready and available and Available=True: seconds from the create, pods/s
   end to end (REPLICAS over those seconds), and /metrics read again — the writes (POST PUT
   PATCH DELETE) by resource/subresource divided by REPLICAS;
3. ``set image``'s strategic merge patch of the template, and the watch again until the
   rollout is complete (observedGeneration, updated = available = REPLICAS, old pods gone):
   seconds.

Prints Markdown for docs/benchmarks.md. Not a test: numbers, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.support.hollow import TIMEOUT, hollow_cluster, wait_nodes  # noqa: E402
from servers.client.resources import DEPLOYMENTS, PODS  # noqa: E402
from servers.client.rest import Client  # noqa: E402

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "bench"}
    return {"metadata": {"name": "bench"}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "c", "image": "nginx:1"}]}}}}


async def scrape(url: str) -> Counter[tuple[str, str]]:
    """apiserver_request_total summed by (verb, resource[/subresource])."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as answer:
        text = await answer.text()
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        labels = dict(part.split("=", 1) for part in
                      labels_text[len("apiserver_request_total{"):-1].split(",") if "=" in part)
        labels = {k: v.strip('"') for k, v in labels.items()}
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[(labels.get("verb", ""), resource)] += int(float(value))
    return counts


async def wait_complete(client: Client, replicas: int, generation: int,
                        marks: dict[str, float] | None = None) -> float:
    """Poll the Deployment (20/s is cheap) until complete; the monotonic time it was seen.
    ``marks`` gets the first moments status.replicas and readyReplicas reached ``replicas``
    (every pod created; every pod Ready)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        d = await client.get(DEPLOYMENTS, "bench", "default")
        st = d.get("status") or {}
        if marks is not None:
            for field in ("replicas", "readyReplicas"):
                if st.get(field) == replicas:
                    marks.setdefault(field, time.monotonic())
        available = any(c.get("type") == "Available" and c.get("status") == "True"
                        for c in st.get("conditions") or ())
        if (st.get("observedGeneration", 0) >= generation and available
                and st.get("updatedReplicas") == replicas == st.get("readyReplicas")
                == st.get("availableReplicas") == st.get("replicas")):
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise SystemExit("the Deployment did not complete")


async def measure(url: str, replicas: int, nodes: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with Client(url, request_timeout=60.0) as client:
        await wait_nodes(client, nodes)
        before = await scrape(url)
        started = time.monotonic()
        await client.create(DEPLOYMENTS, deployment(replicas), "default")
        marks: dict[str, float] = {}
        result["create_s"] = await wait_complete(client, replicas, 1, marks) - started
        result["created_s"] = marks.get("replicas", started) - started
        result["ready_s"] = marks.get("readyReplicas", started) - started
        after = await scrape(url)
        result["writes"] = Counter({k: after[k] - before.get(k, 0) for k in after
                                    if k[0] in WRITES and after[k] - before.get(k, 0) > 0})
        result["update_s"] = await roll_out(client, replicas)
    return result


async def roll_out(client: Client, replicas: int) -> float:
    """``set image``'s strategic merge patch of the template; seconds until the rollout is
    complete and every old pod is gone."""
    started = time.monotonic()
    await client.patch(DEPLOYMENTS, "bench", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "nginx:2"}]}}}}, namespace="default",
        patch_type="strategic")
    done = await wait_complete(client, replicas, 2)
    while len((await client.list(PODS, "default"))["items"]) > replicas:
        await asyncio.sleep(0.1)
    return max(done, time.monotonic()) - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=None,
                   help="a built km.pyz (default: the source tree)")
    p.add_argument("--replicas", type=int, default=3000)
    p.add_argument("--nodes", type=int, default=100)
    opts = p.parse_args()
    with hollow_cluster(opts.km, opts.nodes, "deployment,replicaset") as url:
        result = asyncio.run(measure(url, opts.replicas, opts.nodes))
    print_result(opts, result)
    return 0


def print_result(opts: argparse.Namespace, result: dict[str, Any]) -> None:
    n = opts.replicas
    print(f"Deployment of {n} replicas on {opts.nodes} hollow nodes "
          "(scheduler and controller-manager running)\n")
    print("| measure | value |\n|---|---|")
    print(f"| create to Available, all {n} ready | {result['create_s']:.1f} s |")
    print(f"| pods/s end to end | {n / result['create_s']:.0f} |")
    print(f"| create to every pod made (status.replicas) | {result['created_s']:.1f} s |")
    print(f"| create to every pod Ready (status.readyReplicas) | {result['ready_s']:.1f} s |")
    total = sum(result["writes"].values())
    print(f"| apiserver writes per pod | {total / n:.2f} |")
    print(f"| rolling update to a new image, complete | {result['update_s']:.1f} s |")
    print("\n| writes during the create | count | per pod |\n|---|---|---|")
    for (verb, resource), count in sorted(result["writes"].items(), key=lambda kv: -kv[1]):
        print(f"| {verb} {resource} | {count} | {count / n:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
