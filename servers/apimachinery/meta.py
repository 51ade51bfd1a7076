"""Object basics shared by the apiserver and the clients: the ``Obj`` alias, timestamps, uids.

Kubernetes objects are plain JSON dicts here (``Obj``), shaped exactly like Kubernetes' own, so
real clients decode them. Timestamps are RFC 3339 in UTC with second precision and a ``Z``
suffix, the way ``metav1.Time`` marshals (``2026-11-28T12:00:00Z``).

This module is not a typed object model: there are no classes per kind, only helpers.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["Obj", "format_rfc3339", "new_uid", "now_rfc3339", "parse_rfc3339"]

Obj = dict[str, Any]
"""A Kubernetes object (or any JSON object) as decoded by ``json.loads``."""

# RFC 3339 date-time: full-date "T" full-time, with optional fraction and a Z or +hh:mm offset.
# Python 3.10's datetime.fromisoformat() accepts neither "Z" nor more than 6 fraction digits
# (Go's RFC3339Nano writes up to 9), so the string is taken apart here.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def now_rfc3339() -> str:
    """Return the current UTC time as ``YYYY-MM-DDTHH:MM:SSZ`` (seconds precision)."""
    second = int(time.time())
    cached = _NOW[0]
    if cached[0] != second:  # every write asks; format once a second
        cached = (second, format_rfc3339(datetime.fromtimestamp(second, timezone.utc)))
        _NOW[0] = cached
    return cached[1]


_NOW: list[tuple[int, str]] = [(-1, "")]
_RANDOM: list[str] = []


def _random_hex() -> str:
    """32 random hex digits; the kernel is asked for 256 uids' worth at a time."""
    if not _RANDOM:
        pool = os.urandom(16 * 256).hex()
        _RANDOM.extend(pool[i:i + 32] for i in range(0, len(pool), 32))
    return _RANDOM.pop()


def format_rfc3339(moment: datetime) -> str:
    """Render ``moment`` like ``metav1.Time``: converted to UTC, fraction dropped, ``Z`` suffix.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    # Not strftime("%Y"): glibc leaves years before 1000 unpadded, Go's layout does not.
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or numeric offset, up to 9 fraction digits).

    Returns an aware datetime in UTC. Fractions beyond microseconds are truncated.
    Raises ``ValueError`` if ``text`` is not an RFC 3339 date-time.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        msg = f"not an RFC 3339 timestamp: {text!r}"
        raise ValueError(msg)
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    offset = timedelta(0)
    if match.group(9):
        sign = -1 if match.group(9) == "-" else 1
        offset = sign * timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
    moment = datetime(year, month, day, hour, minute, second, int(fraction),
                      tzinfo=timezone(offset))
    return moment.astimezone(timezone.utc)


def new_uid() -> str:
    """Return a fresh object uid: a random (version 4) UUID in its canonical string form.

    Built from 16 random bytes directly, as uuid.uuid4() would, at a third of its cost.
    """
    h = _random_hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"
