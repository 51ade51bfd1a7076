"""The scheduling queue: pods waiting for a node, in kube-scheduler's three queues.

After ``pkg/scheduler/backend/queue/scheduling_queue.go`` (``PriorityQueue``):

* **active** — a heap popped by the scheduling cycle: higher ``spec.priority`` first, then the
  earlier time the pod (re-)entered the queue (the PrioritySort plugin's order);
* **backoff** — pods that failed and wait ``initial * 2^(attempts-1)`` seconds, capped at
  ``max`` (1 s doubling to 10 s by default); ``flush_backoff()`` (every second) moves the
  expired ones to active;
* **unschedulable** — pods no node fits. A cluster change that may make them fit (a node
  added or changed, a pod deleted or moved) moves them all back with ``move_all()``: to
  backoff while their backoff lasts, to active otherwise. ``flush_unschedulable()`` (every
  30 s) moves those waiting longer than ``max_unschedulable`` (5 min) anyway.

Pods with ``spec.schedulingGates`` wait in a fourth set, **gated**, until an update removes the
gates (the SchedulingGates PreEnqueue plugin). A popped pod is **in flight** until it is
requeued or ``done()``: an update or a cluster change seen meanwhile sends a failed pod to
backoff instead of unschedulable, so no event is lost while the cycle runs (kube's
``moveRequestCycle``). A pod deleted while in flight is not requeued.

Pure Python and single-threaded (one event loop); time comes from an injectable ``clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

ACTIVE, BACKOFF, UNSCHEDULABLE, GATED = "active", "backoff", "unschedulable", "gated"
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
# kube's DefaultPodMaxInUnschedulablePodsDuration and its 30 s flush period.
DEFAULT_MAX_UNSCHEDULABLE = 300.0
BACKOFF_FLUSH_PERIOD = 1.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0


def pod_key(pod: Obj) -> str:
    """``namespace/name`` of a pod."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def pod_priority(pod: Obj) -> int:
    """``spec.priority`` (filled by the Priority admission plugin), 0 when absent."""
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _gated(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def _scheduling_relevant(pod: Obj) -> Any:
    """What of a pod may change where it fits: all but status and bookkeeping metadata
    (kube's ``isPodUpdated`` strips the same)."""
    meta = {k: v for k, v in (pod.get("metadata") or {}).items()
            if k not in ("resourceVersion", "generation", "managedFields")}
    return meta, pod.get("spec")


@dataclass
class QueuedPod:
    """One pod in the queue: its latest object and its scheduling history.

    ``timestamp`` is when it last entered the queue (orders the active heap, starts its
    backoff); ``initial_attempt`` is when it was first popped (the SLI's start);
    ``attempts`` counts pops. ``info`` is free for the scheduler (a parsed PodInfo), cleared
    whenever the object changes.
    """

    pod: Obj
    timestamp: float
    attempts: int = 0
    initial_attempt: float | None = None
    added: float = 0.0
    info: Any = None
    move_seq: int = 0
    updated: bool = False
    deleted: bool = False
    seq: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        return pod_key(self.pod)

    @property
    def priority(self) -> int:
        return pod_priority(self.pod)

    def set_pod(self, pod: Obj) -> None:
        self.pod, self.info = pod, None


class SchedulingQueue:
    """kube-scheduler's priority queue (see the module docstring)."""

    def __init__(self, *, initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
                 max_backoff: float = DEFAULT_MAX_BACKOFF,
                 max_unschedulable: float = DEFAULT_MAX_UNSCHEDULABLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.clock = clock
        self._active: dict[str, QueuedPod] = {}
        self._active_heap: list[tuple[int, float, int, str]] = []
        self._backoff: dict[str, QueuedPod] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        self._gated: dict[str, QueuedPod] = {}
        self._in_flight: dict[str, QueuedPod] = {}
        self._seq = itertools.count()
        self._move_seq = 0
        self._ready = asyncio.Event()
        self._closed = False

    # -- what the informers tell ---------------------------------------------------------

    def add(self, pod: Obj) -> None:
        """A new unscheduled pod: active (or gated); an already known one is updated."""
        key = pod_key(pod)
        if self._find(key)[1] is not None:
            self.update(pod)
            return
        now = self.clock()
        self._enqueue(QueuedPod(pod, now, added=now))

    def update(self, pod: Obj) -> None:
        """A newer object for a queued pod; a change that may matter moves it on."""
        key = pod_key(pod)
        where, queued = self._find(key)
        if queued is None:
            self.add(pod)
            return
        relevant = _scheduling_relevant(queued.pod) != _scheduling_relevant(pod)
        if where == "in flight":
            queued.updated = queued.updated or relevant
            queued.set_pod(pod)
        elif where == ACTIVE:
            if pod_priority(pod) != queued.priority:
                self._remove(key)
                queued.set_pod(pod)
                self._push_active(queued)
            else:
                queued.set_pod(pod)
        elif where == GATED:
            queued.set_pod(pod)
            if not _gated(pod):
                del self._gated[key]
                self._push_active(queued)
        elif where == UNSCHEDULABLE and relevant:
            del self._unschedulable[key]
            queued.set_pod(pod)
            self._requeue_after_failure(queued)
        else:
            queued.set_pod(pod)

    def delete(self, pod: Obj) -> None:
        """The pod is gone (deleted, or bound by someone): forget it everywhere."""
        key = pod_key(pod)
        flying = self._in_flight.get(key)
        if flying is not None:
            flying.deleted = True
        self._remove(key)

    def move_all(self, event: str = "",
                 only: Callable[[Obj], bool] | None = None) -> int:
        """A cluster change that may let unschedulable pods fit: move them back (all, or
        those ``only`` accepts).

        Pods still backing off go to backoff, the others to active; pods in flight will not
        be parked as unschedulable. Returns how many moved.
        """
        self._move_seq += 1
        moved = [q for q in self._unschedulable.values() if only is None or only(q.pod)]
        for queued in moved:
            del self._unschedulable[queued.key]
            self._requeue_after_failure(queued)
        return len(moved)

    # -- what the scheduling cycle does ----------------------------------------------------

    async def pop(self) -> QueuedPod | None:
        """The next pod to schedule, waiting for one; ``None`` once closed."""
        while True:
            if self._closed:
                return None
            queued = self.pop_nowait()
            if queued is not None:
                return queued
            self._ready.clear()
            await self._ready.wait()

    def pop_nowait(self) -> QueuedPod | None:
        """The next pod to schedule if one is ready now (``None`` if not, or once closed):
        ``pop`` without a wait, so a cycle draining a backlog needs no task per pod."""
        if self._closed:
            return None
        queued = self._pop_active()
        if queued is not None:
            queued.attempts += 1
            if queued.initial_attempt is None:
                queued.initial_attempt = self.clock()
            queued.move_seq, queued.updated = self._move_seq, False
            self._in_flight[queued.key] = queued
        return queued

    def done(self, queued: QueuedPod) -> None:
        """The cycle finished with this pod for good (assumed and bound, or dropped)."""
        if self._in_flight.get(queued.key) is queued:
            del self._in_flight[queued.key]

    def add_unschedulable(self, queued: QueuedPod) -> None:
        """No node fits: park the pod until the cluster changes (or backoff, if it already
        did while the pod was in flight)."""
        if not self._land(queued):
            return
        queued.timestamp = self.clock()
        if queued.updated or queued.move_seq != self._move_seq:
            self._push_backoff(queued)
        else:
            self._unschedulable[queued.key] = queued

    def add_backoff(self, queued: QueuedPod) -> None:
        """The attempt failed for another reason (an error, a failed binding): retry after
        the backoff."""
        if self._land(queued):
            queued.timestamp = self.clock()
            self._push_backoff(queued)

    def activate(self, queued: QueuedPod) -> None:
        """Retry at once (a preemptor whose victims are on their way out)."""
        if self._land(queued):
            queued.timestamp = self.clock()
            self._push_active(queued)

    # -- periodic work ---------------------------------------------------------------------

    def flush_backoff(self) -> int:
        """Move pods whose backoff has expired to active; how many moved."""
        now, moved = self.clock(), 0
        while self._backoff_heap and self._backoff_heap[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff_heap)
            queued = self._backoff.get(key)
            if queued is None or queued.seq != seq:
                continue
            del self._backoff[key]
            self._push_active(queued)
            moved += 1
        return moved

    def flush_unschedulable(self) -> int:
        """Move pods unschedulable for longer than ``max_unschedulable``; how many moved."""
        now = self.clock()
        stale = [q for q in self._unschedulable.values()
                 if now - q.timestamp > self.max_unschedulable]
        for queued in stale:
            del self._unschedulable[queued.key]
            self._requeue_after_failure(queued)
        return len(stale)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush backoff every second and unschedulable every 30 s until ``stop``."""
        last_unschedulable = self.clock()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), BACKOFF_FLUSH_PERIOD)
            self.flush_backoff()
            if self.clock() - last_unschedulable >= UNSCHEDULABLE_FLUSH_PERIOD:
                last_unschedulable = self.clock()
                self.flush_unschedulable()

    def close(self) -> None:
        """Wake ``pop()`` callers with ``None``; nothing more is popped."""
        self._closed = True
        self._ready.set()

    # -- looking in ------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Pods per queue (the ``scheduler_pending_pods{queue}`` gauge)."""
        return {ACTIVE: len(self._active), BACKOFF: len(self._backoff),
                UNSCHEDULABLE: len(self._unschedulable), GATED: len(self._gated)}

    def where(self, key: str) -> str | None:
        """Which queue holds the pod ``key`` ("in flight" while popped), or None."""
        return self._find(key)[0]

    def backoff_duration(self, attempts: int) -> float:
        """``initial * 2^(attempts-1)``, capped (``calculateBackoffDuration``)."""
        if attempts <= 0:
            return 0.0
        return min(self.max_backoff, self.initial_backoff * 2.0 ** min(attempts - 1, 62))

    # -- internals -------------------------------------------------------------------------

    def _find(self, key: str) -> tuple[str | None, QueuedPod | None]:
        for name, table in ((ACTIVE, self._active), (BACKOFF, self._backoff),
                            (UNSCHEDULABLE, self._unschedulable), (GATED, self._gated),
                            ("in flight", self._in_flight)):
            queued = table.get(key)
            if queued is not None:
                return name, queued
        return None, None

    def _remove(self, key: str) -> None:
        for table in (self._active, self._backoff, self._unschedulable, self._gated,
                      self._in_flight):
            table.pop(key, None)  # heap entries go stale and are skipped

    def _land(self, queued: QueuedPod) -> bool:
        """Take a popped pod back from flight; False when it was deleted or re-added."""
        if self._in_flight.get(queued.key) is queued:
            del self._in_flight[queued.key]
        return not queued.deleted and self._find(queued.key)[1] is None

    def _enqueue(self, queued: QueuedPod) -> None:
        if _gated(queued.pod):
            self._gated[queued.key] = queued
        else:
            self._push_active(queued)

    def _requeue_after_failure(self, queued: QueuedPod) -> None:
        expiry = queued.timestamp + self.backoff_duration(queued.attempts)
        if expiry > self.clock():
            self._push_backoff(queued)
        else:
            self._push_active(queued)

    def _push_active(self, queued: QueuedPod) -> None:
        queued.seq = next(self._seq)
        self._active[queued.key] = queued
        heapq.heappush(self._active_heap,
                       (-queued.priority, queued.timestamp, queued.seq, queued.key))
        self._ready.set()

    def _push_backoff(self, queued: QueuedPod) -> None:
        queued.seq = next(self._seq)
        self._backoff[queued.key] = queued
        expiry = queued.timestamp + self.backoff_duration(queued.attempts)
        heapq.heappush(self._backoff_heap, (expiry, queued.seq, queued.key))

    def _pop_active(self) -> QueuedPod | None:
        while self._active_heap:
            _, _, seq, key = heapq.heappop(self._active_heap)
            queued = self._active.get(key)
            if queued is not None and queued.seq == seq:
                del self._active[key]
                return queued
        return None
