"""Client unit-test fixtures: a fake apiserver on a free loopback port, and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from servers.client.rest import Client
from tests.unit.client.fakeapi import FakeApi


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[Client]:
    async with Client(api.url, request_timeout=5.0, connect_timeout=2.0) as opened:
        yield opened
