"""The demo servers' bodies (imported only when one of them runs)."""

from __future__ import annotations

import asyncio
import sys
from argparse import Namespace


async def probe(opts: Namespace, stop: asyncio.Event) -> int:
    import aiohttp
    import yaml

    print(opts.message, aiohttp.__file__, yaml.__file__, flush=True)
    return 0


async def sleeper(opts: Namespace, stop: asyncio.Event) -> int:
    print("ready", flush=True)
    await stop.wait()
    print("stopped", flush=True)
    return int(opts.exit_code)


async def failer(opts: Namespace, stop: asyncio.Event) -> int:
    raise RuntimeError("boom")
    sys.exit(3)  # never reached: the framework owns exiting
