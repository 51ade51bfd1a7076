"""Fixtures: a real apiserver subprocess, a client to it, and controller-managers run
in-process (``run(opts, stop)``) with the flags a test gives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from servers.client.rest import Client
from servers.controller_manager import server
from servers.controller_manager.app import run
from tests.support.apiserver import ApiServer, start_apiserver

Manager = Callable[..., contextlib.AbstractAsyncContextManager["asyncio.Task[int]"]]
WAIT, POLL = 15.0, 0.05  # the tests' usual bound on a wait (tests.support.wait), and its pace


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data") as api:
        yield api


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(apiserver.url, request_timeout=10.0) as opened:
        yield opened


@pytest.fixture
def manager(apiserver: ApiServer) -> Manager:
    """``async with manager("--controllers", "replicationcontroller"):`` runs one."""

    @contextlib.asynccontextmanager
    async def start(*args: str, leader_elect: bool = False) -> AsyncIterator[asyncio.Task[int]]:
        flags = [] if leader_elect else ["--leader-elect=false"]
        opts = server().make_parser("km controller-manager").parse_args(
            ["--master", apiserver.url, "--secure-port", "0", *flags, *args])
        stop = asyncio.Event()
        task = asyncio.ensure_future(run(opts, stop))
        try:
            yield task
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    return start
