"""Lease-based leader election, with the semantics of client-go's ``leaderelection``.

    elector = LeaderElector(client, name="kube-scheduler", namespace="kube-system",
                            identity=default_identity(), lease_duration=15.0,
                            renew_deadline=10.0, retry_period=2.0,
                            event_component="default-scheduler")
    await elector.run(stop, lead)        # lead(lost) runs only while this process leads

The lock is one ``coordination.k8s.io/v1`` Lease. Its spec is the election record:
``holderIdentity``, ``leaseDurationSeconds``, ``acquireTime``/``renewTime`` (MicroTime, six
fraction digits) and ``leaseTransitions``. As in client-go
(``k8s.io/client-go/tools/leaderelection/leaderelection.go``, ``tryAcquireOrRenew``):

* A candidate reads the Lease every ``retry_period`` (jittered by up to 1.2x). It takes the
  Lease when nobody holds it, or when ``leaseDurationSeconds`` have passed *on its own
  monotonic clock* since it last saw the record change (clocks of different hosts are never
  compared). Taking it from someone else adds one to ``leaseTransitions``.
* Every write carries the ``resourceVersion`` that was read (or is a create), so when two
  candidates race, the apiserver's optimistic concurrency lets exactly one win (409/AlreadyExists
  for the other).
* The leader renews every ``retry_period``, first with the Lease it last wrote (one PUT; the
  fast path), else by reading it again. If it cannot renew within ``renew_deadline`` it has lost
  leadership. km is stricter than client-go in two cases, both times because someone else may
  already lead: a leader that *sees* another holder in the Lease loses at once instead of
  retrying until the deadline, and a leader whose last renewal is older than the lease
  duration (the process was frozen) loses without asking.
* On a clean stop the leader releases the Lease (empty ``holderIdentity``,
  ``leaseDurationSeconds`` 1), so a successor takes over at its next try, not a lease later.

Loss is not survivable: ``run`` sets ``lost``, gives ``lead`` a short grace to return, cancels
it and raises ``LeadershipLost`` (the server exits 1, as kube-scheduler exits on
"leaderelection lost"). The events ``LeaderElection`` "<id> became leader" / "<id> stopped
leading" are recorded on the Lease, as client-go's ``LeaseLock.RecordEvent`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.events import NORMAL, EventRecorder
from servers.client.resources import LEASES

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from prometheus_client import CollectorRegistry

    from servers.client.rest import Client

__all__ = ["JITTER_FACTOR", "LeaderElector", "LeadershipLost", "default_identity",
           "from_options", "micro_time"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
JITTER_FACTOR = 1.2  # leaderelection.JitterFactor
# How long ``lead`` may take to return once leadership is lost, before it is cancelled.
LOST_GRACE = 1.0
# healthz: a leader that has not renewed for lease duration + this long is unhealthy
# (kube-scheduler's NewLeaderHealthzAdaptor(20 * time.Second)).
HEALTHZ_TOLERANCE = 20.0
_API_ERRORS = (StatusError, ClientError)


class LeadershipLost(Exception):
    """This process led, and no longer does: it must stop (exit 1)."""


def default_identity() -> str:
    """kube's default holder identity: ``<hostname>_<uuid4>``, new at every start."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(seconds: float | None = None) -> str:
    """``metav1.MicroTime`` of a wall-clock time (default now): ``2025-01-01T10:00:00.123456Z``."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Record:
    """A Lease spec as client-go's ``LeaderElectionRecord``."""

    holder: str
    duration: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int

    @classmethod
    def of(cls, lease: Obj) -> _Record:
        spec = lease.get("spec") or {}
        return cls(str(spec.get("holderIdentity") or ""),
                   int(spec.get("leaseDurationSeconds") or 0),
                   spec.get("acquireTime"), spec.get("renewTime"),
                   int(spec.get("leaseTransitions") or 0))

    def spec(self) -> Obj:
        spec: Obj = {"holderIdentity": self.holder, "leaseDurationSeconds": self.duration,
                     "leaseTransitions": self.transitions}
        if self.acquire_time:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time:
            spec["renewTime"] = self.renew_time
        return spec


class LeaderElector:
    """One candidate for the Lease ``namespace/name``; ``run`` leads while it holds it.

    Periods are seconds: ``lease_duration`` > ``renew_deadline`` > 1.2 * ``retry_period``
    > 0 (client-go's rules; ``ValueError`` otherwise). ``event_component`` is the events'
    source. ``recorder``: an ``EventRecorder`` the server already runs (else one is run here);
    ``registry``: where to put ``leader_election_master_status{name}`` (else nowhere).
    """

    def __init__(self, client: Client, *, name: str, namespace: str, identity: str,
                 lease_duration: float, renew_deadline: float, retry_period: float,
                 event_component: str, recorder: EventRecorder | None = None,
                 registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _check_periods(lease_duration, renew_deadline, retry_period)
        if not name or not namespace or not identity:
            msg = "leader election needs a lease name, a namespace and an identity"
            raise ValueError(msg)
        self.client = client
        self.name, self.namespace, self.identity = name, namespace, identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.event_component = event_component
        self.lost_grace = min(LOST_GRACE, retry_period)
        self.clock = clock
        self._recorder = recorder
        self._status = _master_status(registry)
        self._lease: Obj | None = None  # the Lease as last read or written
        self._observed: _Record | None = None
        self._observed_raw: _Record | None = None
        self._observed_at = 0.0

    @property
    def description(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def leader(self) -> str:
        """The holder this candidate last saw ("" when none)."""
        return self._observed.holder if self._observed else ""

    @property
    def is_leader(self) -> bool:
        return self.leader == self.identity

    def healthy(self, tolerance: float = HEALTHZ_TOLERANCE) -> bool:
        """False for a leader whose renewals stopped long ago (client-go's ``Check``)."""
        if not self.is_leader:
            return True
        return self.clock() - self._observed_at <= self.lease_duration + tolerance

    # -- the whole life ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event,
                  lead: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Wait for the Lease, then ``lead(lost)`` until stop, loss, or ``lead`` returns.

        Returns when ``stop`` is set (before or while leading; the Lease is released), or
        when ``lead`` returns by itself (released too). Re-raises what ``lead`` raised
        (after releasing). Raises ``LeadershipLost`` when renewal failed.
        """
        writer_stop = asyncio.Event()
        writer = None
        if self._recorder is None:
            self._recorder = EventRecorder(self.client, component=self.event_component,
                                           host=socket.gethostname())
            writer = asyncio.ensure_future(self._recorder.run(writer_stop))
        try:
            if await self._acquire(stop):
                await self._lead(stop, lead)
        finally:
            if writer is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._recorder.flush(), self.retry_period)
                writer_stop.set()
                await asyncio.gather(writer, return_exceptions=True)
                self._recorder = None

    async def _lead(self, stop: asyncio.Event,
                    lead: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self._announce("became leader")
        lost = asyncio.Event()
        lead_task = asyncio.ensure_future(lead(lost))
        keep_task = asyncio.ensure_future(self._keep())
        stop_task = asyncio.ensure_future(stop.wait())
        why: str | None = None
        try:
            done, _ = await asyncio.wait({lead_task, keep_task, stop_task},
                                         return_when=asyncio.FIRST_COMPLETED)
            if keep_task in done:
                why = keep_task.result()
            elif lead_task not in done:  # stop: let lead finish while the Lease is renewed
                lost.set()
                done, _ = await asyncio.wait({lead_task, keep_task},
                                             timeout=self.renew_deadline,
                                             return_when=asyncio.FIRST_COMPLETED)
            lost.set()
            await _finish(lead_task, self.lost_grace if why else 0.0)
        finally:
            for task in (keep_task, stop_task):
                task.cancel()
            await asyncio.gather(keep_task, stop_task, return_exceptions=True)
            await _finish(lead_task, 0.0)
            self._set_status(False)
        if why is not None:
            self._announce("stopped leading")
            log.error("leaderelection lost: lease %s %s", self.description, why)
            raise LeadershipLost(f"leaderelection lost: lease {self.description} {why}")
        await self._release()
        self._announce("stopped leading")
        if not lead_task.cancelled():
            lead_task.result()

    # -- acquiring and keeping -----------------------------------------------------------------

    async def _acquire(self, stop: asyncio.Event) -> bool:
        """Try every retry period (jittered) until the Lease is ours; False on stop."""
        log.info("attempting to acquire leader lease %s...", self.description)
        loop = asyncio.ensure_future(self._acquire_loop())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({loop, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            loop.cancel()
            await asyncio.gather(loop, stopper, return_exceptions=True)
        if not loop.cancelled() and loop.exception() is None:
            log.info("successfully acquired lease %s", self.description)
            return True
        if not loop.cancelled():
            loop.result()  # a bug, not an API error: let it be seen
        return False

    async def _acquire_loop(self) -> None:
        reported = ""
        while not await self._try(self.renew_deadline):
            if self.leader != reported:  # client-go's OnNewLeader, as a log line
                reported = self.leader
                log.info("the leader of %s is %s", self.description, reported or "nobody")
            await asyncio.sleep(self.retry_period * (1.0 + random.random() * JITTER_FACTOR))

    async def _keep(self) -> str:
        """Renew until that fails; return why (client-go's ``renew``)."""
        while True:
            await asyncio.sleep(self.retry_period)
            stale = self.clock() - self._observed_at
            if stale > self.lease_duration:  # frozen (SIGSTOP, a suspended VM): others may lead
                return f"was not renewed for {stale:.1f}s"
            deadline = self.clock() + self.renew_deadline
            while not await self._try(deadline - self.clock()):
                holder = self.leader
                if holder and holder != self.identity:
                    return f"is held by {holder}"
                if self.clock() + self.retry_period >= deadline:
                    return f"was not renewed within {self.renew_deadline:g}s"
                await asyncio.sleep(self.retry_period)

    async def _try(self, timeout: float) -> bool:
        """One ``tryAcquireOrRenew``, given up after ``timeout`` seconds."""
        if timeout <= 0:
            return False
        try:
            won = await asyncio.wait_for(self._try_acquire_or_renew(), timeout)
        except asyncio.TimeoutError:
            log.info("lease %s: no answer within %.1fs", self.description, timeout)
            won = False
        self._set_status(won)
        return won

    async def _try_acquire_or_renew(self) -> bool:
        now = micro_time()
        record = _Record(self.identity, max(1, int(self.lease_duration)), now, now, 0)
        observed = self._observed
        # 1. The leader's fast path: write over the Lease it last wrote (one request).
        if observed is not None and self.is_leader and self._lease_valid():
            mine = replace(record, acquire_time=observed.acquire_time,
                           transitions=observed.transitions)
            with contextlib.suppress(*_API_ERRORS):
                await self._update(mine)
                return True
        # 2. Read it, or create it when there is none.
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except NotFound:
            return await self._create(record)
        except _API_ERRORS as exc:
            log.info("error retrieving lease %s: %s", self.description, exc)
            return False
        self._lease = lease
        old = _Record.of(lease)
        if old != self._observed_raw:
            self._observe(old)
            self._observed_raw = old
        # 3. Someone else holds it, and it has not expired on our clock.
        if old.holder and self._lease_valid() and not self.is_leader:
            return False
        if self.is_leader:
            record = replace(record, acquire_time=old.acquire_time, transitions=old.transitions)
        else:
            record = replace(record, transitions=old.transitions + 1)
        try:
            await self._update(record)
        except _API_ERRORS as exc:
            log.info("failed to update lease %s: %s", self.description, exc)
            return False
        return True

    def _lease_valid(self) -> bool:
        observed = self._observed
        duration = observed.duration if observed else 0
        return self._observed_at + duration > self.clock()

    def _observe(self, record: _Record) -> None:
        self._observed = record
        self._observed_at = self.clock()

    async def _create(self, record: _Record) -> bool:
        lease = {"apiVersion": LEASES.api_version, "kind": LEASES.kind,
                 "metadata": {"name": self.name, "namespace": self.namespace},
                 "spec": record.spec()}
        try:
            self._lease = await self.client.create(LEASES, lease, self.namespace)
        except _API_ERRORS as exc:
            log.info("error creating lease %s: %s", self.description, exc)
            return False
        self._observe(record)
        return True

    async def _update(self, record: _Record) -> None:
        """PUT ``record`` over the Lease last seen; its resourceVersion is the precondition."""
        if self._lease is None:
            msg = f"lease {self.description} was not read yet"
            raise ClientError(msg)
        lease = copy.deepcopy(self._lease)
        lease["spec"] = record.spec()
        self._lease = await self.client.update(LEASES, lease)
        self._observe(record)

    async def _release(self) -> None:
        """Give the Lease up (client-go's ``release``), if it is still ours."""
        if not self.is_leader or self._observed is None:
            return
        now = micro_time()
        record = _Record("", 1, now, now, self._observed.transitions)
        for _ in range(2):  # the Lease we hold may be stale after a cancelled write
            try:
                await asyncio.wait_for(self._update(record), self.renew_deadline)
                log.info("released lease %s", self.description)
                return
            except (*_API_ERRORS, asyncio.TimeoutError) as exc:
                log.info("failed to release lease %s: %s", self.description, exc)
            if not await self._reread_mine():
                return

    async def _reread_mine(self) -> bool:
        try:
            self._lease = await self.client.get(LEASES, self.name, self.namespace)
        except _API_ERRORS:
            return False
        return _Record.of(self._lease).holder == self.identity

    # -- telling others ------------------------------------------------------------------------

    def _announce(self, what: str) -> None:
        if self._recorder is not None and self._lease is not None:
            self._recorder.event(self._lease, NORMAL, "LeaderElection",
                                 f"{self.identity} {what}")

    def _set_status(self, leading: bool) -> None:
        if self._status is not None:
            self._status.labels(name=self.name).set(1 if leading and self.is_leader else 0)


def from_options(opts: argparse.Namespace, client: Client, recorder: EventRecorder,
                 registry: CollectorRegistry | None = None) -> LeaderElector | None:
    """The elector the --leader-elect* flags ask for (None with --leader-elect=false);
    ``recorder`` is the server's own, its component the events' source."""
    if not opts.leader_elect:
        return None
    return LeaderElector(
        client, name=opts.leader_elect_resource_name,
        namespace=opts.leader_elect_resource_namespace,
        identity=opts.leader_elect_identity or default_identity(),
        lease_duration=opts.leader_elect_lease_duration,
        renew_deadline=opts.leader_elect_renew_deadline,
        retry_period=opts.leader_elect_retry_period,
        event_component=recorder.component, recorder=recorder, registry=registry)


def _check_periods(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    if min(lease_duration, renew_deadline, retry_period) <= 0:
        msg = "leader election periods must be greater than zero"
        raise ValueError(msg)
    if lease_duration <= renew_deadline:
        msg = "leaseDuration must be greater than renewDeadline"
        raise ValueError(msg)
    if renew_deadline <= JITTER_FACTOR * retry_period:
        msg = "renewDeadline must be greater than retryPeriod*JitterFactor"
        raise ValueError(msg)


def _master_status(registry: CollectorRegistry | None) -> Any:
    if registry is None:
        return None
    from prometheus_client import Gauge

    return Gauge("leader_election_master_status",
                 "Gauge of if the reporting system is master of the relevant lease, 0 "
                 "indicates backup, 1 indicates master. 'name' is the string used to identify "
                 "the lease. Please make sure to group by name.",
                 ["name"], registry=registry)


async def _finish(task: asyncio.Future[None], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``task``, then cancel it; never raise its error."""
    if not task.done() and grace > 0:
        await asyncio.wait({task}, timeout=grace)
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
