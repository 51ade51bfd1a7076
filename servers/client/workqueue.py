"""A keyed work queue for controllers, with client-go's ``workqueue`` semantics (R18).

    queue = WorkQueue("replicationcontroller")
    queue.add("default/web")                  # from informer handlers: keys only
    key = await queue.get()                   # None once shut down
    try:
        await sync(key); queue.forget(key)    # success: the key's backoff starts over
    except ...:
        queue.add_rate_limited(key)           # failure: back in 5 ms, 10 ms, ... up to 1000 s
    finally:
        queue.done(key)

The rules of ``k8s.io/client-go/util/workqueue/queue.go`` (``Type``: a queue plus the
*dirty* and *processing* sets):

* a key that is already waiting is not queued twice (``add`` is idempotent until ``get``);
* a key being processed is never handed to a second worker: adding it meanwhile marks it
  dirty, and ``done`` puts it back in line once the first worker is finished;
* ``add_after`` waits before adding (``delaying_queue.go``; the earliest pending time wins);
* ``add_rate_limited`` waits per key ``base * 2**failures`` up to ``cap``: 5 ms doubling to
  1000 s, the per-item half of client-go's ``DefaultControllerRateLimiter``
  (``default_rate_limiters.go``); ``forget`` resets a key's count;
* ``shut_down`` drops the backlog and wakes every ``get`` with ``None``; later adds are
  ignored.

``run_workers`` is sample-controller's ``processNextWorkItem`` loop for N workers. Metrics
(``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total``) go to an optional
``QueueMetrics``. Standard library only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["BASE_DELAY", "MAX_DELAY", "QueueMetrics", "WorkQueue", "run_workers"]

log = logging.getLogger(__name__)

# client-go DefaultControllerRateLimiter: ItemExponentialFailureRateLimiter(5ms, 1000s).
BASE_DELAY = 0.005
MAX_DELAY = 1000.0


class QueueMetrics(Protocol):
    """What a queue reports (client-go's ``queueMetrics`` for one queue name)."""

    def added(self) -> None: ...

    def depth(self, value: int) -> None: ...

    def retried(self) -> None: ...


class WorkQueue:
    """A queue of string keys; see the module docstring for the rules."""

    def __init__(self, name: str, *, base_delay: float = BASE_DELAY,
                 max_delay: float = MAX_DELAY, metrics: QueueMetrics | None = None) -> None:
        self.name = name
        self.base_delay, self.max_delay = base_delay, max_delay
        self.metrics = metrics
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: str) -> None:
        """Queue ``key`` unless it is already waiting (or the queue is shut down)."""
        if self._shutting_down or key in self._dirty:
            return
        if self.metrics is not None:
            self.metrics.added()
        self._dirty.add(key)
        if key in self._processing:
            return  # done() queues it again
        self._queue.append(key)
        self._changed()
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _changed(self) -> None:
        if self.metrics is not None:
            self.metrics.depth(len(self._queue))

    async def get(self) -> str | None:
        """The next key (now marked processing), or ``None`` once the queue is shut down."""
        while not self._queue:
            if self._shutting_down:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the wake-up on to another getter
                raise
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._changed()
        return key

    def done(self, key: str) -> None:
        """``key``'s processing is over; if it was added meanwhile, it waits in line again."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._changed()
            self._wake()

    def add_after(self, key: str, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds (at once if ``delay`` <= 0)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._timers[key] = (when, loop.call_at(when, self._fire, key))

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def when(self, key: str) -> float:
        """The delay ``add_rate_limited`` gives ``key`` next (without counting a failure)."""
        failures = self._failures.get(key, 0)
        if failures > 62:  # 2**62 * 5 ms is far past any cap
            return self.max_delay
        return min(self.max_delay, self.base_delay * (2 ** failures))

    def add_rate_limited(self, key: str) -> None:
        """Add ``key`` after its per-key exponential backoff, counting one more failure."""
        delay = self.when(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        if self.metrics is not None:
            self.metrics.retried()
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        """Stop tracking ``key``'s failures (after a successful sync)."""
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    def shut_down(self) -> None:
        """Refuse new keys, drop the keys in line and pending delays, and wake every
        ``get`` with ``None`` (a controller stopping does not finish its backlog)."""
        self._shutting_down = True
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._queue.clear()
        self._dirty.clear()
        self._changed()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


async def run_workers(queue: WorkQueue, sync: Callable[[str], Awaitable[None]], workers: int,
                      stop: asyncio.Event) -> None:
    """Run ``workers`` loops of get → ``sync(key)`` → done until ``stop``; then shut down.

    A sync that raises is logged and its key retried with backoff; one that returns is
    forgotten (its backoff reset), as sample-controller's ``processNextWorkItem``.
    """
    async def worker() -> None:
        while True:
            key = await queue.get()
            if key is None:
                return
            try:
                await sync(key)
            except asyncio.CancelledError:
                raise
            # The one boundary of a controller's key: whatever went wrong is logged and
            # retried later (client-go's utilruntime.HandleError + AddRateLimited).
            except Exception as exc:
                log.info("%s: syncing %r failed (retry %d): %s", queue.name, key,
                         queue.num_requeues(key) + 1, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                queue.add_rate_limited(key)
            else:
                queue.forget(key)
            finally:
                queue.done(key)

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, workers))]
    try:
        await stop.wait()
    finally:
        queue.shut_down()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
