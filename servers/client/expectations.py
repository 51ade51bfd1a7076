"""Controller expectations: the creates and deletes a controller is waiting to see (R18).

    expectations.expect_creations("ns/web", 3)       # before three POSTs
    expectations.creation_observed("ns/web")         # the informer saw one of them
    if expectations.satisfied("ns/web"): ...         # only then compare desired with actual

A controller that creates pods and syncs again before its informer has seen them would
create them twice; so, as ``pkg/controller/controller_utils.go`` (``ControllerExpectations``
and ``UIDTrackingControllerExpectations``), it records what it expects and does not manage
that object again until every expected event was observed or ``ttl`` seconds (5 minutes, kube's
``ExpectationsTimeout``) passed, in case a watch dropped one. Deletions are tracked by pod uid
so a graceful delete (deletionTimestamp set, then the real delete) counts once.
Standard library only; not thread-safe (one event loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["EXPECTATIONS_TIMEOUT", "Expectations"]

EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class _Record:
    adds: int
    deletes: set[str] = field(default_factory=set)
    stamp: float = 0.0


class Expectations:
    """Pending creates (a count) and deletes (pod uids) per controller key."""

    def __init__(self, *, ttl: float = EXPECTATIONS_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending for ``key`` (or it was set longer than ``ttl`` ago)."""
        record = self._records.get(key)
        if record is None:
            return True
        if record.adds <= 0 and not record.deletes:
            return True
        return self.clock() - record.stamp > self.ttl

    def pending(self, key: str) -> tuple[int, int]:
        """(creates, deletes) still expected for ``key``."""
        record = self._records.get(key)
        return (0, 0) if record is None else (max(record.adds, 0), len(record.deletes))

    def expect_creations(self, key: str, count: int) -> None:
        """Expect ``count`` creates (replacing earlier expectations of ``key``)."""
        self._records[key] = _Record(count, set(), self.clock())

    def expect_deletions(self, key: str, uids: Iterable[str]) -> None:
        """Expect the deletion of these pods (replacing earlier expectations of ``key``)."""
        self._records[key] = _Record(0, set(uids), self.clock())

    def creation_observed(self, key: str, count: int = 1) -> None:
        """One (or ``count``) expected create was seen, or will never happen."""
        record = self._records.get(key)
        if record is not None:
            record.adds -= count

    def deletion_observed(self, key: str, uid: str) -> None:
        """The pod ``uid`` was seen deleted (or its delete failed: it will not be seen)."""
        record = self._records.get(key)
        if record is not None:
            record.deletes.discard(uid)

    def forget(self, key: str) -> None:
        """Drop ``key``'s expectations (its controller object is gone)."""
        self._records.pop(key, None)
