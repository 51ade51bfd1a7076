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


async def together(opts: Namespace, stop: asyncio.Event) -> int:
    from hyperkube import together as group
    from hyperkube.backoff import Backoff

    from . import make_hyperkube

    table = [("probe", ["--message", opts.message]), ("sleeper", [])]
    if opts.with_failer:
        table.append(("failer", []))
    members = group.plan(make_hyperkube().servers, table, prog="demo")
    backoff = Backoff(opts.restart_delay, max(30.0, opts.restart_delay))
    return await group.run(members, stop, backoff=backoff, stop_timeout=opts.stop_timeout)


async def parent(opts: Namespace, stop: asyncio.Event) -> int:
    from hyperkube import supervisor
    from hyperkube.backoff import Backoff

    from . import make_hyperkube

    children = supervisor.plan(make_hyperkube().servers, [("together", []), ("sleeper", [])],
                               prog="demo")
    backoff = Backoff(opts.restart_delay, max(supervisor.RESTART_CAP, opts.restart_delay))
    return await supervisor.run(children, stop, logs=supervisor.logs_from(opts),
                                backoff=backoff, kill_grace=opts.kill_grace)
