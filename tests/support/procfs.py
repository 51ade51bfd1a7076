"""The tests' reads of /proc, safe against the process ending mid-read.

A process can end between listing /proc and reading its files; each read here answers
"gone" (None, or left out of a listing) rather than raising.

    stat(pid)        # fields after the command name: [state, ppid, pgrp, ...] or None
    alive(pid)       # running (not a zombie, not gone)
    children(ppid)   # {pid: server} of live children, server = the word after the archive
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["alive", "children", "cmdline", "stat"]


def stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid: int) -> bool:
    fields = stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> list[str] | None:
    """The argument vector of ``pid``, or None once it has gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(ppid: int) -> dict[int, str]:
    """Live children of ``ppid``: pid -> the server each runs (the word after the archive)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if (fields := stat(pid)) and fields[1] == str(ppid) and fields[0] != "Z" and (
                (argv := cmdline(pid)) is not None):
            found[pid] = argv[2] if len(argv) > 2 else ""
    return found
