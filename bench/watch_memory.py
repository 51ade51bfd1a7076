"""Server memory while a watcher never reads: 20,000 ConfigMaps of 2 KB written while one
client holds a watch on configmaps open without reading it (and, optionally, one reads).

    python bench/watch_memory.py [--km dist/km.pyz] [--writes 20000] [--no-reader]

Starts a real apiserver (sqlite, plain HTTP on loopback), opens the stuck watch from a raw
socket with a 4 KB receive buffer, writes with 8 concurrent clients and prints the server's
resident memory (VmRSS) before, after, and whether the stuck watch was closed (the server
logs "closing the watch ..."). The bound comes from the watch cache's window (events and
bytes) and from closing a watcher whose write waits more than watch.WRITE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.support.apiserver import start_apiserver  # noqa: E402

PATH = "/api/v1/namespaces/default/configmaps"


def rss_mb(pid: int) -> int:
    """The process's resident set, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


async def write(url: str, count: int, size: int) -> None:
    async with aiohttp.ClientSession() as session:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with gate, session.post(url + PATH, json={
                    "metadata": {"name": f"cm{i}"}, "data": {"k": "x" * size}}) as resp:
                assert resp.status == 201, await resp.text()

        await asyncio.gather(*(one(i) for i in range(count)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--km", type=Path)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=2_000)
    parser.add_argument("--no-reader", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_apiserver(Path(tmp) / "data",
                                                               km=args.km) as api:
        assert api.proc is not None
        pid = api.proc.pid
        stuck = socket.create_connection(("127.0.0.1", api.port))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(f"GET {PATH}?watch=true HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reader = None if args.no_reader else subprocess.Popen(
            ["curl", "-sN", f"{api.url}{PATH}?watch=true", "-o", "/dev/null"])
        time.sleep(0.5)
        before = rss_mb(pid)
        started = time.monotonic()
        asyncio.run(write(api.url, args.writes, args.size))
        took = time.monotonic() - started
        time.sleep(1)
        after = rss_mb(pid)
        closed = any("closing the watch" in line for line in api.log)
        if reader is not None:
            reader.terminate()
            reader.wait()
        stuck.close()
    print(f"| {args.writes} x {args.size} B configmaps, stuck watcher"
          f"{'' if args.no_reader else ' + a reading watcher'} | RSS {before} -> {after} MiB "
          f"(+{after - before}) | {took:.1f} s | stuck watch closed: {closed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
