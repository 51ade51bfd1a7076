"""Periodic work for thousands of names, spread evenly over the period, bounded in flight.

    spread = Spread(10.0, renew_lease, slots=5000, concurrency=32)
    spread.add("hollow-17", slot=17)      # due at the 17/5000th of every period
    await spread.run(stop)

Name ``slot`` of ``slots`` runs at ``epoch + period * slot / slots`` modulo the period, so
5,000 leases renewed every 10 s make 500 evenly spaced writes a second rather than a burst
every 10 s (kube's kubelets are spread by their start times and 4 % jitter; one process must
spread its own). At most ``concurrency`` actions are in flight: when the apiserver is slow,
later names wait for a free slot instead of piling up requests (back-pressure), and a name
never has two actions at once. An action handles the API's errors itself and returns True
on success; after a failure the name is tried again after a backoff (``retry`` doubling,
capped at the period) rather than a whole period later, as the kubelet's lease controller
retries (200 ms up to 7 s). Any other exception from an action ends ``run`` with it.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Spread", "SpreadStats"]

_TICK = 0.02        # due names are started in batches at most this often
_IDLE = 0.1         # the loop looks at stop and new names at least this often


@dataclass
class SpreadStats:
    """What a Spread did: actions done and failed, and the worst start delay seen."""

    done: int = 0
    failed: int = 0
    max_delay: float = 0.0


class Spread:
    """Run ``action(name)`` once per ``period`` for every added name; see the module doc."""

    def __init__(self, period: float, action: Callable[[str], Awaitable[bool]], *,
                 slots: int, concurrency: int = 32, retry: float = 0.2) -> None:
        self.period = period
        self.action = action
        self.slots = max(1, slots)
        self.retry = retry
        self.stats = SpreadStats()
        self._limit = asyncio.Semaphore(concurrency)
        self._heap: list[tuple[float, int, str]] = []
        self._names: dict[str, int] = {}     # name -> slot
        self._failures: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._epoch = asyncio.get_running_loop().time()
        self._seq = 0
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._names)

    def take_stats(self) -> SpreadStats:
        """The stats since the last call (and start counting anew)."""
        stats, self.stats = self.stats, SpreadStats()
        return stats

    def add(self, name: str, slot: int) -> None:
        """Start doing ``name`` at its slot's next time (within one period from now)."""
        if name in self._names:
            return
        self._names[name] = slot
        self._push(self._next_due(slot, asyncio.get_running_loop().time()), name)

    def remove(self, name: str) -> None:
        """Stop doing ``name`` (an action in flight finishes)."""
        self._names.pop(name, None)
        self._failures.pop(name, None)

    def _next_due(self, slot: int, after: float) -> float:
        phase = self._epoch + self.period * (slot % self.slots) / self.slots
        periods = (after - phase) // self.period + 1
        return phase + periods * self.period

    def _push(self, due: float, name: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, name))

    async def run(self, stop: asyncio.Event) -> None:
        """Start due actions until ``stop``; then wait for those in flight."""
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                if self._error is not None:  # actions own their API errors: this is a bug
                    raise self._error
                now = loop.time()
                while self._heap and self._heap[0][0] <= now and not stop.is_set():
                    due, _, name = heapq.heappop(self._heap)
                    if name in self._names:
                        await self._limit.acquire()
                        self._start(name, due, loop.time())
                wait = self._heap[0][0] - loop.time() if self._heap else _IDLE
                await asyncio.sleep(min(_IDLE, max(_TICK, wait)))
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, name: str, due: float, now: float) -> None:
        self.stats.max_delay = max(self.stats.max_delay, now - due)
        task = asyncio.ensure_future(self._do(name, due))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()

    async def _do(self, name: str, due: float) -> None:
        try:
            ok = await self.action(name)
        finally:
            self._limit.release()
        slot = self._names.get(name)
        if slot is None:
            return
        now = asyncio.get_running_loop().time()
        nxt = self._next_due(slot, max(now, due))
        if ok:
            self.stats.done += 1
            self._failures.pop(name, None)
        else:
            self.stats.failed += 1
            failures = self._failures.get(name, 0)
            self._failures[name] = failures + 1
            nxt = min(nxt, now + min(self.period, self.retry * 2 ** min(failures, 16)))
        self._push(nxt, name)
