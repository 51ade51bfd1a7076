"""``km cleanup``: stop km's node servers and remove what they made, as k3s-killall.sh does.

    for each --dir with a km-node.json (record.py):
        the recorded server (pid + start time) and its children's process groups
        its pods, through the kubelet runtime's own idempotent removal (remove_all: containers,
            monitors, network namespaces, veths, cgroups, mounts, pins, the node bridge)
        what is left of the node: mounts, netns, cgroups (and processes in them), /run/km/KEY,
            its nftables tables
    then, in this network namespace: km's links (kmb*, kmv*), km's nftables tables, and the
        ``unreachable`` cluster-CIDR routes once no km bridge is left.

Steps are planned from what exists, then run in order; one that fails is said in one line
and the others still run (exit 1 at the end). --dry-run prints the plan only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import TYPE_CHECKING

from servers.cleanup import host, processes, record
from servers.cleanup.options import dirs
from servers.kubelet.runtime.errors import RuntimeFailure
from servers.kubelet.runtime.names import BRIDGE_PREFIX, for_node

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from servers.cleanup.record import NodeRecord

log = logging.getLogger(__name__)

NEEDS_ROOT = "km cleanup of an --isolation namespaces node needs root"


class CleanupError(Exception):
    """Some steps failed (one line; each was logged)."""


async def plan_node(rec: NodeRecord, grace: float) -> list[host.Step]:
    """The steps for one recorded node, from what exists now."""
    steps: list[host.Step] = []
    if processes.running(rec):
        steps.append(host.Step(f"km server pid {rec.pid} (node {rec.node}) and its children",
                               _stop(rec, grace)))
    root = rec.kubelet_root
    pods = _count(root, "sandboxes") + _count(root, "containers")
    if pods:
        steps.append(host.Step(
            f"pods of node {rec.node}: {_count(root, 'sandboxes')} sandboxes, "
            f"{_count(root, 'containers')} containers in {root}", _remove_pods(rec)))
    return steps


async def plan_leftovers(rec: NodeRecord) -> list[host.Step]:
    """What the node's runtime did not remove (or that no record listed any more)."""
    names = for_node(rec.node)
    steps = host.find_node(names, rec.kubelet_root, rec.node)
    from servers.kubelet.linux.hostports import table_name as hostports_table
    from servers.proxy.nftables.ruleset import table_name as proxy_table

    steps += await host.find_tables([proxy_table(rec.node), hostports_table(rec.node)])
    steps += await host.find_links((names.bridge,))
    return steps


async def plan_sweep(cluster_cidrs: list[str]) -> list[host.Step]:
    """km's objects in this network namespace, whichever node made them."""
    links = await host.find_links((BRIDGE_PREFIX, host.VETH_PREFIX))
    steps = links + await host.find_tables(None)
    return steps + await host.find_routes(cluster_cidrs, links_left=False)


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Plan and run (or list) every step; CleanupError when some failed."""
    records = _records(dirs(opts), explicit=bool(opts.dir))
    failed = done = 0
    for rec in records:
        if rec.isolation == "namespaces" and os.geteuid() != 0:
            raise CleanupError(NEEDS_ROOT)
    phases: list[Callable[[], Awaitable[list[host.Step]]]] = [
        *(functools.partial(plan_node, r, opts.grace) for r in records),
        *(functools.partial(plan_leftovers, r) for r in records),
        functools.partial(plan_sweep, [r.cluster_cidr for r in records])]
    seen: set[str] = set()  # a dry run finds again in the sweep what a node's steps named
    for phase in phases:
        for step in await phase():
            if step.what in seen:
                continue
            seen.add(step.what)
            if opts.dry_run:
                print(f"would remove {step.what}", flush=True)
                continue
            try:
                await step.do()
            except (OSError, RuntimeFailure, ValueError) as exc:  # each step's own failure
                log.error("could not remove %s: %s", step.what, exc)
                failed += 1
                continue
            print(f"removed {step.what}", flush=True)
            done += 1
    if failed:
        msg = f"{failed} of {failed + done} steps failed"
        raise CleanupError(msg)
    if not done and not opts.dry_run:
        print("nothing of km's found", flush=True)
    return 0


def _records(folders: list[str], *, explicit: bool) -> list[NodeRecord]:
    found = []
    for folder in folders:
        rec = record.read(folder)
        if rec is None:
            if explicit:
                log.warning("no km node record (%s) in %s", record.FILE, folder)
            continue
        found.append(rec)
    return found


def _count(root: str, kind: str) -> int:
    try:
        return sum(1 for e in os.scandir(os.path.join(root, kind)) if e.is_dir())
    except OSError:
        return 0


def _stop(rec: NodeRecord, grace: float) -> Callable[[], Awaitable[object]]:
    async def stop_server() -> None:
        killed = await asyncio.get_running_loop().run_in_executor(
            None, processes.stop, rec, grace)
        if killed:
            log.warning("had to SIGKILL %s", ", ".join(killed))

    return stop_server


def _remove_pods(rec: NodeRecord) -> Callable[[], Awaitable[object]]:
    async def remove() -> None:
        from servers.kubelet.runtime.base import MonitoredRuntime

        runtime: MonitoredRuntime
        if rec.isolation == "namespaces":
            from servers.kubelet.runtime.oci import NamespacesRuntime

            runtime = NamespacesRuntime(rec.kubelet_root, rec.node, "", rec.cluster_cidr,
                                        rec.service_cidr)
        else:
            from servers.kubelet.runtime.process import ProcessRuntime

            runtime = ProcessRuntime(rec.kubelet_root, rec.node)
        await runtime.remove_all()

    return remove
