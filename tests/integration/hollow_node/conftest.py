"""A real `km apiserver` subprocess per module, a client, and hollow-node run in-process.

    async with hollow(api.url, "--nodes", "3", prefix="a") as run:
        ...                                   # run.task is app.run(opts, stop)

Each test uses its own --node-prefix, so tests sharing the apiserver never see each other's
nodes (the hollow kubelet keeps only pods of its own nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from servers.client.rest import Client
from servers.hollow_node import app, server
from tests.support.apiserver import ApiServer, start_apiserver

WAIT, POLL = 20.0, 0.05  # the tests' bound on each wait (tests.support.wait), and its pace


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("hollow") / "data"
    with start_apiserver(data) as api:
        yield api


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(apiserver.url, request_timeout=10.0) as opened:
        yield opened


@dataclass
class Run:
    task: asyncio.Task[int]
    stop: asyncio.Event


@contextlib.asynccontextmanager
async def hollow(url: str, *args: str) -> AsyncIterator[Run]:
    """``km hollow-node --master URL ARGS`` in this event loop until the block ends."""
    opts = server().make_parser("km hollow-node").parse_args(["--master", url, *args])
    stop = asyncio.Event()
    run = Run(asyncio.ensure_future(app.run(opts, stop)), stop)
    try:
        yield run
    finally:
        stop.set()
        assert await asyncio.wait_for(run.task, WAIT) == 0


def pod(name: str, node: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}], **spec}
    if node:
        body["nodeName"] = node
    return {"metadata": {"name": name}, "spec": body}
