"""Stopping a recorded km server and the process groups of its children.

The server is the process of the record's pid *and* start time (record.py), so a pid reused
by another program is left alone. Its children are the processes whose parent it is (km
minion's kubelet, proxy and dns, each leading its own process group); they are read before
the server is stopped, since its stop (or death) orphans them. Stop: SIGTERM to the server,
SIGKILL after ``grace``; then what is left of each child's group gets SIGTERM, and SIGKILL a
moment later, as the minion's supervisor does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from servers.cleanup.record import NodeRecord, start_time

POLL = 0.05
GROUP_GRACE = 5.0


def running(rec: NodeRecord) -> bool:
    """Whether the recorded process is still the one that wrote the record."""
    return rec.pid > 0 and rec.start > 0 and start_time(rec.pid) == rec.start and not _zombie(
        rec.pid)


def children(pid: int) -> list[int]:
    """Pids of the live children of ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def stop(rec: NodeRecord, grace: float, group_grace: float = GROUP_GRACE) -> list[str]:
    """Stop the recorded server and its children's groups; what it had to SIGKILL."""
    groups = [p for p in children(rec.pid) if _pgid(p) == p]
    killed = []
    with contextlib.suppress(ProcessLookupError):
        os.kill(rec.pid, signal.SIGTERM)
    if not _wait(lambda: not running(rec), grace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, signal.SIGKILL)
        killed.append(f"pid {rec.pid}")
        _wait(lambda: not running(rec), grace)
    for pgid in groups:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGTERM)
            if not _wait(lambda g=pgid: not _group_alive(g), group_grace):  # type: ignore[misc]
                _signal_group(pgid, signal.SIGKILL)
                killed.append(f"process group {pgid}")
                _wait(lambda g=pgid: not _group_alive(g), GROUP_GRACE)  # type: ignore[misc]
    return killed


def kill_all(pids: list[int]) -> None:
    """SIGKILL each of ``pids`` (pod processes found in km's own cgroups)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait(done: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return 0


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies awaiting their reaper do not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
