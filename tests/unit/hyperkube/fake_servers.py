"""Runners for the framework's unit tests (imported by "module:function" when chosen)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from argparse import Namespace

from hyperkube.backoff import Backoff
from hyperkube.server import Server

RAN: list[Namespace] = []


async def record(opts: Namespace, stop: asyncio.Event) -> int:
    RAN.append(opts)
    return int(getattr(opts, "code", 0))


async def until_signal(opts: Namespace, stop: asyncio.Event) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(stop.wait(), timeout=10)
    RAN.append(opts)
    return 0


async def boom(opts: Namespace, stop: asyncio.Event) -> int:
    raise RuntimeError("it broke")


# -- for groups (test_together.py): each run appends (label, what, monotonic time) ----------

EVENTS: list[tuple[str, str, float]] = []


def _event(label: str, what: str) -> None:
    EVENTS.append((label, what, time.monotonic()))


def starts(label: str) -> list[float]:
    return [t for (who, what, t) in EVENTS if who == label and what == "start"]


async def flaky(opts: Namespace, stop: asyncio.Event) -> int:
    """Fails its first `--fail-times` runs (raising, or returning `--code`), then serves."""
    _event(opts.label, "start")
    if len(starts(opts.label)) <= opts.fail_times:
        if opts.code:
            return int(opts.code)
        raise RuntimeError(f"{opts.label} broke")
    await stop.wait()
    _event(opts.label, "stop")
    return 0


async def stubborn(opts: Namespace, stop: asyncio.Event) -> int:
    """Ignores its stop event: only cancellation ends it."""
    _event(opts.label, "start")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        _event(opts.label, "cancelled")
        raise
    return 0


SERVERS: list[Server] = []  # the program a `group` runner finds its members in


async def group(opts: Namespace, stop: asyncio.Event) -> int:
    """A group server: runs the table `--member NAME:FLAGS...` of SERVERS together."""
    from hyperkube import together

    table = [(row.split(":")[0], row.split(":")[1].split()) for row in opts.member]
    members = together.plan(SERVERS, table, prog="km")
    return await together.run(members, stop, stop_timeout=opts.stop_timeout,
                              backoff=Backoff(0.01, 0.02))
