"""In-process watch fan-out: committed events go to every registered watcher's bounded buffer.

Lives on the event loop thread. The SQLite backend publishes each committed batch here (in
revision order, after the commit is durable); each watcher is a deque plus at most one waiting
future, so an idle watcher costs a few hundred bytes and no thread. A watcher whose buffer would
exceed its bound is closed with ``WatchClosed`` instead of losing events: the consumer re-lists.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from .interface import WatchClosed

if TYPE_CHECKING:
    from .interface import Event


class Watcher:
    """One registered watch: a bounded buffer of events not yet consumed."""

    __slots__ = ("_buffer", "_closed", "_waiter", "max_buffer", "prefix")

    def __init__(self, prefix: str, max_buffer: int) -> None:
        self.prefix = prefix
        self.max_buffer = max_buffer
        self._buffer: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: str | None = None

    def push(self, events: list[Event]) -> bool:
        """Buffer events; False (and closed) if that would exceed the bound."""
        if self._closed is not None:
            return False
        if len(self._buffer) + len(events) > self.max_buffer:
            self.close(f"watcher fell more than {self.max_buffer} events behind")
            return False
        self._buffer.extend(events)
        self._wake()
        return True

    def close(self, reason: str) -> None:
        """End the watch: the consumer's next get() raises WatchClosed(reason)."""
        if self._closed is None:
            self._closed = reason
            self._buffer.clear()
            self._wake()

    async def get(self) -> Event:
        """The next buffered event, waiting for one; WatchClosed once closed."""
        while True:
            if self._closed is not None:
                raise WatchClosed(self._closed)
            if self._buffer:
                return self._buffer.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class WatchHub:
    """Fans committed events out to watchers, grouped by prefix (few distinct prefixes)."""

    def __init__(self, rev: int, max_buffer: int) -> None:
        self.rev = rev
        self.max_buffer = max_buffer
        self._groups: dict[str, dict[Watcher, None]] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())

    def register(self, prefix: str) -> Watcher:
        """A new watcher for every event published from now on (revisions > self.rev)."""
        watcher = Watcher(prefix, self.max_buffer)
        self._groups.setdefault(prefix, {})[watcher] = None
        return watcher

    def unregister(self, watcher: Watcher) -> None:
        group = self._groups.get(watcher.prefix)
        if group is not None:
            group.pop(watcher, None)
            if not group:
                del self._groups[watcher.prefix]

    def publish(self, events: list[Event], rev: int) -> None:
        """Deliver one committed batch (in revision order) and advance to rev."""
        self.rev = rev
        if not events:
            return
        for prefix, group in list(self._groups.items()):
            matching = [ev for ev in events if ev.kv.key.startswith(prefix)]
            if not matching:
                continue
            for watcher in list(group):
                if not watcher.push(matching):
                    self.unregister(watcher)

    def close(self, reason: str) -> None:
        """Close every watcher (the store is shutting down)."""
        for group in self._groups.values():
            for watcher in group:
                watcher.close(reason)
        self._groups.clear()
