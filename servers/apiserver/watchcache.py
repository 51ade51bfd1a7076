"""The watch cache: one storage watch for the whole registry, shared by every HTTP watcher.

Like kube-apiserver's cacher: a single watch on `/registry/` feeds a window of recent events
in revision order; each HTTP watch keeps a cursor in that window and takes every new event
under its prefix in one batch, so a hundred watchers cost one storage watch and one write
per batch each, not one storage stream and one write per event each. A watch that starts
before the window falls back to the storage's own replay (or gets Compacted). A watcher that
falls out of the window gets WatchClosed, and re-lists — events are never dropped silently.

The window is bounded in events and in bytes (``WINDOW``, ``WINDOW_BYTES``), and so is each
batch (``BATCH_EVENTS``, ``BATCH_BYTES``): what any watcher can be behind, and what one write
to it can hold, is bounded however slowly it reads (kube bounds its cacher's cyclic buffer
and each cacheWatcher's channel likewise); watch.py closes a watch whose client stops reading.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator

from servers.apiserver.storage import interface as st

log = logging.getLogger(__name__)

ROOT = "/registry/"
WINDOW = 20_000  # events kept for watchers to catch up from ...
WINDOW_BYTES = 64 << 20  # ... and at most this much of their objects
BATCH_EVENTS = 1_000  # what one batch (one write to a watcher) holds at most
BATCH_BYTES = 1 << 20
EVENT_OVERHEAD = 200  # bytes an event costs besides its values (objects, list slots)
RETRY_SECONDS = 0.5


class FellBehind(st.WatchClosed):
    """A watcher fell out of the window: more than it may be behind (it re-lists)."""


def event_size(event: st.Event) -> int:
    """What an event holds in memory, roughly: its values plus a fixed overhead."""
    prev = event.prev_kv
    return len(event.kv.value) + (len(prev.value) if prev is not None else 0) + EVENT_OVERHEAD


class WatchCache:
    def __init__(self, storage: st.Storage, window: int = WINDOW,
                 window_bytes: int = WINDOW_BYTES) -> None:
        self.storage = storage
        self.window = window
        self.window_bytes = window_bytes
        self._revs: list[int] = []
        self._events: list[st.Event] = []
        self._ends: list[int] = []  # bytes of all events appended, up to and with each one
        self._total = 0  # bytes of every event ever appended
        self._oldest = 0  # the cache can serve watches from this revision on
        self._compacted = 0  # new watches from before this revision get Compacted (410)
        self._last = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    async def start(self) -> None:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run())
        await asyncio.shield(self._ready)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._wake()

    async def _run(self) -> None:
        self._oldest = self._last = await self.storage.current_revision()
        assert self._ready is not None
        self._ready.set_result(None)
        while True:
            try:
                async for event in self.storage.watch(ROOT, self._last):
                    self._append(event)
            except st.Compacted:
                # History we had not seen is gone: start a new window; older cursors expire.
                self._oldest = self._last = await self.storage.current_revision()
                self._wake()
            except (st.WatchClosed, st.Unavailable) as exc:
                log.warning("watch cache: storage watch ended (%s); resuming", exc)
            await asyncio.sleep(RETRY_SECONDS)

    def _append(self, event: st.Event) -> None:
        self._revs.append(event.kv.mod_revision)
        self._events.append(event)
        self._total += event_size(event)
        self._ends.append(self._total)
        self._last = event.kv.mod_revision
        if len(self._events) > 2 * self.window or self.held_bytes > self.window_bytes:
            self._trim()
        self._wake()

    @property
    def held_bytes(self) -> int:
        """What the events in the window hold (``event_size``)."""
        return self._ends[-1] - self._ends[0] + event_size(self._events[0]) if self._events else 0

    def _trim(self) -> None:
        """Drop the oldest events, down to ``window`` events and 3/4 of ``window_bytes``
        (in one cut, so trimming is amortized)."""
        keep_from = self._total - self.window_bytes * 3 // 4  # bytes before this may go
        cut = max(len(self._events) - self.window, bisect.bisect_left(self._ends, keep_from))
        cut = min(cut, len(self._events) - 1)  # the newest event always stays
        if cut <= 0:
            return
        self._oldest = self._revs[cut - 1]
        del self._revs[:cut]
        del self._events[:cut]
        del self._ends[:cut]

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _batch_end(self, start: int) -> int:
        """Where a batch from event ``start`` ends: ``BATCH_EVENTS`` and ``BATCH_BYTES`` at
        most, one event at least."""
        before = self._ends[start] - event_size(self._events[start])
        by_bytes = bisect.bisect_right(self._ends, before + BATCH_BYTES, lo=start)
        return max(start + 1, min(start + BATCH_EVENTS, by_bytes))

    def compacted(self, rev: int) -> None:
        """The storage was compacted at ``rev``: a new watch from before it gets Compacted, as
        the README promises (410 after compaction), although the window may still hold its
        events. Watches already running keep their cursors (kube's cacher likewise)."""
        self._compacted = max(self._compacted, rev)

    async def batches(self, prefix: str, after_rev: int) -> AsyncIterator[list[st.Event]]:
        """Every change under `prefix` after `after_rev`, in order, in batches."""
        await self.start()
        if after_rev < self._oldest or after_rev < self._compacted:
            async for event in self.storage.watch(prefix, after_rev):
                yield [event]
            return
        cursor = after_rev
        while True:
            changed = self._changed
            if cursor < self._oldest:
                raise FellBehind("the watcher fell behind the watch cache")
            start = bisect.bisect_right(self._revs, cursor)
            if start < len(self._events):
                new = self._events[start:self._batch_end(start)]
                cursor = new[-1].kv.mod_revision
                batch = [e for e in new if e.kv.key.startswith(prefix)]
                if batch:
                    yield batch
                continue
            if self._task is None or self._task.done():
                raise st.WatchClosed("the watch cache is closed")
            await changed.wait()
