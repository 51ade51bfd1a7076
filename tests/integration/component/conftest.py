"""Component integration fixtures: a real `km apiserver` subprocess on loopback, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from servers.client.rest import Client
from tests.support.apiserver import ApiServer, start_apiserver


@pytest.fixture(scope="module")
def shared_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One plain-HTTP apiserver for a module whose tests each use their own Lease."""
    data = tmp_path_factory.mktemp("component") / "data"
    with start_apiserver(data, extra_args=["--compaction-interval", "0"]) as api:
        yield api


@pytest.fixture
async def client(shared_apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(shared_apiserver.url, request_timeout=10.0) as opened:
        yield opened
