"""Watch: newline-delimited JSON events over one chunked response.

    {"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": {...}}

With no resourceVersion (or "0") the watch first sends every current object as ADDED, then
every change after that list; with N it sends every change after N, never skipping or
repeating one (the storage's watch guarantees the order). An object that moves into a
selector is ADDED for that watcher and one that moves out is DELETED. A too-old N, or a
watcher too slow to keep up, gets an ERROR event carrying a 410 Expired Status and the stream
ends: the client re-lists. `timeoutSeconds` ends the stream cleanly; bookmarks come with
`allowWatchBookmarks=true`. Each watch is one coroutine, no thread.

A client that stops reading is dropped: what one write holds is bounded by the watch cache's
batch limits, and a write the socket has not taken within ``WRITE_TIMEOUT_SECONDS`` closes
the connection (logged once, counted in /metrics as apiserver_terminated_watchers_total
{resource}, as is a watcher that falls out of the watch cache's window), as kube's cacher
terminates a watcher whose buffer stays full; the client re-lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from servers.apimachinery import errors, jsonio
from servers.apiserver import codec, tables
from servers.apiserver.metrics import METRICS
from servers.apiserver.registry import parse_rv, too_large_rv
from servers.apiserver.storage import interface as st
from servers.apiserver.stored import decode, raw
from servers.apiserver.watchcache import FellBehind

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.apiserver.registry import Filter, Registry
    from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

MAX_TIMEOUT_SECONDS = 1800
BOOKMARK_SECONDS = 30.0
CONNECTION_CHECK_SECONDS = 1.0  # how soon an idle watch notices its client has gone
WRITE_TIMEOUT_SECONDS = 10.0  # a write not taken by then: the client stopped reading


class _Stream:
    """One watcher's response, with what it needs to turn storage events into watch events."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, target: Target,
                 flt: Filter, table_include: str | None, *, partial: bool = False) -> None:
        self.request = request
        self.partial = partial  # as=PartialObjectMetadata: each object's metadata only
        self.resp = resp
        self.target = target
        self.flt = flt
        self.table_include = table_include
        self.first_table = True
        self.last_rev = 0

    @property
    def closed(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    def line(self, kind: str, obj: Obj) -> bytes:
        if self.table_include is not None and kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = tables.table_for_watch_event(
                self.target.resource, obj, first=self.first_table,
                include_object=self.table_include)  # type: ignore[arg-type]
            self.first_table = False
        elif self.partial and kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = codec.partial_metadata(obj)
        return jsonio.dumps({"type": kind, "object": obj}) + b"\n"

    async def send(self, kind: str, obj: Obj) -> None:
        await self.write(self.line(kind, obj))

    async def batch(self, events: list[st.Event]) -> None:
        """One write for every event of a batch that this watcher is to see."""
        self.last_rev = events[-1].kv.mod_revision
        lines = [self.event_line(ev) for ev in events]
        data = b"".join(line for line in lines if line)
        if data:
            await self.write(data)

    async def write(self, data: bytes) -> None:
        """Write, giving the client ``WRITE_TIMEOUT_SECONDS`` to take it (a timer, not a
        task: this is the fan-out's hot path)."""
        timer = asyncio.get_running_loop().call_later(WRITE_TIMEOUT_SECONDS, self._drop)
        try:
            await self.resp.write(data)
        finally:
            timer.cancel()

    def _drop(self) -> None:
        """The client has not taken a write in time: close its connection. The blocked
        write then fails as if the client had left."""
        transport = self.request.transport
        if transport is None or transport.is_closing():
            return
        log.warning("closing the watch of %s for %s: the client took nothing for %.0f s "
                    "(%d bytes waiting)", self.terminated(), self.request.remote,
                    WRITE_TIMEOUT_SECONDS, transport.get_write_buffer_size())
        transport.abort()

    def terminated(self) -> str:
        """Count this watch in apiserver_terminated_watchers_total; its resource's name."""
        resource = self.target.resource
        name = resource.plural + (f".{resource.group}" if resource.group else "")
        measured = self.request.app.get(METRICS)
        if measured is not None:
            measured.terminated_watchers.labels(name).inc()
        return name

    def event_line(self, ev: st.Event) -> bytes | None:
        kind = "DELETED" if ev.type == "DELETE" else (
            "MODIFIED" if ev.prev_kv is not None else "ADDED")
        if self.flt.everything:
            if self.table_include is None and not self.partial:
                return _shared_line(ev, kind)
            return self.line(kind, decode(ev.kv))
        resource = self.target.resource
        obj = decode(ev.kv)
        now = self.flt.matches(resource, obj)
        if ev.type == "DELETE":
            return self.line("DELETED", obj) if now else None
        before = ev.prev_kv is not None and self.flt.matches(resource, decode(ev.prev_kv))
        if now:
            return self.line("MODIFIED" if before else "ADDED", obj)
        return self.line("DELETED", obj) if before else None

    async def bookmark(self) -> None:
        resource = self.target.resource
        await self.send("BOOKMARK", {"kind": resource.kind, "apiVersion": resource.api_version,
                                     "metadata": {"resourceVersion": str(self.last_rev)}})


_LINES: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
_LINES_KEPT = 4096


def _shared_line(ev: st.Event, kind: str) -> bytes:
    """One event's line, encoded once for every watcher that sends it as is."""
    key = (ev.kv.key, ev.kv.mod_revision, kind)
    line = _LINES.get(key)
    if line is None:
        line = b'{"type":"%s","object":%s}\n' % (kind.encode(), raw(ev.kv))
        _LINES[key] = line
        if len(_LINES) > _LINES_KEPT:
            _LINES.popitem(last=False)
    return line


async def serve(request: web.Request, registry: Registry, target: Target,
                flt: Filter, stopping: asyncio.Event) -> web.StreamResponse:
    """Stream ``target``'s events until the client leaves, ``timeoutSeconds`` pass, the watch
    expires (an ERROR event) or ``stopping`` is set (the server stops: a clean end, and the
    client watches again from its last resourceVersion)."""
    query = request.query
    timeout = codec.int_param(query, "timeoutSeconds") or MAX_TIMEOUT_SECONDS
    bookmarks = codec.bool_param(query, "allowWatchBookmarks")
    start = _start_rev(query.get("resourceVersion", ""))
    wanted = codec.output_as(request.headers.get("Accept"))
    if wanted == codec.PARTIAL_LIST:
        raise codec.not_acceptable_shape(wanted, is_list=False)  # events carry one object
    table = query.get("includeObject", "Metadata") if wanted == codec.TABLE else None
    resp = web.StreamResponse(headers={"Content-Type": codec.JSON,
                                       "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    stream = _Stream(request, resp, target, flt, table, partial=wanted == codec.PARTIAL)
    try:
        if start is None:
            start = await _send_initial(registry, target, stream)
        stream.last_rev = start
        await asyncio.wait_for(_follow(registry, target, stream, start, bookmarks, stopping),
                               timeout=min(timeout, MAX_TIMEOUT_SECONDS))
    except asyncio.TimeoutError:
        pass
    except (st.Compacted, st.WatchClosed) as exc:
        if isinstance(exc, FellBehind):
            stream.terminated()
        await _last_word(stream, _expired(exc, start or 0))
    except st.FutureRevision as exc:
        await _last_word(stream, too_large_rv(exc))
    except ConnectionError:  # the client left mid-write
        return resp
    with contextlib.suppress(ConnectionError):  # ... or just before the end
        await resp.write_eof()
    return resp


async def _last_word(stream: _Stream, error: errors.StatusError) -> None:
    with contextlib.suppress(ConnectionError):
        await stream.send("ERROR", error.to_status())


def _start_rev(value: str) -> int | None:
    """None (send the current state first) for no resourceVersion or "0"."""
    return None if value == "0" else parse_rv(value)


async def _send_initial(registry: Registry, target: Target, stream: _Stream) -> int:
    listed = await registry.list(target, stream.flt)
    for obj in listed["items"]:
        if not target.name or obj["metadata"]["name"] == target.name:
            await stream.send("ADDED", obj)
    return int(listed["metadata"]["resourceVersion"])


async def _follow(registry: Registry, target: Target, stream: _Stream, start: int,
                  bookmarks: bool, stopping: asyncio.Event) -> None:
    events = registry.watch(target, start).__aiter__()
    pending: asyncio.Future[Any] = asyncio.ensure_future(events.__anext__())
    loop = asyncio.get_running_loop()
    next_bookmark = loop.time() + BOOKMARK_SECONDS
    registry.watchers += 1
    try:
        while True:
            wait = min(CONNECTION_CHECK_SECONDS, max(next_bookmark - loop.time(), 0))
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if stream.closed or stopping.is_set():
                return
            if not done:
                if loop.time() >= next_bookmark:
                    next_bookmark = loop.time() + BOOKMARK_SECONDS
                    if bookmarks:
                        await stream.bookmark()
                continue
            try:
                batch = pending.result()
            except StopAsyncIteration:
                return
            await stream.batch(batch)
            pending = asyncio.ensure_future(events.__anext__())
    finally:
        registry.watchers -= 1
        pending.cancel()
        await _close(events)


async def _close(events: Any) -> None:
    # RuntimeError: the generator is already closing from its own pending step.
    with contextlib.suppress(RuntimeError, asyncio.CancelledError):
        await events.aclose()


def _expired(exc: Exception, start: int) -> errors.Gone:
    if isinstance(exc, st.Compacted):
        return errors.Gone(errors.TOO_OLD_RESOURCE_VERSION.format(
            requested=exc.requested_rev, current=exc.compact_rev))
    log.info("closing a watch that fell behind: %s", exc)
    return errors.Gone(errors.TOO_OLD_RESOURCE_VERSION.format(requested=start, current=start))
