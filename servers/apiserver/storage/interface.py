"""The storage contract: a revisioned key-value store with watch, the subset of etcd km needs.

Every write (create, update, delete) gets a new revision, cluster-wide and strictly increasing,
and is acknowledged only once it is durable. A key's ``create_revision`` is the revision that
created it, its ``mod_revision`` the revision of its last write; ``mod_revision`` is what the
apiserver shows as ``metadata.resourceVersion``. History is kept until ``compact(rev)``; reads
and watches from before the compacted revision raise ``Compacted`` (the apiserver's 410 Gone).

This is deliberately not a general-purpose etcd: no leases, no multi-key transactions, no
range deletes. Values are opaque bytes; the store never parses them.

Errors (plain Python, no HTTP; the apiserver maps them to API errors at its registry seam)::

    * StorageError
      x KeyExists          create of a live key                       -> 409 AlreadyExists
      x KeyNotFound        get/update/delete of an absent key         -> 404 NotFound
      x RevisionMismatch   update/delete with a stale expected_rev    -> 409 Conflict
      x Compacted          list/watch from before the compaction      -> 410 Expired
      x FutureRevision     list/compact at a revision not yet written -> 504 Timeout (retry)
      x Unavailable        backend down, unreachable or locked        -> 503 / exit 1
      x WatchClosed        a watcher fell too far behind; re-list     -> 410 Expired
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "Compacted",
    "Event",
    "FutureRevision",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "ListResult",
    "RevisionMismatch",
    "Storage",
    "StorageError",
    "Unavailable",
    "WatchClosed",
    "prefix_end",
]


@dataclass(frozen=True)
class KeyValue:
    """One version of a key: its value and the revisions that created and last wrote it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True)
class Event:
    """One change, as a watcher sees it.

    PUT: ``kv`` is the new version; ``prev_kv`` the version it replaced (None for a create).
    DELETE: ``kv.mod_revision`` is the revision of the delete and ``kv.value`` the last value
    before it (so a watcher can send the deleted object); ``prev_kv`` is that last version with
    its own ``mod_revision``.
    """

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None


@dataclass(frozen=True)
class ListResult:
    """One page of a list, read at store revision ``revision``.

    ``more`` is true when ``limit`` cut the page; ``remaining`` counts the live keys after it.
    The next page starts just after the last item's key and is read at the same revision.
    """

    items: list[KeyValue]
    revision: int
    more: bool
    remaining: int


class StorageError(Exception):
    """Base of every storage error."""


class KeyExists(StorageError):
    """create() of a key that exists (and is not deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFound(StorageError):
    """get/update/delete of a key that does not exist (or was deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class RevisionMismatch(StorageError):
    """update/delete whose expected_rev is not the key's mod_revision; carries the current kv."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        rev = current.mod_revision if current else 0
        super().__init__(f"revision mismatch on {key}: current revision is {rev}")
        self.key = key
        self.current = current


class Compacted(StorageError):
    """A list or watch asked for history older than the compacted revision."""

    def __init__(self, requested_rev: int, compact_rev: int) -> None:
        super().__init__(
            f"required revision {requested_rev} has been compacted (compacted at {compact_rev})"
        )
        self.requested_rev = requested_rev
        self.compact_rev = compact_rev


class FutureRevision(StorageError):
    """A list or compaction named a revision the store has not reached yet."""

    def __init__(self, requested_rev: int, current_rev: int) -> None:
        super().__init__(
            f"required revision {requested_rev} is a future revision (current {current_rev})"
        )
        self.requested_rev = requested_rev
        self.current_rev = current_rev


class Unavailable(StorageError):
    """The backend is down, unreachable, closed or locked. Messages never echo credentials."""


class WatchClosed(StorageError):
    """The watch ended before its consumer did (too slow, or the store closed): re-list."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"watch closed: {reason}")
        self.reason = reason


class Storage(Protocol):
    """What the apiserver needs from a backend. Every method may raise ``Unavailable``."""

    async def create(self, key: str, value: bytes) -> int:
        """Store a new key; return its revision. KeyExists if the key is live."""
        ...

    async def get(self, key: str) -> KeyValue:
        """The key's current version. KeyNotFound if absent or deleted."""
        ...

    async def update(self, key: str, value: bytes, expected_rev: int) -> int:
        """Replace the value if the key's mod_revision is expected_rev; return the new revision.

        KeyNotFound if absent; RevisionMismatch (with the current kv) on a stale expected_rev.
        """
        ...

    async def delete(self, key: str, expected_rev: int | None = None) -> KeyValue:
        """Delete the key (if its mod_revision is expected_rev, when given).

        Returns the last value with ``mod_revision`` = the delete's revision.
        KeyNotFound if absent; RevisionMismatch on a stale expected_rev.
        """
        ...

    async def list(
        self, prefix: str, *, limit: int = 0, start_key: str | None = None, at_rev: int = 0
    ) -> ListResult:
        """Live keys under prefix that are >= start_key, sorted by key, as of at_rev.

        ``limit`` 0 means all; ``at_rev`` 0 means the current revision. Compacted if at_rev is
        below the compacted revision, FutureRevision if above the current one.
        """
        ...

    def watch(self, prefix: str, after_rev: int) -> AsyncGenerator[Event, None]:
        """Every change under prefix with revision > after_rev, in revision order, once each.

        An async iterator with ``aclose()`` (implementations are async generators): use
        ``async with contextlib.aclosing(store.watch(prefix, rev)) as events: async for ...``.

        Raises Compacted at the first iteration if after_rev is older than the retained
        history, and WatchClosed (instead of dropping events) if the consumer falls too far
        behind. Closing the iterator (aclose, or cancelling its consumer) frees everything.
        """
        ...

    async def compact(self, rev: int) -> None:
        """Discard history at or below rev (the state at rev stays readable)."""
        ...

    async def current_revision(self) -> int:
        """The revision of the last acknowledged write (0 for an empty store)."""
        ...

    async def close(self) -> None:
        """Release every connection, thread and lock. Open watches end with WatchClosed."""
        ...


def prefix_end(prefix: str) -> str | None:
    """The smallest key greater than every key starting with prefix (None: no bound).

    Like etcd's ``clientv3.GetPrefixRangeEnd``, on code points instead of bytes.
    """
    stripped = prefix.rstrip(chr(0x10FFFF))
    if not stripped:
        return None
    nxt = ord(stripped[-1]) + 1
    if nxt == 0xD800:  # surrogates cannot be encoded; the next encodable code point
        nxt = 0xE000
    return stripped[:-1] + chr(nxt)
