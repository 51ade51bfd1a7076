"""The real `km apiserver` as a subprocess on loopback (tests/support/apiserver.py), a client.

``apiserver`` (one per test, free to kill) and ``shared_apiserver`` (one per module) keep all
history; ``compacting_apiserver`` compacts every ``COMPACTION`` seconds, so old
resourceVersions soon answer 410 Gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.apimachinery.errors import Gone
from servers.client.resources import PODS
from servers.client.rest import Client
from tests.support.apiserver import ApiServer, start_apiserver

COMPACTION = 0.2


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data", extra_args=["--compaction-interval", "0"]) as api:
        yield api


@pytest.fixture(scope="module")
def shared_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One apiserver for a module whose tests each work in their own namespace."""
    data = tmp_path_factory.mktemp("shared") / "data"
    with start_apiserver(data, extra_args=["--compaction-interval", "0"]) as api:
        yield api


@pytest.fixture
def compacting_apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    args = ["--compaction-interval", str(COMPACTION)]
    with start_apiserver(tmp_path / "data", extra_args=args) as api:
        yield api


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(apiserver.url, request_timeout=10.0) as opened:
        yield opened


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def away(api: ApiServer) -> str:
    """Kill the apiserver and start it again on another port; return the old URL.

    Clients of the old URL see it vanish; the test writes through ``api.url`` meanwhile,
    then calls ``back(api, url)``.
    """
    url, port = api.url, api.port
    api.kill()
    api.port = 0
    await asyncio.to_thread(api.start)
    assert api.port != port
    return url


async def back(api: ApiServer, url: str) -> None:
    """Stop the apiserver and start it again where clients of ``url`` look for it."""
    await asyncio.to_thread(api.stop)
    api.port = int(url.rsplit(":", 1)[1])
    await asyncio.to_thread(api.start)
    assert api.url == url


async def compacted(client: Client, since: str | None, timeout: float = 20.0) -> None:
    """Wait (bounded) until a watch of pods from ``since`` answers 410 Gone.

    The compaction ticks in the apiserver's own loop: two ticks after a write are
    2 x COMPACTION on a quiet machine, later on a loaded one, so the tests poll for it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            async for _ in client.watch(PODS, resource_version=since, timeout_seconds=1):
                pass
        except Gone:
            return
        assert time.monotonic() < deadline, f"resourceVersion {since} was never compacted"
        await asyncio.sleep(COMPACTION)
