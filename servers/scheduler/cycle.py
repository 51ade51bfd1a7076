"""The scheduling cycle: pop a pod, pick a node, assume it there, bind in the background.

After ``pkg/scheduler/schedule_one.go`` (``ScheduleOne``, ``bindingCycle``,
``handleSchedulingFailure``):

1. pop the next pod (``SchedulingQueue``); skip it if it is being deleted, already assumed
   or already bound;
2. run the profile's filters and scores over the cache's snapshot (sched-algo's
   ``schedule()``), lower-priority pods seeing the nodes with nominated pods counted;
3. **assume** the pod on the node (the cache counts it at once) and bind it in a task, so
   many bindings are in flight while the next pod is scheduled; a binding that fails forgets
   the assumption and requeues the pod with backoff; a pod deleted or bound elsewhere
   meanwhile is dropped;
4. a pod that fits nowhere: try **preemption**; on success nominate the node
   (``status.nominatedNodeName``), delete the victims gracefully with a ``Preempted`` event on
   each; record ``FailedScheduling`` and the ``PodScheduled=False`` condition, and park the pod
   as unschedulable until the cluster changes.

The cycle itself never awaits the network: the apiserver is written to from tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import StatusError
from servers.client.errors import ClientError
from servers.scheduler import binder
from servers.scheduler.cache import SchedulerCache, pod_uid
from servers.scheduler.framework.algorithm import FitError, schedule
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import PodInfo
from servers.scheduler.framework.preemption import preempt
from servers.scheduler.metrics import ERROR, SCHEDULED, UNSCHEDULABLE, Metrics
from servers.scheduler.queue import QueuedPod, SchedulingQueue

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from servers.client.events import EventRecorder
    from servers.client.rest import Client
    from servers.scheduler.framework.lister import Lister
    from servers.scheduler.framework.profile import Profile

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# Bindings in flight at once; beyond it the cycle waits (the client's pool is 64 wide).
MAX_BINDINGS = 256


class Scheduler:
    """One scheduler: profiles by schedulerName, its queue and cache, and the apiserver."""

    def __init__(self, client: Client, profiles: list[Profile],
                 queue: SchedulingQueue, cache: SchedulerCache, recorder: EventRecorder,
                 metrics: Metrics, *, lister: Lister | None = None,
                 clock: Any = time.monotonic) -> None:
        self.client = client
        self.profiles = {p.scheduler_name: p for p in profiles}
        self.queue = queue
        self.cache = cache
        self.recorder = recorder
        self.metrics = metrics
        self.lister = lister
        self.clock = clock
        # The PodDisruptionBudgets preemption weighs (ClusterWatch sets its informer's list).
        self.pdbs: Callable[[], Iterable[Obj]] = tuple
        self.nominated: dict[str, tuple[str, PodInfo]] = {}
        self._snapshot: Snapshot | None = None
        self._snapshot_generation = -1
        self._next_start = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_BINDINGS)

    def responsible_for(self, pod: Obj) -> bool:
        """Whether a pod names one of this scheduler's profiles."""
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        return name in self.profiles

    # -- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Schedule pods until ``stop`` is set; then wait for bindings in flight."""
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                # A ready pod is taken at once; only an empty queue costs a waiting task.
                queued = self.queue.pop_nowait() or await self._pop_or_stop(stopper)
                if queued is None:
                    break
                await self._slots.acquire()
                self.schedule_one(queued)
                await asyncio.sleep(0)
        finally:
            stopper.cancel()
            await self.drain()

    async def _pop_or_stop(self, stopper: asyncio.Future[Any]) -> QueuedPod | None:
        """Wait for the next pod; ``None`` when the queue closes or ``stopper`` ends first."""
        popper = asyncio.ensure_future(self.queue.pop())
        await asyncio.wait({popper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not popper.done():
            popper.cancel()
            return None
        return popper.result()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for bindings and status writes in flight; after ``timeout`` seconds cancel
        what is left."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while self._tasks:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                return
            await asyncio.wait(list(self._tasks), timeout=left)

    def schedule_one(self, queued: QueuedPod) -> None:
        """One scheduling cycle for ``queued`` (holds one binding slot; releases it unless
        a binding task takes it over)."""
        pod = queued.pod
        if self._skip(pod):
            self.queue.done(queued)
            self._slots.release()
            return
        profile = self.profiles[(pod.get("spec") or {}).get("schedulerName")
                                or "default-scheduler"]
        started = self.clock()
        if queued.info is None:
            queued.info = PodInfo.of(pod)
        try:
            with self._view(queued.info) as snapshot:
                result = schedule(profile, queued.info, snapshot, start_index=self._next_start,
                                  lister=self.lister)
        except FitError as error:
            self._next_start = error.next_start_index
            self._slots.release()
            self._unschedulable(queued, profile, error, started)
            return
        self._next_start = result.next_start_index
        self.cache.assume(queued.info, result.node_name)
        self.nominated.pop(queued.info.uid, None)  # placed: its room is taken for real
        self._spawn(self._bind(queued, profile, result.node_name, started), slot=True)

    def _skip(self, pod: Obj) -> bool:
        """``skipPodSchedule``: being deleted, already assumed or bound, or not ours."""
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            log.debug("skip schedule deleting pod: %s/%s", meta.get("namespace"),
                      meta.get("name"))
            return True
        return (bool((pod.get("spec") or {}).get("nodeName")) or self.cache.has_pod(pod)
                or not self.responsible_for(pod))

    # -- the snapshot --------------------------------------------------------------------

    def _snapshot_now(self) -> Snapshot:
        """The cache's snapshot: rebuilt only when the set of nodes changed (it shares the
        cache's NodeInfos, so pods and node updates show in it at once)."""
        if self._snapshot is None or self._snapshot_generation != self.cache.node_generation:
            self._snapshot = Snapshot(self.cache.nodes())
            self._snapshot_generation = self.cache.node_generation
        return self._snapshot

    @contextlib.contextmanager
    def _view(self, info: PodInfo) -> Iterator[Snapshot]:
        """The snapshot with nominated pods of at least ``info``'s priority counted on their
        nominated nodes (on copies of those nodes, put back afterwards), so a preemptor's
        room is not taken by lower-priority pods (``addGENominatedPods``)."""
        snapshot = self._snapshot_now()
        originals: dict[str, NodeInfo] = {}
        for uid, (node, other) in self.nominated.items():
            if uid == info.uid or other.priority < info.priority:
                continue
            base = snapshot.get(node)
            if base is None:
                continue
            if node not in originals:
                originals[node] = base
                snapshot.set_node(base.clone())
            copy = snapshot.get(node)
            if copy is not None and not copy.has_pod(other):
                copy.add_pod(other)
        try:
            yield snapshot
        finally:
            for base in originals.values():
                snapshot.set_node(base)

    # -- binding -------------------------------------------------------------------------

    async def _bind(self, queued: QueuedPod, profile: Profile, node: str,
                    started: float) -> None:
        pod, info = queued.pod, queued.info
        try:
            outcome = await binder.bind(self.client, pod, node)
        except (ClientError, StatusError) as exc:
            log.info("binding %s to %s failed: %s", queued.key, node, exc)
            self.cache.forget(info)
            self._count(ERROR, profile, started)
            self._record_failure(queued, profile, binder.ERROR_REASON,
                                 f"Binding rejected: {exc}")
            self.queue.add_backoff(queued)
            return
        if outcome == binder.GONE:
            self.cache.forget(info)
            self.queue.done(queued)
            return
        self.queue.done(queued)
        self._count(SCHEDULED, profile, started)
        self.metrics.sli(queued.attempts).observe(self.clock() - queued.added)
        meta = pod["metadata"]
        self.recorder.event(pod, "Normal", "Scheduled",
                            f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                            f"{node}", action="Binding", component=profile.scheduler_name)

    def _count(self, result: str, profile: Profile, started: float) -> None:
        attempts, duration = self.metrics.attempt(result, profile.scheduler_name)
        attempts.inc()
        duration.observe(self.clock() - started)

    # -- failure and preemption ----------------------------------------------------------

    def _unschedulable(self, queued: QueuedPod, profile: Profile,
                       error: FitError, started: float) -> None:
        pod, info = queued.pod, queued.info
        nominated = None
        if profile.preemption and _may_preempt(pod):
            self.metrics.preemption_attempts.inc()
            with self._view(info) as snapshot:
                outcome = preempt(profile, info, snapshot, error, self.pdbs(),
                                  lister=self.lister)
            if outcome is not None and outcome.node_name:
                nominated = outcome.node_name
                self._nominate(pod, info, nominated, outcome.victims,
                               profile.scheduler_name)
        message = error.message
        self._count(UNSCHEDULABLE, profile, started)
        self._record_failure(queued, profile, binder.UNSCHEDULABLE_REASON, message, nominated)
        # A preemptor waits too: its victims' deletion is the event that moves it back.
        self.queue.add_unschedulable(queued)

    def _nominate(self, pod: Obj, info: PodInfo, node: str, victims: list[PodInfo],
                  profile_name: str) -> None:
        self.nominated[pod_uid(pod)] = (node, info)
        self.metrics.preemption_victims.observe(len(victims))
        uid = (pod.get("metadata") or {}).get("uid", "")
        for victim in victims:
            self.recorder.event(victim.pod, "Normal", "Preempted",
                                f"Preempted by pod {uid} on node {node}", action="Preempting",
                                component=profile_name)
            self._spawn(self._delete_victim(victim.pod, profile_name))

    async def _delete_victim(self, victim: Obj, scheduler_name: str) -> None:
        try:
            await binder.delete_victim(self.client, victim, scheduler_name)
        except (ClientError, StatusError) as exc:
            log.warning("deleting preemption victim %s: %s",
                        victim["metadata"].get("name"), exc)

    def _record_failure(self, queued: QueuedPod, profile: Profile, reason: str, message: str,
                        nominated: str | None = None) -> None:
        pod = queued.pod
        self.recorder.event(pod, "Warning", "FailedScheduling", message, action="Scheduling",
                            component=profile.scheduler_name)
        if binder.needs_status_update(pod, reason, message, nominated):
            self._spawn(self._write_status(pod, reason, message, nominated))

    async def _write_status(self, pod: Obj, reason: str, message: str,
                            nominated: str | None) -> None:
        try:
            await binder.set_unschedulable(self.client, pod, reason, message, nominated)
        except (ClientError, StatusError) as exc:
            log.info("pod %s status not updated: %s", pod["metadata"].get("name"), exc)

    def forget_pod(self, pod: Obj) -> None:
        """An unscheduled pod was bound or went away: drop its nomination."""
        self.nominated.pop(pod_uid(pod), None)

    # -- tasks ---------------------------------------------------------------------------

    def _spawn(self, coro: Any, *, slot: bool = False) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, slot))

    def _finished(self, task: asyncio.Task[None], slot: bool) -> None:
        self._tasks.discard(task)
        if slot:
            self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler task failed: %s", task.exception())


def _may_preempt(pod: Obj) -> bool:
    """``preemptionPolicy: Never`` pods wait rather than preempt."""
    return (pod.get("spec") or {}).get("preemptionPolicy") != "Never"
