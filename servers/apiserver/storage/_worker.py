"""A thread that owns one SQLite connection and runs queued jobs in batches.

The event loop submits a job (a function of the connection) and awaits its future; the thread
takes every job queued so far, runs them, and hands all the outcomes back to the loop in one
``call_soon_threadsafe``. ``Writer`` runs a batch in one transaction with one commit (one fsync)
for all of it: group commit. Jobs never touch the loop; outcomes are resolved on the loop.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from .interface import StorageError, Unavailable

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from ._sqlite_log import Log
    from .interface import Event

    Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]

log = logging.getLogger(__name__)

MAX_BATCH = 1024


class Worker:
    """Runs jobs ``fn(conn, *args)`` on its own thread; a reader by default."""

    verb = "read"

    def __init__(self, name: str, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop):
        self.conn = conn
        self.loop = loop
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._stopped: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue fn(target, *args); the future resolves on the loop with its outcome."""
        fut = self.loop.create_future()
        self._queue.put((fn, args, fut))
        return fut

    async def stop(self) -> None:
        """Finish the queued jobs, close the connection, end the thread."""
        self._queue.put(None)
        await self._stopped

    def _run(self) -> None:
        running = True
        while running:
            jobs, running = self._take()
            if jobs:
                self._post(self._resolve, jobs, self._run_guarded(jobs))
        self.conn.close()
        self._post(self._finish)

    def _take(self) -> tuple[list[Job], bool]:
        first = self._queue.get()
        if first is None:
            return [], False
        jobs = [first]
        while len(jobs) < MAX_BATCH:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, False
            jobs.append(job)
        return jobs, True

    def _run_guarded(self, jobs: list[Job]) -> list[Any]:
        # The thread's top level: a bug must fail its batch loudly, not kill the thread and
        # leave every later caller waiting forever.
        try:
            return self.run_batch(jobs)
        except sqlite3.Error as exc:
            msg = f"sqlite {self.verb} failed: {exc}"
        except Exception as exc:
            log.exception("%s: internal error", self._thread.name)
            msg = f"storage internal error: {exc!r}"
        return [Unavailable(msg) for _ in jobs]

    def run_batch(self, jobs: list[Job]) -> list[Any]:
        """Run each job on the connection; an error becomes that job's outcome."""
        outcomes: list[Any] = []
        for fn, args, _ in jobs:
            try:
                outcomes.append(fn(self.conn, *args))
            except StorageError as exc:
                outcomes.append(exc)
            except sqlite3.Error as exc:
                outcomes.append(Unavailable(f"sqlite {self.verb} failed: {exc}"))
        return outcomes

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.debug("event loop closed; dropping %s", callback)

    def _finish(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)

    @staticmethod
    def _resolve(jobs: list[Job], outcomes: list[Any]) -> None:
        for (_, _, fut), outcome in zip(jobs, outcomes, strict=True):
            if fut.done():
                continue
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)


class Writer(Worker):
    """The single writer: jobs ``fn(log, *args)`` grouped into one transaction per batch."""

    verb = "write"

    def __init__(
        self,
        conn: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        wal: Log,
        on_commit: Callable[[list[Event], int, int], None],
    ) -> None:
        self.wal = wal
        self.commits = 0
        self._on_commit = on_commit
        super().__init__("km-sqlite-writer", conn, loop)

    def run_batch(self, jobs: list[Job]) -> list[Any]:
        """Apply every job in one transaction; publish its events only after COMMIT."""
        wal = self.wal
        saved = wal.rev, wal.compact_rev
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._apply(fn, args) for fn, args, _ in jobs]
            self.conn.execute("COMMIT")
            self.commits += 1
        except BaseException:
            self._rollback()
            wal.rev, wal.compact_rev = saved
            wal.events = []
            raise
        events, wal.events = wal.events, []
        self._post(self._on_commit, events, wal.rev, wal.compact_rev)
        return outcomes

    def _apply(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            return fn(self.wal, *args)
        except StorageError as exc:
            return exc

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("sqlite rollback failed")
