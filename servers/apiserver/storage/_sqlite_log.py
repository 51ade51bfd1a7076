"""The SQLite schema and queries: one append-only log table whose row id is the revision.

Modelled on kine (k3s-io/kine ``pkg/drivers/generic/generic.go``): every create, update and
delete appends a row; ``created``/``deleted`` mark creates and tombstones (a tombstone carries
the last value); ``prev_revision`` links a row to the key's previous row, and
``UNIQUE(name, prev_revision)`` is the optimistic-concurrency guard. The current state of a key
is its row with the highest id; the state at revision R is its highest row with id <= R.
Unlike kine, ids come from the single writer (``Log.rev + 1``) inside ``BEGIN IMMEDIATE``, so
they are assigned in commit order and no gap filling is needed.

``Log`` is the writer's side (one thread, inside the batch transaction); the module functions
are the readers' side (any connection, each call one consistent snapshot).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .interface import (
    Compacted,
    Event,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionMismatch,
    prefix_end,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS kvlog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kvlog_name_id_index ON kvlog(name, id);
CREATE UNIQUE INDEX IF NOT EXISTS kvlog_name_prev_revision_uindex ON kvlog(name, prev_revision);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# AUTOINCREMENT keeps the highest id ever used in sqlite_sequence, so the revision survives
# compaction deleting the newest row (a tombstone).
_CURRENT_REV = "SELECT seq FROM sqlite_sequence WHERE name = 'kvlog'"
_COMPACT_REV = "SELECT value FROM meta WHERE name = 'compact_rev'"
_SET_COMPACT_REV = "INSERT OR REPLACE INTO meta (name, value) VALUES ('compact_rev', ?)"
_LATEST = (
    "SELECT id, deleted, create_revision, value FROM kvlog WHERE name = ? ORDER BY id DESC LIMIT 1"
)
_INSERT = (
    "INSERT INTO kvlog (id, name, created, deleted, create_revision, prev_revision, value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_COMPACT_SUPERSEDED = (
    "DELETE FROM kvlog WHERE id IN"
    " (SELECT prev_revision FROM kvlog WHERE id > ? AND id <= ? AND prev_revision != 0)"
)
_COMPACT_TOMBSTONES = "DELETE FROM kvlog WHERE id > ? AND id <= ? AND deleted = 1"

# {upper} is " AND name < :upper" when the prefix has an end, "" for the empty prefix.
_LATEST_AT = (
    "SELECT MAX(id) AS id FROM kvlog WHERE name >= :lower{upper} AND id <= :rev GROUP BY name"
)
_LIST = (
    "SELECT k.name, k.value, k.create_revision, k.id FROM kvlog AS k"
    " JOIN (" + _LATEST_AT + ") AS m ON k.id = m.id"
    " WHERE k.deleted = 0 ORDER BY k.name LIMIT :limit"
)
_COUNT = (
    "SELECT COUNT(*) FROM kvlog AS k JOIN (" + _LATEST_AT + ") AS m ON k.id = m.id"
    " WHERE k.deleted = 0"
)
_REPLAY = (
    "SELECT k.id, k.name, k.deleted, k.create_revision, k.value,"
    " p.id, p.deleted, p.create_revision, p.value"
    " FROM kvlog AS k LEFT JOIN kvlog AS p ON p.id = k.prev_revision"
    " WHERE k.id > :after AND k.id <= :upto AND k.name >= :lower{upper}"
    " ORDER BY k.id LIMIT :limit"
)


def _variants(sql: str, column: str) -> tuple[str, str]:
    """The query without (index 0) and with (index 1) an upper bound on the key."""
    return sql.format(upper=""), sql.format(upper=f" AND {column} < :upper")


_LIST_SQL = _variants(_LIST, "name")
_COUNT_SQL = _variants(_COUNT, "name")
_REPLAY_SQL = _variants(_REPLAY, "k.name")


def connect(path: str, *, reader: bool) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL: a commit survives power loss."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    if reader:
        conn.execute("PRAGMA query_only = 1")
        return conn
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(SCHEMA)
    return conn


def revisions(conn: sqlite3.Connection) -> tuple[int, int]:
    """(current revision, compacted revision) as stored."""
    row = conn.execute(_CURRENT_REV).fetchone()
    compact = conn.execute(_COMPACT_REV).fetchone()
    return (row[0] if row else 0), (compact[0] if compact else 0)


class Log:
    """The writer's view: appends rows and records the events of the open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rev, self.compact_rev = revisions(conn)
        self.events: list[Event] = []

    def create(self, key: str, value: bytes) -> int:
        row = self.conn.execute(_LATEST, (key,)).fetchone()
        if row is not None and not row[1]:
            raise KeyExists(key)
        rev = self._append(key, 1, 0, 0, row[0] if row else 0, value)
        self.events.append(Event("PUT", KeyValue(key, value, rev, rev), None))
        return rev

    def update(self, key: str, value: bytes, expected_rev: int) -> int:
        prev = self._current(key, expected_rev)
        rev = self._append(key, 0, 0, prev.create_revision, prev.mod_revision, value)
        self.events.append(Event("PUT", KeyValue(key, value, prev.create_revision, rev), prev))
        return rev

    def delete(self, key: str, expected_rev: int | None) -> KeyValue:
        prev = self._current(key, expected_rev)
        rev = self._append(key, 0, 1, prev.create_revision, prev.mod_revision, prev.value)
        kv = KeyValue(key, prev.value, prev.create_revision, rev)
        self.events.append(Event("DELETE", kv, prev))
        return kv

    def compact(self, rev: int) -> None:
        """Delete rows superseded at or below rev, and tombstones at or below rev."""
        if rev > self.rev:
            raise FutureRevision(rev, self.rev)
        if rev <= self.compact_rev:
            return
        bounds = (self.compact_rev, rev)
        self.conn.execute(_COMPACT_SUPERSEDED, bounds)
        self.conn.execute(_COMPACT_TOMBSTONES, bounds)
        self.conn.execute(_SET_COMPACT_REV, (rev,))
        self.compact_rev = rev

    def _current(self, key: str, expected_rev: int | None) -> KeyValue:
        row = self.conn.execute(_LATEST, (key,)).fetchone()
        if row is None or row[1]:
            raise KeyNotFound(key)
        kv = KeyValue(key, row[3], row[2], row[0])
        if expected_rev is not None and kv.mod_revision != expected_rev:
            raise RevisionMismatch(key, kv)
        return kv

    def _append(
        self, key: str, created: int, deleted: int, create_rev: int, prev_rev: int, value: bytes
    ) -> int:
        rev = self.rev + 1
        self.conn.execute(_INSERT, (rev, key, created, deleted, create_rev or rev, prev_rev, value))
        self.rev = rev
        return rev


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Run several SELECTs in one read transaction (one WAL snapshot)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def get(conn: sqlite3.Connection, key: str) -> KeyValue:
    row = conn.execute(_LATEST, (key,)).fetchone()
    if row is None or row[1]:
        raise KeyNotFound(key)
    return KeyValue(key, row[3], row[2], row[0])


def list_range(
    conn: sqlite3.Connection, prefix: str, limit: int, start_key: str | None, at_rev: int
) -> ListResult:
    """Live keys under prefix from start_key on, as of at_rev (0: now), at most limit (0: all)."""
    upper = prefix_end(prefix)
    variant = 0 if upper is None else 1
    params = {"lower": max(prefix, start_key or ""), "upper": upper, "limit": -1}
    with _snapshot(conn):
        current, compact = revisions(conn)
        rev = _check_rev(at_rev, current, compact)
        params["rev"] = rev
        if limit > 0:
            params["limit"] = limit + 1
        rows = conn.execute(_LIST_SQL[variant], params).fetchall()
        more = 0 < limit < len(rows)
        remaining = 0
        if more:
            total = conn.execute(_COUNT_SQL[variant], params).fetchone()[0]
            remaining = total - limit
            rows = rows[:limit]
    items = [KeyValue(name, value, created, mod) for name, value, created, mod in rows]
    return ListResult(items, rev, more, remaining)


def _check_rev(at_rev: int, current: int, compact: int) -> int:
    if at_rev == 0:
        return current
    if at_rev < compact:
        raise Compacted(at_rev, compact)
    if at_rev > current:
        raise FutureRevision(at_rev, current)
    return at_rev


def replay(
    conn: sqlite3.Connection, prefix: str, after: int, upto: int, limit: int
) -> tuple[list[Event], int]:
    """Events under prefix with after < revision <= upto (at most limit), and the compact rev."""
    upper = prefix_end(prefix)
    params = {"after": after, "upto": upto, "lower": prefix, "upper": upper, "limit": limit}
    with _snapshot(conn):
        rows = conn.execute(_REPLAY_SQL[0 if upper is None else 1], params).fetchall()
        _, compact = revisions(conn)
    return [_event(row) for row in rows], compact


def _event(row: tuple[int, str, int, int, bytes, int | None, int, int, bytes]) -> Event:
    rev, name, deleted, created, value, p_rev, p_deleted, p_created, p_value = row
    prev = None
    if p_rev is not None and not p_deleted:
        prev = KeyValue(name, p_value, p_created, p_rev)
    return Event("DELETE" if deleted else "PUT", KeyValue(name, value, created, rev), prev)
