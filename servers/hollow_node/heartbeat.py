"""Heartbeats of hollow nodes: Lease renewals and the rare node status report.

With node leases (kubernetes ``pkg/kubelet/nodelease``, component-helpers ``lease/controller.go``)
a kubelet's heartbeat is a PUT of its Lease with a new ``renewTime`` every renew interval
(10 s, a quarter of the 40 s duration), from the copy it wrote last; on a conflict it reads
the Lease again, on NotFound it creates it. Node status, which carries the conditions'
``lastHeartbeatTime``, is posted only on change or every ``nodeStatusReportFrequency``
(5 min). Both run here through ``Spread``: every node at its own slot of the period, a few
dozen requests in flight, failures retried after a short backoff. Ordinary Lease updates:
no km-only endpoint, so the apiserver pays what it pays for real kubelets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from servers.apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.resources import LEASES, NODES
from servers.hollow_node._logs import Throttled
from servers.hollow_node.nodes import LEASE_NAMESPACE, lease_object, micro_time, status_patch
from servers.hollow_node.spread import Spread

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.rest import Client
    from servers.hollow_node.fleet import Fleet

__all__ = ["Heartbeats"]

log = logging.getLogger(__name__)

_ATTEMPTS = 3  # writes of one Lease at registration before its conflicts are an error


class Heartbeats:
    """Keeps every registered node's Lease fresh and reports its status now and then."""

    def __init__(self, client: Client, fleet: Fleet, *, renew_interval: float,
                 report_frequency: float, concurrency: int = 32) -> None:
        self.client = client
        self.fleet = fleet
        self.leases: dict[str, Obj] = {}   # the Lease as last written, per node
        self.renewals = Spread(renew_interval, self.renew, slots=fleet.count,
                               concurrency=concurrency)
        self.reports = Spread(report_frequency, self.report, slots=fleet.count,
                              concurrency=max(1, concurrency // 4))
        self._warn = Throttled(log)

    def start(self, name: str) -> None:
        """Begin heartbeats for a registered node (its Lease is in ``leases``)."""
        index = self.fleet.index(name) or 0
        self.renewals.add(name, index)
        self.reports.add(name, index)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self.renewals.run(stop), self.reports.run(stop),
                             self._summaries(stop))

    async def _summaries(self, stop: asyncio.Event) -> None:
        """Now and then, one line on how the renewals went: INFO when some were late or
        failed (a slow or unreachable apiserver), DEBUG otherwise."""
        loop = asyncio.get_running_loop()
        every = max(60.0, 6 * self.renewals.period)
        while not stop.is_set():
            began = loop.time()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            stats = self.renewals.take_stats()
            late = stats.max_delay > self.renewals.period / 4
            log.log(logging.INFO if late or stats.failed else logging.DEBUG,
                    "leases: %d renewed (%.0f/s), %d failed, started up to %.1fs late",
                    stats.done, stats.done / max(loop.time() - began, 1e-3), stats.failed,
                    stats.max_delay)

    async def ensure_lease(self, name: str, found: Obj | None) -> None:
        """Create the node's Lease, or take over ``found`` (a Lease left by an earlier run).

        ``found`` may be stale (listed a while ago): a conflict re-reads it, a Lease gone
        meanwhile is created. Raises the API's other errors (registration retries them).
        """
        fresh = lease_object(name, self.fleet.uids[name], self.fleet.shape)
        for _ in range(_ATTEMPTS - 1):
            try:
                if found is None:
                    self.leases[name] = await self.client.create(LEASES, fresh,
                                                                 LEASE_NAMESPACE)
                else:
                    self.leases[name] = await self._put(found, fresh)
                return
            except (AlreadyExists, Conflict):
                found = await self.client.get(LEASES, name, LEASE_NAMESPACE)
            except NotFound:
                found = None
        self.leases[name] = await self._put(
            await self.client.get(LEASES, name, LEASE_NAMESPACE), fresh)

    async def _put(self, current: Obj, fresh: Obj) -> Obj:
        """Update ``current`` to ``fresh``'s spec and owner, on ``current``'s resourceVersion."""
        body = {**current, "metadata": {**current["metadata"],
                                        "ownerReferences": fresh["metadata"]["ownerReferences"]},
                "spec": {**(current.get("spec") or {}), **fresh["spec"]}}
        return await self.client.update(LEASES, body)

    async def renew(self, name: str) -> bool:
        """One renewal (a Spread action): PUT from the cached Lease; re-read on conflict."""
        lease = self.leases.get(name)
        if lease is None:
            return False
        spec = {**lease["spec"], "renewTime": micro_time()}
        try:
            try:
                self.leases[name] = await self.client.update(LEASES, {**lease, "spec": spec})
            except Conflict:
                current = await self.client.get(LEASES, name, LEASE_NAMESPACE)
                self.leases[name] = await self._put(current, {**lease, "spec": spec})
            except NotFound:
                fresh = lease_object(name, self.fleet.uids[name], self.fleet.shape)
                self.leases[name] = await self.client.create(LEASES, fresh, LEASE_NAMESPACE)
        except (StatusError, ClientError) as exc:
            self._warn.warning("renewing the lease of %s: %s", name, exc)
            return False
        return True

    async def report(self, name: str) -> bool:
        """One node status report (a Spread action): the conditions' heartbeat."""
        since = self.fleet.since.get(name) or {}
        try:
            await self.client.patch(NODES, name, status_patch(since), patch_type="strategic",
                                    subresource="status")
        except NotFound:
            log.warning("node %s is gone (deleted by someone else); it gets no more heartbeats",
                        name)
            self.renewals.remove(name)
            self.reports.remove(name)
            return True
        except (StatusError, ClientError) as exc:
            self._warn.warning("reporting the status of node %s: %s", name, exc)
            return False
        return True
