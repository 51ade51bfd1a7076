"""A process that stands for election and says when it leads (for the SIGKILL tests).

    python -m tests.integration.component.elect URL LEASE IDENTITY

Prints ``leading IDENTITY`` once it leads; SIGTERM is a clean stop (the Lease is released).
Periods are the tests' short ones: lease 2 s, renew deadline 1.2 s, retry 0.4 s.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from servers.client.leaderelection import LeaderElector
from servers.client.rest import Client


async def main(url: str, lease: str, identity: str) -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def lead(lost: asyncio.Event) -> None:
        print(f"leading {identity}", flush=True)
        await lost.wait()

    async with Client(url) as client:
        elector = LeaderElector(client, name=lease, namespace="kube-system", identity=identity,
                                lease_duration=2.0, renew_deadline=1.2, retry_period=0.4,
                                event_component="elect")
        print(f"standing {identity}", flush=True)
        await elector.run(stop, lead)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
