"""The etcd backend: the storage contract over etcd's v3 JSON gateway (no gRPC stack needed).

Each verb is the transaction kube-apiserver itself sends (and kine accepts, see kine
``pkg/server/limited.go``): create = "if mod_revision(key) == 0 then put"; update and delete =
"if mod_revision(key) == R then put/delete else range", so the failure branch returns the
current kv for ``RevisionMismatch``. Revisions, durability (raft commit + fsync before the
answer), history and compaction are etcd's own. A watch is one streaming POST from
``after_rev + 1`` with ``prev_kv``; a compacted start revision comes back as a canceled watch
and is raised as ``Compacted``. If a stream breaks, the watch resumes after the last event it
delivered (on the next endpoint if need be), so nothing is skipped or repeated.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from . import _etcd_wire as wire
from ._etcd_gateway import Canceled, Gateway, StreamLost, WatchStream
from .interface import (
    Compacted,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionMismatch,
    Storage,
    Unavailable,
    WatchClosed,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from .interface import Event

__all__ = ["EtcdStorage", "open"]

log = logging.getLogger(__name__)

#: How long to wait for etcd's answer when asking it for its compacted revision.
PROBE_TIMEOUT = 5.0
#: A watch whose stream breaks this many times in a row without an event is closed.
MAX_RESUMES = 3
#: Seconds to wait before the n-th resume in a row (times n - 1).
RESUME_BACKOFF = 0.2


class EtcdStorage:
    """``Storage`` on an etcd cluster; build it with ``await open(endpoints)``."""

    def __init__(self, gateway: Gateway) -> None:
        self._gw = gateway
        self._streams: set[WatchStream] = set()
        self._closed = False

    async def create(self, key: str, value: bytes) -> int:
        put = {"request_put": {"key": wire.b64(key), "value": wire.b64(value)}}
        resp = await self._call("kv/txn", {"compare": [wire.compare_mod(key, 0)], "success": [put]})
        if not resp.get("succeeded"):
            raise KeyExists(key)
        return wire.revision(resp)

    async def get(self, key: str) -> KeyValue:
        resp = await self._call("kv/range", {"key": wire.b64(key)})
        kvs = resp.get("kvs")
        if not kvs:
            raise KeyNotFound(key)
        return wire.kv(kvs[0])

    async def update(self, key: str, value: bytes, expected_rev: int) -> int:
        if expected_rev <= 0:  # mod_revision 0 would match an absent key: a create
            raise RevisionMismatch(key, await self.get(key))
        put = {"request_put": {"key": wire.b64(key), "value": wire.b64(value)}}
        resp = await self._call("kv/txn", wire.txn(key, expected_rev, put))
        if not resp.get("succeeded"):
            self._raise_failed(key, resp)
        return wire.revision(resp)

    async def delete(self, key: str, expected_rev: int | None = None) -> KeyValue:
        request = {"key": wire.b64(key), "prev_kv": True}
        if expected_rev is None:
            resp = await self._call("kv/deleterange", request)
            deleted = resp
        else:
            if expected_rev <= 0:
                raise RevisionMismatch(key, await self.get(key))
            resp = await self._call(
                "kv/txn", wire.txn(key, expected_rev, {"request_delete_range": request})
            )
            if not resp.get("succeeded"):
                self._raise_failed(key, resp)
            deleted = resp["responses"][0]["response_delete_range"]
        prev = deleted.get("prev_kvs")
        if not prev:
            raise KeyNotFound(key)
        last = wire.kv(prev[0])
        return KeyValue(key, last.value, last.create_revision, wire.revision(resp))

    async def list(
        self, prefix: str, *, limit: int = 0, start_key: str | None = None, at_rev: int = 0
    ) -> ListResult:
        body = wire.prefix_range(prefix, start_key)
        if limit > 0:
            body["limit"] = str(limit)
        if at_rev > 0:
            body["revision"] = str(at_rev)
        try:
            resp = await self._call("kv/range", body)
        except wire.GatewayError as exc:
            raise await self._revision_error(exc, at_rev) from None
        items = [wire.kv(kv) for kv in resp.get("kvs", [])]
        more = bool(resp.get("more"))
        remaining = int(resp.get("count", 0)) - len(items) if more else 0
        return ListResult(items, at_rev or wire.revision(resp), more, remaining)

    async def watch(self, prefix: str, after_rev: int) -> AsyncGenerator[Event, None]:
        cursor, lost = after_rev, 0
        stream = await self._open_watch(prefix, cursor)
        try:
            while True:
                try:
                    events = await stream.next_events()
                except Canceled as exc:
                    if exc.compact_revision:
                        raise Compacted(after_rev, exc.compact_revision) from None
                    raise WatchClosed(exc.reason) from None
                except StreamLost as exc:
                    stream.close()
                    self._streams.discard(stream)
                    lost += 1
                    stream = await self._resume_watch(prefix, cursor, exc, lost)
                    continue
                lost = 0
                for event in events:
                    cursor = event.kv.mod_revision
                    yield event
        finally:
            stream.close()
            self._streams.discard(stream)

    async def compact(self, rev: int) -> None:
        try:
            await self._call("kv/compaction", {"revision": str(rev), "physical": True})
        except wire.GatewayError as exc:
            if wire.COMPACTED_MSG in exc.message:
                return  # already compacted at or after rev: nothing to do
            raise await self._revision_error(exc, rev) from None

    async def current_revision(self) -> int:
        resp = await self._call("kv/range", {"key": wire.b64("\0"), "count_only": True})
        return wire.revision(resp)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stream in list(self._streams):
            stream.close()
        await self._gw.close()

    async def _call(self, path: str, body: wire.Msg) -> wire.Msg:
        if self._closed:
            msg = "storage is closed"
            raise Unavailable(msg)
        return await self._gw.call(path, body)

    def _raise_failed(self, key: str, resp: wire.Msg) -> None:
        current = wire.failed_kv(resp)
        if current is None:
            raise KeyNotFound(key)
        raise RevisionMismatch(key, current)

    async def _revision_error(self, exc: wire.GatewayError, rev: int) -> Exception:
        if wire.COMPACTED_MSG in exc.message:
            return Compacted(rev, await self._compact_revision())
        if wire.FUTURE_MSG in exc.message:
            return FutureRevision(rev, await self.current_revision())
        return exc

    async def _open_watch(self, prefix: str, cursor: int) -> WatchStream:
        if self._closed:
            msg = "storage is closed"
            raise Unavailable(msg)
        create = wire.prefix_range(prefix)
        create.update(start_revision=str(cursor + 1), prev_kv=True)
        stream = await self._gw.stream("watch", {"create_request": create})
        self._streams.add(stream)
        return stream

    async def _resume_watch(
        self, prefix: str, cursor: int, lost: StreamLost, attempt: int
    ) -> WatchStream:
        """Reopen a broken watch after the last delivered event; WatchClosed if we cannot."""
        if self._closed:
            raise WatchClosed("storage closed")
        if attempt > MAX_RESUMES:
            raise WatchClosed(f"{lost} ({attempt} times in a row)")
        log.debug("watch %s lost (%s); resuming after %d", prefix, lost, cursor)
        await asyncio.sleep(RESUME_BACKOFF * (attempt - 1))
        try:
            return await self._open_watch(prefix, cursor)
        except Unavailable as exc:
            raise WatchClosed(f"{lost}; {exc}") from None

    async def _compact_revision(self) -> int:
        """etcd's compacted revision: a watch from revision 1 is canceled with it."""
        create = {"key": wire.b64("\0"), "start_revision": "1"}
        stream = await self._gw.stream("watch", {"create_request": create})
        try:
            await asyncio.wait_for(stream.next_events(), PROBE_TIMEOUT)
        except Canceled as exc:
            return exc.compact_revision
        except (asyncio.TimeoutError, StreamLost):
            pass
        finally:
            stream.close()
        return 0


async def open(endpoints: list[str]) -> EtcdStorage:
    """Connect to an etcd cluster through the first reachable endpoint.

    Raises Unavailable (naming an endpoint, never its credentials) if none answers.
    """
    if not endpoints:
        msg = "no etcd endpoints given"
        raise Unavailable(msg)
    store = EtcdStorage(Gateway(endpoints))
    try:
        rev = await store.current_revision()
    except BaseException:
        await store.close()
        raise
    log.info("etcd storage at revision %d", rev)
    return store


_: type[Storage] = EtcdStorage
