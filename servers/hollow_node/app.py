"""``km hollow-node``: one process registers N fake nodes and plays their kubelet.

    validate flags -> wait for the apiserver -> start the pod informer and the heartbeats
    -> register/adopt the nodes in parallel -> run until SIGTERM
    -> (--delete-nodes-on-exit) delete the nodes and their Leases

What it is for: scale tests of km's control plane, and users testing their own controllers
and schedulers against thousands of nodes on one machine (kubemark's hollow node, KWOK's
design: no kubelet code, no process per pod, only API writes). It runs no process and opens
no port; every address it writes is fake (see ``addresses``). What it is not: a kubelet
(no logs, exec or probes; pods go Running at once and stay so until deleted).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from servers.client.rest import Client
from servers.component.connect import client_config, wait_for_apiserver
from servers.hollow_node import options
from servers.hollow_node.addresses import check_capacity
from servers.hollow_node.fleet import Fleet
from servers.hollow_node.heartbeat import Heartbeats
from servers.hollow_node.kubelet import HollowKubelet
from servers.hollow_node.nodes import NodeShape
from servers.hollow_node.registration import delete_nodes, register_nodes

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = ["run"]

log = logging.getLogger(__name__)

USER_AGENT = "km-hollow-node/0.1"
# Requests in flight: lease renewals, registrations, pod workers and status reports share
# one connection pool; the watch holds one more. Leases: by Little's law 500 renewals/s
# (5,000 nodes every 10 s) need 64 in flight once a write takes 128 ms, which a durable
# SQLite commit on a busy disk does (measured in bench/hollow_node.py: with 32, renewals
# started up to 13 s late while pods were being created).
LEASE_CONCURRENCY = 64
REGISTER_CONCURRENCY = 32
POD_WORKERS = 16
CONNECTIONS = LEASE_CONCURRENCY + REGISTER_CONCURRENCY + POD_WORKERS + LEASE_CONCURRENCY // 4 + 4


def fleet_from_options(opts: argparse.Namespace) -> Fleet:
    """The nodes the flags describe; raises a one-line error when they cannot be."""
    options.validate(opts)
    check_capacity(opts.nodes, opts.max_pods)
    shape = NodeShape(cpu=opts.cpu, memory=opts.memory,
                      ephemeral_storage=opts.ephemeral_storage, max_pods=opts.max_pods,
                      labels=dict(opts.node_labels), kubelet_port=opts.kubelet_port,
                      lease_duration=opts.node_lease_duration_seconds)
    return Fleet(opts.node_prefix, opts.nodes, shape)


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Register the nodes, keep them alive and run their pods until ``stop``."""
    fleet = fleet_from_options(opts)
    client = Client(client_config(opts), connection_limit=CONNECTIONS, user_agent=USER_AGENT)
    async with client:
        if not await wait_for_apiserver(client, stop):
            return 0
        log.info("playing %d nodes %s-0 ... %s-%d at %s; leases renewed every %gs",
                 fleet.count, fleet.prefix, fleet.prefix, fleet.count - 1,
                 client.config.server, opts.node_lease_renew_interval)
        heartbeats = Heartbeats(client, fleet, renew_interval=opts.node_lease_renew_interval,
                                report_frequency=opts.node_status_report_frequency,
                                concurrency=LEASE_CONCURRENCY)
        kubelet = HollowKubelet(client, fleet, workers=POD_WORKERS)
        halt = asyncio.Event()
        loops = [asyncio.ensure_future(kubelet.run(halt)),
                 asyncio.ensure_future(heartbeats.run(halt)),
                 asyncio.ensure_future(_register(client, fleet, heartbeats, halt))]
        try:
            await _until_stop_or_failure(stop, loops)
        finally:
            halt.set()
            results = await asyncio.gather(*loops, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result
        if opts.delete_nodes_on_exit:
            await delete_nodes(client, fleet, concurrency=REGISTER_CONCURRENCY)
        else:
            log.info("stopped; %d nodes stay registered and will go NotReady",
                     len(fleet.uids))
    return 0


async def _register(client: Client, fleet: Fleet, heartbeats: Heartbeats,
                    halt: asyncio.Event) -> None:
    await register_nodes(client, fleet, heartbeats, halt, concurrency=REGISTER_CONCURRENCY)


async def _until_stop_or_failure(stop: asyncio.Event,
                                 loops: Sequence[asyncio.Future[None]]) -> None:
    """Wait for ``stop``; return early when a loop fails (registration may end cleanly)."""
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    pending: set[asyncio.Future[Any]] = {stopper, *loops}
    try:
        while not stop.is_set():
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(not f.cancelled() and f.exception() is not None for f in done):
                return
    finally:
        stopper.cancel()
