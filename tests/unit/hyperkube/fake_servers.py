"""Runners for the framework's unit tests (imported by "module:function" when chosen)."""

from __future__ import annotations

import asyncio
import os
import signal
from argparse import Namespace

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
