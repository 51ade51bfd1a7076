"""``km proxy``: kube-proxy's server around km's nftables and userspace proxiers.

The steps of ``cmd/kube-proxy/app/server.go``:

1. settle the flags (mode: nftables as root, userspace otherwise; ``--cleanup`` removes the
   nftables table and exits);
2. connect to the apiserver and wait for it (``--kubeconfig``/``--master``);
3. serve /healthz and /metrics where the flags say;
4. watch Services and EndpointSlices; after both first lists, sync;
5. sync again after each change (at most one sync per ``--min-sync-period``; changes meanwhile
   are batched) and every ``--sync-period`` in full (kube's BoundedFrequencyRunner).

A sync that fails is logged (one line), counted and retried after a backoff; the next sync
after a failure takes the nftables table over afresh. Stopping leaves the rules in place, as
kube-proxy does: connections keep flowing until the next proxy takes over.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from servers.client.informer import Backoff, SharedInformerFactory
from servers.client.resources import ENDPOINTSLICES, SERVICES
from servers.component.connect import client_from_options, wait_for_apiserver
from servers.kubelet.runtime.errors import RuntimeFailure
from servers.proxy import health, options
from servers.proxy.metrics import ProxyMetrics
from servers.proxy.model import ServicePort, service_ports
from servers.proxy.nftables.nft import NftError

if TYPE_CHECKING:
    import argparse

    from servers.apimachinery.meta import Obj
    from servers.client.informer import Informer

log = logging.getLogger(__name__)

USER_AGENT = "km-proxy"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
# kube-proxy's informers (cmd/kube-proxy/app/server.go): Services that name another proxy are
# left to it, and headless Services' slices are never needed.
SERVICE_LABELS = "!service.kubernetes.io/service-proxy-name"
SLICE_LABELS = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")


class Proxier(Protocol):
    async def sync(self, ports: list[ServicePort], full: bool = False) -> None: ...

    async def close(self) -> None: ...


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run the proxy until ``stop`` (see the module docstring)."""
    options.validate(opts)
    proxier = await _proxier(opts)
    if getattr(opts, "cleanup", False):
        return 0
    metrics = ProxyMetrics()
    state = health.HealthState(timeout=2 * opts.sync_period)
    try:
        async with client_from_options(opts, user_agent=USER_AGENT) as client:
            if not await wait_for_apiserver(client, stop):
                return 0
            async with health.serving(opts.healthz, opts.metrics, state, metrics.registry):
                factory = SharedInformerFactory(client)
                syncer = Syncer(proxier,
                                factory.informer(SERVICES, label_selector=SERVICE_LABELS),
                                factory.informer(ENDPOINTSLICES, label_selector=SLICE_LABELS),
                                metrics, state,
                                sync_period=opts.sync_period,
                                min_sync_period=opts.min_sync_period)
                halt = asyncio.Event()
                factory.start(halt)
                try:
                    await syncer.run(stop, factory)
                finally:
                    halt.set()
                    await asyncio.gather(factory.join(), return_exceptions=True)
    finally:
        await proxier.close()
    return 0


async def _proxier(opts: argparse.Namespace) -> Proxier:
    if opts.proxy_mode == "userspace":
        from servers.proxy.addresses import nodeport_addresses
        from servers.proxy.userspace.proxier import UserspaceProxier

        hosts = (await nodeport_addresses(opts.nodeport_addresses)
                 if opts.nodeport_addresses else ["0.0.0.0"])
        log.info("userspace mode; NodePorts on %s", ", ".join(hosts) or "no address")
        return UserspaceProxier(hosts, udp_timeout=opts.udp_timeout)
    from servers.proxy.nftables.nft import nft_path
    from servers.proxy.nftables.proxier import NftablesProxier
    from servers.proxy.nftables.ruleset import table_name

    nft_path()  # no nft: one line naming the Debian package, before anything starts

    proxier = NftablesProxier(table_name(opts.hostname_override),
                              cluster_cidr=opts.cluster_cidr,
                              nodeport_cidrs=opts.nodeport_addresses)
    if getattr(opts, "cleanup", False):
        await proxier.cleanup()
        log.info("removed nftables table ip %s", proxier.table)
    else:
        log.info("nftables mode; table ip %s", proxier.table)
    return proxier


class SyncBucket:
    """kube's BoundedFrequencyRunner limit (``pkg/util/async/bounded_frequency_runner.go``):
    a token bucket refilled once per ``min_period`` holding ``burst`` (kube-proxy: 2), so an
    isolated change is synced at once and a stream of changes once per period."""

    def __init__(self, min_period: float, burst: int = 2) -> None:
        self.min_period = min_period
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token; how long to wait before using it (0: at once)."""
        if self.min_period <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) / self.min_period)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens * self.min_period


class Syncer:
    """Turns Service and EndpointSlice events into bounded-frequency syncs of a proxier."""

    def __init__(self, proxier: Proxier, services: Informer, slices: Informer,
                 metrics: ProxyMetrics, state: health.HealthState, *, sync_period: float,
                 min_sync_period: float) -> None:
        self.proxier = proxier
        self.services = services
        self.slices = slices
        self.metrics = metrics
        self.state = state
        self.sync_period = sync_period
        self.min_sync_period = min_sync_period
        self._changed = asyncio.Event()
        self._triggers: list[float] = []  # wall-clock trigger times not yet programmed
        services.add_handler(self._on_service, lambda old, new: self._on_service(new),
                             self._on_service)
        slices.add_handler(self._on_slice, lambda old, new: self._on_slice(new),
                           self._on_slice_deleted)

    def _queue(self) -> None:
        self.state.queued()
        self.metrics.last_queued.set_to_current_time()
        self._changed.set()

    def _on_service(self, _: Obj) -> None:
        self._queue()

    def _on_slice(self, eps: Obj) -> None:
        stamp = ((eps.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_TIME)
        if stamp:
            when = parse_time(str(stamp))
            if when is not None:
                self._triggers.append(when)
        self._queue()

    def _on_slice_deleted(self, _: Obj) -> None:
        self._queue()

    async def run(self, stop: asyncio.Event, factory: SharedInformerFactory) -> None:
        """Sync until ``stop``: after the first lists, on changes, and periodically."""
        if not await _until(factory.wait_synced(), stop):
            return
        backoff = Backoff(initial=0.5, cap=10.0)
        bucket = SyncBucket(self.min_sync_period)
        last_full = 0.0
        self._changed.set()
        while not stop.is_set():
            full = time.monotonic() - last_full >= self.sync_period
            if not full and not await self._wait_change(stop, last_full):
                continue
            wait = bucket.take()
            if wait > 0 and await _stopped(stop, wait):
                return
            full = full or time.monotonic() - last_full >= self.sync_period
            started = time.monotonic()
            if await self.sync_once(full):
                backoff.reset()
                if full:
                    last_full = started
            elif await _stopped(stop, backoff.next()):
                return

    async def _wait_change(self, stop: asyncio.Event, last_full: float) -> bool:
        """Wait for a change (True), or for the next full sync to be due or stop (False)."""
        if self._changed.is_set():
            return True
        timeout = max(0.0, last_full + self.sync_period - time.monotonic())
        waiter = asyncio.ensure_future(self._changed.wait())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({waiter, stopper}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
        return waiter in done

    async def sync_once(self, full: bool = False) -> bool:
        """One sync of everything the informers hold; whether it succeeded."""
        self._changed.clear()
        triggers, self._triggers = self._triggers, []
        started_wall, started = time.time(), time.perf_counter()
        ports = service_ports(self.services.list(), self.slices.list())
        try:
            await self.proxier.sync(ports, full=full)
        except (NftError, RuntimeFailure, OSError) as exc:
            log.error("sync failed: %s", exc)
            self.metrics.failures.inc()
            self._triggers = triggers + self._triggers
            self._changed.set()
            return False
        done = time.time()
        self.metrics.sync_duration.observe(time.perf_counter() - started)
        self.metrics.last_sync.set(done)
        self.state.updated(started_wall)
        for trigger in triggers:
            self.metrics.programming.observe(max(0.0, done - trigger))
        log.debug("synced %d service ports%s", len(ports), " (full)" if full else "")
        return True


def parse_time(stamp: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds allowed, as Go writes them;
    Python 3.10's fromisoformat takes at most six fraction digits), or ``None``."""
    match = _RFC3339.fullmatch(stamp.strip())
    if match is None:
        return None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        when = datetime.fromisoformat(base + zone).timestamp()
    except ValueError:
        return None
    return when + (float("0." + fraction) if fraction else 0.0)


async def _until(awaitable: object, stop: asyncio.Event) -> bool:
    task = asyncio.ensure_future(awaitable)  # type: ignore[arg-type]
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    return True


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except asyncio.TimeoutError:
        return False
    return True
