"""``km scheduler``: kube-scheduler's server around km's scheduling cycle.

The steps of ``cmd/kube-scheduler/app/server.go`` (``Run``):

1. check the flags and load the profiles (``--config``, else one profile named
   ``--scheduler-name``);
2. connect to the apiserver and wait for it (``--kubeconfig``/``--master``);
3. serve /healthz and /metrics on ``--secure-port``;
4. start the informers and wait for their first lists — a standby keeps warm caches too;
5. schedule: at once with ``--leader-elect=false``, else only while holding the Lease
   ``kube-system/kube-scheduler``. Losing it ends the server (exit 1, one line), as
   kube-scheduler exits on "leaderelection lost".

An apiserver that goes away is waited for: informers resume their watches, failed bindings
are retried with backoff, and a binding the apiserver already took answers 409 and counts as
done, so no pod is lost or bound twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from servers.client import leaderelection
from servers.client.events import EventRecorder
from servers.client.informer import SharedInformerFactory
from servers.component.connect import client_config, wait_for_apiserver
from servers.component.options import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    parse_duration,
    validate_leader_election,
)
from servers.scheduler.cache import SchedulerCache
from servers.scheduler.cycle import Scheduler
from servers.scheduler.framework.profile import Profile, default_profile
from servers.scheduler.informers import ClusterWatch
from servers.scheduler.listers import InformerLister
from servers.scheduler.metrics import Metrics
from servers.scheduler.options import LEASE_NAME
from servers.scheduler.queue import SchedulingQueue
from servers.scheduler.transport import LeanClient

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Sequence

    from servers.client.rest import Client

log = logging.getLogger(__name__)

USER_AGENT = "km-scheduler"
# How long a stopping scheduler waits for bindings in flight before dropping them (an
# unfinished binding is harmless: the pod stays unbound, or is bound and seen so at restart).
DRAIN_TIMEOUT = 5.0
# The Scheduled events' writers and queue (each Event's writes stay in order on one writer).
EVENT_WRITERS = 16
EVENT_QUEUE = EVENT_WRITERS * 1024


def load_profiles(opts: argparse.Namespace) -> list[Profile]:
    """The profiles of ``--config``, or the default one named ``--scheduler-name``.

    A configuration file's ``leaderElection`` and ``clientConnection.kubeconfig`` fill the
    flags left at their defaults (kube's ``ApplyLeaderElectionTo``: flags given override the
    file).
    """
    if not opts.config:
        return [default_profile(opts.scheduler_name)]
    from servers.scheduler.framework.config import load_configuration

    configuration = load_configuration(opts.config)
    _apply_leader_election(opts, configuration.leader_election or {})
    kubeconfig = (configuration.client_connection or {}).get("kubeconfig")
    if kubeconfig and not opts.kubeconfig:
        opts.kubeconfig = str(kubeconfig)
    return configuration.profiles


# LeaderElectionConfiguration's fields and the flag each one fills, with the flag's default.
_LEADER_ELECTION = (
    ("leaderElect", "leader_elect", True, None),
    ("leaseDuration", "leader_elect_lease_duration", DEFAULT_LEASE_DURATION, parse_duration),
    ("renewDeadline", "leader_elect_renew_deadline", DEFAULT_RENEW_DEADLINE, parse_duration),
    ("retryPeriod", "leader_elect_retry_period", DEFAULT_RETRY_PERIOD, parse_duration),
    ("resourceName", "leader_elect_resource_name", LEASE_NAME, None),
    ("resourceNamespace", "leader_elect_resource_namespace", "kube-system", None),
)


def _apply_leader_election(opts: argparse.Namespace, block: dict[str, Any]) -> None:
    for field, attr, default, parse in _LEADER_ELECTION:
        if field not in block or getattr(opts, attr) != default:
            continue
        value = block[field]
        try:
            setattr(opts, attr, parse(str(value)) if parse else value)
        except ValueError as exc:
            msg = f"scheduler configuration {opts.config}: leaderElection.{field}: {exc}"
            raise ValueError(msg) from None


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run the scheduler until ``stop`` (see the module docstring)."""
    profiles = load_profiles(opts)
    validate_leader_election(opts)
    registry = CollectorRegistry()
    # Watches on aiohttp, the rest (bindings, events: two requests a pod) on a lean pool.
    async with LeanClient(client_config(opts), user_agent=USER_AGENT) as client:
        if not await wait_for_apiserver(client, stop):
            return 0
        await _serve_and_schedule(opts, stop, client, profiles, registry)
    return 0


async def _serve_and_schedule(opts: argparse.Namespace, stop: asyncio.Event, client: Client,
                              profiles: list[Profile],
                              registry: CollectorRegistry) -> None:
    from servers.component.serving import secure_serving

    halt = asyncio.Event()  # ends the informers, the queue and the recorder
    factory = SharedInformerFactory(client)
    scheduler = _build(client, profiles, registry, InformerLister(factory))
    ClusterWatch(scheduler).connect(factory)
    background = [asyncio.ensure_future(scheduler.queue.run(halt)),
                  asyncio.ensure_future(scheduler.recorder.run(halt))]
    factory.start(halt)
    background.append(asyncio.ensure_future(factory.join()))  # ends early only on a failure
    elector = leaderelection.from_options(opts, client, scheduler.recorder, registry)
    healthy = elector.healthy if elector is not None else None
    try:
        async with secure_serving(opts, registry, client, name="scheduler", healthy=healthy):
            if not await _until(factory.wait_synced(), stop):
                return
            log.info("caches synced; scheduling for %s",
                     ", ".join(sorted(scheduler.profiles)))
            if elector is None:
                await _supervised(scheduler.run(stop), background)
            else:
                await _supervised(elector.run(stop, scheduler.run), background)
    finally:
        halt.set()
        scheduler.queue.close()
        await scheduler.drain(timeout=DRAIN_TIMEOUT)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(scheduler.recorder.flush(), 2.0)
        await asyncio.gather(*background, return_exceptions=True)


def _build(client: Client, profiles: list[Profile], registry: CollectorRegistry,
           lister: InformerLister) -> Scheduler:
    # The backoff settings are global in the configuration, copied into every profile.
    queue = SchedulingQueue(initial_backoff=profiles[0].pod_initial_backoff_seconds,
                            max_backoff=profiles[0].pod_max_backoff_seconds)
    metrics = Metrics(registry)
    metrics.watch_queue(queue)
    # One recorder; each event names its profile as the source ("From" in kubectl describe),
    # the leader election's the first profile.
    # A queue as deep as a backlog's burst: with the recorder's default (1,000 events behind
    # 8 writers) a backlog bound at 1,000+ pods/s dropped most of its Scheduled events
    # (kube's recorder writes each event from a goroutine of its own, so they keep up).
    recorder = EventRecorder(client, component=profiles[0].scheduler_name,
                             host=socket.gethostname(), writers=EVENT_WRITERS,
                             queue_size=EVENT_QUEUE)
    return Scheduler(client, profiles, queue, SchedulerCache(), recorder, metrics,
                     lister=lister)



async def _supervised(main: Awaitable[None], watched: Sequence[asyncio.Future[None]]) -> None:
    """Run ``main``; if a watched task (an informer, the queue, the recorder) fails first,
    stop ``main`` and raise that failure: a scheduler blind to the cluster must not go on."""
    task = asyncio.ensure_future(main)
    await asyncio.wait({task, *watched}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        failures = [w.exception() for w in watched if w.done() and not w.cancelled()]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for failure in failures:
            if failure is not None:
                raise failure
        return
    task.result()


async def _until(awaitable: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await ``awaitable`` unless ``stop`` comes first (then ``False``)."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    return True

