"""A control plane over hollow nodes for a benchmark, every server a process of its own.

    with hollow_cluster(km, nodes=100, controllers="deployment,replicaset") as url:
        async with Client(url) as client:
            await wait_nodes(client, 100)

A fresh apiserver on SQLite (plain HTTP on loopback, in a temporary folder that also holds
km's cache), ``km hollow-node --nodes NODES`` (pods bound to them go Running and Ready at
once), ``km scheduler`` and ``km controller-manager --controllers CONTROLLERS`` (leader
election off, no secure port). Used by bench/deployment.py, bench/sets.py and bench/ui.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from servers.client.resources import NODES
from tests.support.apiserver import start_apiserver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from servers.client.rest import Client

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 900.0


def server_cmd(km: Path | None, name: str) -> list[str]:
    """The command of km server ``name``: from a built km.pyz, or from the source tree."""
    return [str(km), name] if km else [sys.executable, "-m", "servers.km", name]


@contextlib.contextmanager
def hollow_cluster(km: Path | None, nodes: int, controllers: str) -> Iterator[str]:
    """The apiserver, hollow nodes, scheduler and controller-manager running; yields the
    apiserver's URL, and stops them all (SIGTERM, then a wait) on the way out."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KM_CACHE_DIR": str(Path(tmp) / "cache")}
        with start_apiserver(Path(tmp) / "data", km=km, env=env) as api:
            procs = [subprocess.Popen(
                [*server_cmd(km, name), "--master", api.url, *args], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for name, args in (
                    ("hollow-node", ["--nodes", str(nodes)]),
                    ("scheduler", ["--leader-elect=false", "--secure-port", "0"]),
                    ("controller-manager", ["--leader-elect=false", "--secure-port", "0",
                                            "--controllers", controllers]))]
            try:
                yield api.url
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.wait(timeout=30)


async def wait_nodes(client: Client, count: int) -> None:
    """Wait until ``count`` nodes are registered."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if len((await client.list(NODES))["items"]) >= count:
            return
        await asyncio.sleep(0.5)
    raise SystemExit("the hollow nodes did not register")
