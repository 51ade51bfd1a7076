"""Storage fixtures: a fresh store per test, for every backend, against real servers.

``store`` is parametrized over the backends: sqlite on a temp dir, and etcd on one real etcd
per session (started here on 127.0.0.1, stopped at the end). Tests on the shared etcd stay out
of each other's way by writing only under their own ``prefix``; they compare revisions
relative to the ones they observe, never to absolute numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from servers.apiserver.storage import open_storage
from tests.support.etcd import EtcdNotFound, EtcdServer

if TYPE_CHECKING:
    from pathlib import Path

    from servers.apiserver.storage.interface import Storage

BACKENDS = [
    pytest.param("sqlite"),
    pytest.param("etcd", marks=pytest.mark.etcd),
]


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One real etcd for the whole session; a missing binary fails (it is a dependency)."""
    try:
        server = EtcdServer()
    except EtcdNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Storage]:
    """A fresh store of the given backend, closed after the test."""
    endpoints = []
    if backend == "etcd":
        endpoints = [request.getfixturevalue("etcd_server").endpoint]
    opened = await open_storage(backend, data_dir=str(tmp_path / "data"), etcd_servers=endpoints)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"/registry/t-{uuid.uuid4().hex[:12]}/"
