"""Registering hollow nodes, in parallel, and adopting the ones an earlier run left.

First one paged list of Nodes and one of Leases in kube-node-lease tell which nodes exist;
then a few dozen workers go through the names: a missing node is created with its whole
status (as the kubelet's ``registerWithAPIServer`` does), an existing one is adopted (the
kubelet's path after AlreadyExists: its default labels and ``--node-labels`` patched in when
missing, then its status posted afresh, so a node left NotReady is Ready again and keeps the
transition times of conditions that did not change). Then its Lease is created or taken
over and its heartbeats start. Unreachable apiservers and 5xx answers are retried with
backoff; any other refusal (an invalid node, 403) ends the run with that one-line error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from servers.apimachinery.errors import AlreadyExists, NotFound, StatusError
from servers.client.errors import ApiUnavailable
from servers.client.informer import Backoff
from servers.client.resources import LEASES, NODES
from servers.hollow_node.nodes import (
    LEASE_NAMESPACE,
    node_labels,
    node_object,
    status,
    transitions,
)

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.resources import ResourceRef
    from servers.client.rest import Client
    from servers.hollow_node.fleet import Fleet
    from servers.hollow_node.heartbeat import Heartbeats

__all__ = ["delete_nodes", "register_nodes"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Stopped(Exception):
    """Stop was set while waiting to retry."""


async def _listed(client: Client, fleet: Fleet, resource: ResourceRef,
                  namespace: str | None) -> dict[str, Obj]:
    listing = await client.list_all(resource, namespace)
    return {item["metadata"]["name"]: item for item in listing.get("items") or ()
            if fleet.index(item["metadata"]["name"]) is not None}


async def register_nodes(client: Client, fleet: Fleet, heartbeats: Heartbeats,
                         stop: asyncio.Event, *, concurrency: int = 32) -> int:
    """Register (or adopt) every node of ``fleet``; returns how many were adopted.

    Returns early when ``stop`` is set.
    """
    started = time.monotonic()
    try:
        nodes = await _retrying(stop, lambda: _listed(client, fleet, NODES, None))
        leases = await _retrying(stop, lambda: _listed(client, fleet, LEASES, LEASE_NAMESPACE))
    except _Stopped:
        return 0
    names = iter(fleet.names())

    async def worker() -> None:
        for name in _until(names, stop):
            step = functools.partial(_register, client, fleet, heartbeats, name,
                                     nodes.get(name), leases.get(name))
            try:
                await _retrying(stop, step)
            except _Stopped:
                return
            heartbeats.start(name)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, fleet.count)))))
    adopted = sum(1 for name in nodes if name in fleet.uids)
    log.info("registered %d nodes (%d adopted) in %.1fs", len(fleet.uids), adopted,
             time.monotonic() - started)
    return adopted


def _until(names: Iterator[str], stop: asyncio.Event) -> Iterator[str]:
    for name in names:
        if stop.is_set():
            return
        yield name


async def _register(client: Client, fleet: Fleet, heartbeats: Heartbeats, name: str,
                    node: Obj | None, lease: Obj | None) -> None:
    index = fleet.index(name)
    assert index is not None
    if node is None:
        try:
            node = await client.create(NODES, node_object(name, index, fleet.shape))
            fleet.since[name] = transitions(node)
        except AlreadyExists:
            node = await client.get(NODES, name)
    if name not in fleet.since:  # adopted: bring labels and status up to date
        node = await _adopt(client, fleet, name, index, node)
    fleet.uids[name] = node["metadata"]["uid"]
    await heartbeats.ensure_lease(name, lease)


async def _adopt(client: Client, fleet: Fleet, name: str, index: int, node: Obj) -> Obj:
    labels = node_labels(name, fleet.shape)
    have = (node.get("metadata") or {}).get("labels") or {}
    if any(have.get(k) != v for k, v in labels.items()):
        node = await client.patch(NODES, name, {"metadata": {"labels": labels}})
    since = transitions(node)
    node = await client.patch(NODES, name, {"status": status(name, index, fleet.shape,
                                                             since=since)},
                              patch_type="strategic", subresource="status")
    fleet.since[name] = since
    return node


async def _retrying(stop: asyncio.Event, call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` until it succeeds, retrying what may pass (unreachable, 5xx, 429).

    Raises ``_Stopped`` when ``stop`` is set while waiting, the API's other errors at once.
    """
    backoff = Backoff(initial=0.2, cap=7.0)
    while True:
        try:
            return await call()
        except (ApiUnavailable, StatusError) as exc:
            if isinstance(exc, StatusError) and exc.code < 500 and exc.code != 429:
                raise
            delay = backoff.next()
            log.info("registration: %s; retrying in %.1fs", exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                continue
            raise _Stopped from exc


async def delete_nodes(client: Client, fleet: Fleet, *, concurrency: int = 32) -> int:
    """Delete the registered nodes and their Leases (``--delete-nodes-on-exit``)."""
    names = iter(list(fleet.uids))
    deleted = 0

    async def worker() -> None:
        nonlocal deleted
        for name in names:
            for resource, namespace in ((LEASES, LEASE_NAMESPACE), (NODES, None)):
                with contextlib.suppress(NotFound):
                    await client.delete(resource, name, namespace)
            deleted += 1

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(fleet.uids))))))
    log.info("deleted %d nodes", deleted)
    return deleted
