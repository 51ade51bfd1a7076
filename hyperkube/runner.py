"""Running one server: the framework owns the event loop and the stop signals.

A server is `async def run(opts, stop) -> int`: it starts, waits for `stop`, cleans up and
returns. SIGTERM and SIGINT set `stop`; the exit code is what `run` returns (None is 0).
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

from hyperkube import bundle

if TYPE_CHECKING:
    import argparse
    from typing import TextIO

    from hyperkube.server import Runner, Server

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(prog: str, err: TextIO, server: Server, opts: argparse.Namespace) -> int:
    """Make the bundled dependencies importable, import the server's runner, run it.

    `prog` and `err` are the program's name and error stream, for the bundle's warnings.
    """
    bundle.activate(prog, err)
    runner = server.load_runner()
    return asyncio.run(_main(runner, opts))


async def _main(runner: Runner, opts: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        code = await runner(opts, stop)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    return 0 if code is None else int(code)
