"""Container log files: CRI lines in, ``kubectl logs`` text out, and rotation.

Files are ``<dir>/<container>/<restartCount>.log`` (kube: /var/log/pods/<ns>_<pod>_<uid>/...),
written by conmon as CRI lines ``<RFC3339Nano> <stdout|stderr> <F|P> <text>``; ``P`` is a
partial chunk of a longer line, joined up to the next ``F`` (kubernetes
``pkg/kubelet/kuberuntime/logs/logs.go``). Rotation moves a file over ``max_size`` to
``<n>.log.<YYYYMMDD-hhmmss>`` and has conmon reopen it, keeping ``max_files`` files in all
(kube's ``pkg/kubelet/logs/container_log_manager.go``, without gzip).
"""

from __future__ import annotations

import asyncio
import glob
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["LogOptions", "files_of", "parse_line", "read_log", "rotate"]

POLL = 0.2  # how often a followed log looks for more


@dataclass
class LogOptions:
    """The kubelet's containerLogs query (kube's PodLogOptions)."""

    follow: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since: float | None = None  # seconds since the epoch


def _epoch(stamp: str) -> float:
    """Seconds from an RFC 3339 time with up to nanosecond digits."""
    main, _, frac = stamp.rstrip("Z").partition(".")
    offset = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, tz = frac.partition(sign)
            offset = sign + tz
    if not frac and ("+" in main[10:] or main.count("-") > 2):
        head = main[:19]
        offset = main[19:]
        main = head
    moment = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    seconds = moment.timestamp() + (float("0." + frac) if frac else 0.0)
    if offset:
        hours, _, minutes = offset[1:].partition(":")
        delta = int(hours or 0) * 3600 + int(minutes or 0) * 60
        seconds -= delta if offset[0] == "+" else -delta
    return seconds


def parse_line(line: bytes) -> tuple[str, str, bool, bytes] | None:
    """(timestamp, stream, full, content) of one CRI line; ``None`` if it is not one."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0].decode("ascii", "replace"), parts[1].decode(), parts[2]
    content = parts[3] if len(parts) > 3 else b""
    return stamp, stream, tag != b"P", content


def files_of(path: str) -> list[str]:
    """The rotated files of ``path``, oldest first (by last write, then name: two rotations
    in one second share a stamp), then ``path`` itself."""
    def age(name: str) -> tuple[float, str]:
        try:
            return os.path.getmtime(name), name
        except OSError:
            return 0.0, name
    return [*sorted(glob.glob(glob.escape(path) + ".*"), key=age), path]


def _chunks(data: bytes) -> list[tuple[str, bytes, bool]]:
    """(timestamp, content, full) per CRI line of ``data`` (whole records, each ending in a
    newline). Split on ``\\n`` only: a ``\\r`` in the content is text, not a record end."""
    out: list[tuple[str, bytes, bool]] = []
    for raw in data.split(b"\n"):
        parsed = parse_line(raw)
        if parsed is not None:
            out.append((parsed[0], parsed[3], parsed[2]))
    return out


def _records(data: bytes) -> list[tuple[str, bytes]]:
    """(timestamp, text) per log line, ``P`` chunks joined to the record that ends them; the
    text of a full line ends with a newline. A partial line left at the end (the container
    printed no newline after it: ``printf 'a\\nb'``) is kept without one, as kube prints a
    partial chunk as it is (``pkg/kubelet/kuberuntime/logs/logs.go`` trims only the CRI
    line's own newline). A line's timestamp is its first chunk's, where kube writes the
    prefix."""
    out: list[tuple[str, bytes]] = []
    pending = b""
    first = ""
    for stamp, content, full in _chunks(data):
        if not pending:
            first = stamp
        pending += content
        if full:
            out.append((first, pending + b"\n"))
            pending = b""
    if pending:
        out.append((first, pending))
    return out


def utc_stamp(stamp: str) -> str:
    """RFC3339Nano in UTC with ``Z``, as kube prints ``--timestamps`` (conmon writes the
    local offset, e.g. ``+00:00``)."""
    if stamp.endswith("Z"):
        return stamp
    seconds = _epoch(stamp)
    whole = int(seconds)
    frac = stamp[19:].split("+")[0].split("-")[0].lstrip(".") if len(stamp) > 19 else ""
    head = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


def _render(records: list[tuple[str, bytes]], opts: LogOptions) -> list[bytes]:
    if opts.since is not None:
        records = [r for r in records if _epoch(r[0]) >= opts.since]
    return [(utc_stamp(stamp).encode() + b" " + text) if opts.timestamps else text
            for stamp, text in records]


def _read_all(path: str) -> tuple[bytes, int, int]:
    """The rotated files and the live one: (whole lines, live offset, live inode)."""
    data = b""
    for name in files_of(path)[:-1]:
        try:
            with open(name, "rb") as f:
                data += f.read()
        except OSError:
            continue
    offset = inode = 0
    try:
        with open(path, "rb") as f:
            chunk = f.read()
            inode = os.fstat(f.fileno()).st_ino
        data += chunk
        offset = len(chunk)
    except OSError:
        pass
    return data, offset, inode


class _Budget:
    """limitBytes: how much more may be written."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def cut(self, line: bytes) -> bytes | None:
        if self.left is None:
            return line
        if self.left <= 0:
            return None
        line = line[:self.left]
        self.left -= len(line)
        return line


async def read_log(path: str, opts: LogOptions,
                   running: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
    """The log's text as kubectl wants it; with ``follow``, more as it comes until
    ``running()`` says the container ended."""
    data, offset, inode = _read_all(path)
    cut = data.rfind(b"\n") + 1
    rest = data[cut:]
    records = _records(data[:cut])
    lines = _render(records, opts)
    if opts.tail_lines is not None:
        lines = lines[-opts.tail_lines:] if opts.tail_lines > 0 else []
    budget = _Budget(opts.limit_bytes)
    for line in lines:
        piece = budget.cut(line)
        if piece is None:
            return
        yield piece
    open_line = bool(records) and not records[-1][1].endswith(b"\n")
    while opts.follow:
        alive = await running()
        chunk, offset, inode = _more(path, offset, inode)
        rest += chunk
        cut = rest.rfind(b"\n") + 1
        for stamp, content, full in _chunks(rest[:cut]):
            piece = budget.cut(_followed(stamp, content, full, open_line, opts.timestamps))
            if piece is None:
                return
            open_line = not full
            yield piece
        rest = rest[cut:]
        if not alive and not chunk:
            return
        await asyncio.sleep(POLL)


def _followed(stamp: str, content: bytes, full: bool, open_line: bool,
              timestamps: bool) -> bytes:
    """One CRI chunk as followed text, sent as it comes (a partial one too, as kube does): the
    timestamp only where a line starts, the newline only where it ends."""
    head = utc_stamp(stamp).encode() + b" " if timestamps and not open_line else b""
    return head + content + (b"\n" if full else b"")


def _more(path: str, offset: int, inode: int) -> tuple[bytes, int, int]:
    """What the live file gained since ``offset`` (from its start if it was rotated)."""
    try:
        with open(path, "rb") as f:
            now = os.fstat(f.fileno()).st_ino
            if now != inode:
                inode, offset = now, 0
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return b"", offset, inode
    return chunk, offset + len(chunk), inode


def rotate(path: str, max_size: int, max_files: int, now: float | None = None) -> bool:
    """Rotate ``path`` if it is over ``max_size``; drop rotated files beyond ``max_files``.
    Returns whether it rotated (the caller then has the monitor reopen the log)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    rotated = False
    if size > max_size:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
        target = f"{path}.{stamp}"
        n = 0
        while os.path.exists(target):
            n += 1
            target = f"{path}.{stamp}.{n}"
        os.rename(path, target)
        rotated = True
    old = files_of(path)[:-1]
    for name in old[:max(0, len(old) - (max_files - 1))]:
        os.unlink(name)
    return rotated
