"""A log file rotated by size, its backups removed by count and age (for supervised children).

The supervisor (supervisor.py) copies each child's stdout and stderr into `DIR/NAME.log`
through a `RotatingLog`, as Kubernetes-Mesos' minion did with lumberjack
(gopkg.in/natefinch/lumberjack.v2): when a write would take the file past `max_size`, the file
is renamed to a backup stamped with the time, `NAME-2026-12-06T10-27-08.123.log` (lumberjack's
name format, in UTC), and a new one is started. After each rotation, backups beyond the newest
`max_backups` and backups older than `max_age` (by modification time) are removed; 0 turns
either limit off. Files are cut between lines; only a line longer than `max_size` is cut
within.

Sizes and durations are read the way the flags spell them: `10Mi`, `168h`.
"""

from __future__ import annotations

import os
import re
import time

from hyperkube import messages as msg

_SIZE = re.compile(r"(\d+)(Ki|Mi|Gi|K|M|G)?")
_UNITS = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_DURATION = re.compile(r"(\d+(?:\.\d*)?)(h|ms|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_STAMP = "%Y-%m-%dT%H-%M-%S"


def parse_size(text: str) -> int:
    """Bytes in `text`: a whole number with an optional suffix (Ki, Mi, Gi, K, M, G)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(msg.BAD_SIZE.format(value=text))
    return int(match[1]) * _UNITS[match[2]]


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration: `168h`, `1h30m`, `90s`, `500ms` (or a bare 0)."""
    text = text.strip()
    if text == "0":
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(msg.BAD_DURATION.format(value=text))
    return sum(float(n) * _SECONDS[u] for n, u in parts)


class RotatingLog:
    """Append-only bytes to `path`, rotated at `max_size` bytes (see the module docstring)."""

    def __init__(self, path: str, *, max_size: int, max_backups: int = 0,
                 max_age: float = 0.0) -> None:
        self.path = path
        self.max_size = max_size
        self.max_backups = max_backups
        self.max_age = max_age
        self._stem, self._ext = os.path.splitext(path)
        self._fd = self._open()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(fd).st_size
        return fd

    def write(self, data: bytes) -> None:
        """Append `data`, rotating first whenever the next whole lines would not fit."""
        view = memoryview(data)
        while view:
            room = self.max_size - self.size
            if self.max_size <= 0 or len(view) <= room:
                self._write(view)
                return
            # As many whole lines as fit; a line longer than a whole file is cut.
            cut = bytes(view[:max(room, 0)]).rfind(b"\n") + 1
            if cut == 0 and self.size == 0:
                cut = self.max_size
            if cut:
                self._write(view[:cut])
                view = view[cut:]
            if view:
                self.rotate()

    def _write(self, view: memoryview) -> None:
        self.size += len(view)
        while view:
            view = view[os.write(self._fd, view):]

    def rotate(self) -> str:
        """Move the current file to a stamped backup, start a new one, prune; the backup's path."""
        os.close(self._fd)
        backup = self._backup_name()
        os.rename(self.path, backup)
        self._fd = self._open()
        self.prune()
        return backup

    def _backup_name(self) -> str:
        now = time.time()
        stamp = time.strftime(_STAMP, time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
        name, n = f"{self._stem}-{stamp}{self._ext}", 1
        while os.path.exists(name):  # two rotations in one millisecond
            n += 1
            name = f"{self._stem}-{stamp}-{n}{self._ext}"
        return name

    def backups(self) -> list[str]:
        """This log's backups, oldest first."""
        folder, base = os.path.split(self._stem)
        pattern = re.compile(re.escape(base) + r"-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}(-\d+)?"
                             + re.escape(self._ext))
        found = [os.path.join(folder, n) for n in os.listdir(folder or ".")
                 if pattern.fullmatch(n)]
        return sorted(found, key=lambda p: (os.path.getmtime(p), p))

    def prune(self) -> list[str]:
        """Remove backups beyond `max_backups` and older than `max_age`; the removed paths."""
        backups = self.backups()
        doomed = backups[:-self.max_backups] if self.max_backups else []
        if self.max_age:
            cutoff = time.time() - self.max_age
            doomed += [p for p in backups if p not in doomed and os.path.getmtime(p) < cutoff]
        for path in doomed:
            os.unlink(path)
        return doomed

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
