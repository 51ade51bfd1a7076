"""Micro-benchmark of the scheduling algorithm alone: scheduler_perf's SchedulingBasic shape.

5,000 nodes (4 cpu, 32Gi, 110 pods) and 10,000 pods (100m cpu, 500Mi), each placed on the
node ``schedule`` picks (as the scheduler's cache assumes it), with the default profile
(adaptive percentageOfNodesToScore: 500 feasible nodes per pod). Prints CPU microseconds
per pod for ``PodInfo.of`` and for ``schedule``, and how evenly the pods were spread.
``--service`` puts the pods behind a Service, so PodTopologySpread's system default
constraints (hostname and zone) score every pod as they do for a Deployment's pods.

    .venv/bin/python bench/scheduler_algo.py [--nodes 5000] [--pods 10000] [--service]
"""

from __future__ import annotations

import argparse
import random
import time

from servers.scheduler.framework import (
    NodeInfo,
    Objects,
    PodInfo,
    Snapshot,
    default_profile,
    schedule,
)

SERVICE = {"metadata": {"name": "bench", "namespace": "default"},
           "spec": {"selector": {"app": "bench"}}}


def make_node(i: int) -> dict:
    name = f"scheduler-perf-{i:05d}"
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"}}}


def make_pod(i: int) -> dict:
    return {"metadata": {"name": f"pod-{i}", "namespace": "default", "uid": f"uid-{i}",
                         "labels": {"app": "bench"}},
            "spec": {"schedulerName": "default-scheduler", "containers": [{
                "name": "pause", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"},
                              "limits": {"cpu": "100m", "memory": "500Mi"}}}]}}


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--service", action="store_true",
                        help="a Service selects the pods (default topology spread scores)")
    args = parser.parse_args()
    lister = Objects(services=[SERVICE]) if args.service else None
    nodes = {n["metadata"]["name"]: NodeInfo(n) for n in map(make_node, range(args.nodes))}
    snapshot = Snapshot(nodes)
    profile = default_profile()
    rng = random.Random(1)
    pods = [make_pod(i) for i in range(args.pods)]

    started = time.process_time()
    infos = [PodInfo.of(p) for p in pods]
    parse = time.process_time() - started

    start_index, evaluated = 0, 0
    started = time.process_time()
    for info in infos:
        result = schedule(profile, info, snapshot, start_index=start_index, rng=rng,
                          lister=lister)
        start_index = result.next_start_index
        evaluated += result.evaluated_nodes
        nodes[result.node_name].add_pod(info)
    took = time.process_time() - started

    counts = sorted(n.pod_count for n in nodes.values())
    print(f"nodes={args.nodes} pods={args.pods} service={args.service}")
    print(f"PodInfo.of: {parse / len(infos) * 1e6:.1f} us/pod")
    print(f"schedule:   {took / len(infos) * 1e6:.1f} us/pod "
          f"({len(infos) / took:.0f} pods/s), {evaluated / len(infos):.0f} nodes evaluated/pod")
    print(f"pods per node: min {counts[0]} max {counts[-1]}")


if __name__ == "__main__":
    main()
