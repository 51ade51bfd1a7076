"""The embedded default backend: one SQLite file in WAL mode, written by one thread.

Layout of ``data_dir``: ``state.db`` (+ ``-wal``/``-shm``) and ``storage.lock``, an exclusive
``flock`` that makes a second apiserver on the same directory fail with ``Unavailable`` instead
of corrupting the revision sequence. The apiserver is the only process that opens the file.

Writes are grouped: callers queue them, the writer thread applies everything queued in one
transaction (each operation checked on its own, so one conflict does not fail its neighbours),
commits once with ``synchronous=FULL`` (one fsync for the group), then the loop publishes the
batch's events to the watchers and resolves the callers' futures. Reads run on a second
connection and thread, so they never wait for the writer. Watch is fed in-process from the
writer's commits; a watcher starting from an older revision first replays the log table.

What this is not: a store shared between processes or hosts (use the etcd backend for that).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import logging
import os
import sqlite3
from typing import TYPE_CHECKING, Any

from . import _sqlite_log as sql
from ._hub import WatchHub
from ._worker import Worker, Writer
from .interface import Compacted, Storage, Unavailable, WatchClosed

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from .interface import Event, KeyValue, ListResult

__all__ = ["DB_FILE", "LOCK_FILE", "SQLiteStorage", "open"]

log = logging.getLogger(__name__)

DB_FILE = "state.db"
LOCK_FILE = "storage.lock"
#: Events a watcher may have buffered before it is closed with WatchClosed.
DEFAULT_WATCH_BUFFER = 10_000
#: Rows read per round trip when a watcher replays history from the table.
REPLAY_PAGE = 500


class SQLiteStorage:
    """``Storage`` on one SQLite file; build it with ``await open(data_dir)``."""

    def __init__(
        self,
        lock_fd: int,
        writer_conn: sqlite3.Connection,
        reader_conn: sqlite3.Connection,
        watch_buffer: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        wal = sql.Log(writer_conn)
        self._lock_fd = lock_fd
        self._compact_rev = wal.compact_rev
        self._hub = WatchHub(wal.rev, watch_buffer)
        self._writer = Writer(writer_conn, loop, wal, self._on_commit)
        self._reader = Worker("km-sqlite-reader", reader_conn, loop)
        self._closed = False

    @property
    def watchers(self) -> int:
        """How many watches are registered (for tests and metrics)."""
        return len(self._hub)

    @property
    def commits(self) -> int:
        """How many write transactions were committed since open (for tests and metrics)."""
        return self._writer.commits

    async def create(self, key: str, value: bytes) -> int:
        result: int = await self._write(sql.Log.create, key, value)
        return result

    async def get(self, key: str) -> KeyValue:
        result: KeyValue = await self._read(sql.get, key)
        return result

    async def update(self, key: str, value: bytes, expected_rev: int) -> int:
        result: int = await self._write(sql.Log.update, key, value, expected_rev)
        return result

    async def delete(self, key: str, expected_rev: int | None = None) -> KeyValue:
        result: KeyValue = await self._write(sql.Log.delete, key, expected_rev)
        return result

    async def list(
        self, prefix: str, *, limit: int = 0, start_key: str | None = None, at_rev: int = 0
    ) -> ListResult:
        result: ListResult = await self._read(sql.list_range, prefix, limit, start_key, at_rev)
        return result

    async def watch(self, prefix: str, after_rev: int) -> AsyncGenerator[Event, None]:
        self._check_open()
        if after_rev < self._compact_rev:
            raise Compacted(after_rev, self._compact_rev)
        # Register first: every event after hub.rev reaches the buffer; older ones come from
        # the table, which already holds them (the hub publishes only after COMMIT).
        watcher = self._hub.register(prefix)
        live_from = self._hub.rev
        try:
            cursor = after_rev
            while cursor < live_from:
                events = await self._replay_page(prefix, after_rev, cursor, live_from)
                for event in events:
                    yield event
                cursor = events[-1].kv.mod_revision if len(events) == REPLAY_PAGE else live_from
            cursor = max(after_rev, live_from)
            while True:
                event = await watcher.get()
                if event.kv.mod_revision > cursor:
                    yield event
        finally:
            self._hub.unregister(watcher)

    async def compact(self, rev: int) -> None:
        await self._write(sql.Log.compact, rev)

    async def current_revision(self) -> int:
        return self._hub.rev

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hub.close("storage closed")
        await self._writer.stop()
        await self._reader.stop()
        os.close(self._lock_fd)

    async def _replay_page(
        self, prefix: str, after_rev: int, cursor: int, upto: int
    ) -> builtins.list[Event]:  # (the list method shadows the builtin in this class)
        if self._closed:
            raise WatchClosed("storage closed")
        events: builtins.list[Event]
        events, compact = await self._read(sql.replay, prefix, cursor, upto, REPLAY_PAGE)
        if cursor < compact:  # compacted while we were replaying: rows may be gone
            raise Compacted(after_rev, compact)
        return events

    def _on_commit(self, events: builtins.list[Event], rev: int, compact_rev: int) -> None:
        self._compact_rev = compact_rev
        self._hub.publish(events, rev)

    def _write(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        self._check_open()
        return self._writer.submit(fn, *args)

    def _read(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        self._check_open()
        return self._reader.submit(fn, *args)

    def _check_open(self) -> None:
        if self._closed:
            msg = "storage is closed"
            raise Unavailable(msg)


async def open(data_dir: str, *, watch_buffer: int = DEFAULT_WATCH_BUFFER) -> SQLiteStorage:
    """Open (creating if needed) the store in data_dir and lock it for this process.

    Raises Unavailable with a one-line reason if the directory cannot be created or written,
    the database cannot be opened, or another process holds the lock.
    """
    lock_fd = await asyncio.to_thread(_lock, data_dir)
    try:
        writer_conn, reader_conn = await asyncio.to_thread(_connect, data_dir)
    except BaseException:
        os.close(lock_fd)
        raise
    log.info("sqlite storage open at %s", os.path.join(data_dir, DB_FILE))
    return SQLiteStorage(lock_fd, writer_conn, reader_conn, watch_buffer)


def _lock(data_dir: str) -> int:
    path = os.path.join(data_dir, LOCK_FILE)
    try:
        os.makedirs(data_dir, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        msg = f"cannot use data dir {data_dir}: {exc.strerror or exc}"
        raise Unavailable(msg) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        msg = f"data dir {data_dir} is in use by another process (lock {path} is held)"
        raise Unavailable(msg) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _connect(data_dir: str) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    path = os.path.join(data_dir, DB_FILE)
    writer = None
    try:
        writer = sql.connect(path, reader=False)
        return writer, sql.connect(path, reader=True)
    except sqlite3.Error as exc:
        if writer is not None:
            with contextlib.suppress(sqlite3.Error):
                writer.close()
        msg = f"cannot open sqlite database {path}: {exc}"
        raise Unavailable(msg) from None


_: type[Storage] = SQLiteStorage
