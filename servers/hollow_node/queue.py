"""A keyed work queue for the hollow kubelet's pod syncs (client-go ``workqueue``'s rules).

    queue.add("ns/web")                 # deduplicated while it waits
    key = await queue.get()             # never handed to two workers at once
    ... sync(key) ...
    queue.done(key)                     # a key added meanwhile is queued again now
    queue.retry(key)                    # after a failure: again after a per-key backoff

Handlers enqueue keys, workers call an idempotent sync (STYLE R18); a key added while it is
being processed is marked dirty and queued once the worker is done, so no update is lost and
no key is synced twice at the same time.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["WorkQueue"]


class WorkQueue:
    """Keys waiting (FIFO, deduplicated), keys in process, and per-key retry backoff.

    Failures of a key back off from ``initial`` doubling to ``cap`` seconds; ``forget``
    (call it after a success) resets the count.
    """

    def __init__(self, *, initial: float = 0.2, cap: float = 30.0) -> None:
        self.initial, self.cap = initial, cap
        self._waiting: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._ready = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()

    def __len__(self) -> int:
        return len(self._dirty)

    def add(self, key: str) -> None:
        """Queue ``key`` unless it already waits (or just mark it dirty while processed)."""
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._waiting.append(key)
            self._ready.set()

    async def get(self) -> str:
        """The next key; it stays "processing" until ``done``."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        key = self._waiting.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        """``key`` is processed; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._waiting.append(key)
            self._ready.set()

    def forget(self, key: str) -> None:
        """Reset ``key``'s failure count (it synced)."""
        self._failures.pop(key, None)

    def retry(self, key: str) -> float:
        """Queue ``key`` again after its backoff; returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.cap, self.initial * 2 ** min(failures, 20))
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            self.add(key)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)
        return delay

    def close(self) -> None:
        """Cancel pending retries."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
