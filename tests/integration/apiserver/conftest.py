"""The apiserver's aiohttp application, in-process on a real SQLite store in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from servers.apiserver import app as apiserver
from servers.apiserver.registry import Registry
from servers.apiserver.storage import open_storage

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
              ) -> AsyncIterator[Client]:
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    registry = Registry(storage)
    try:
        await apiserver.create_default_namespaces(registry)
        client = await aiohttp_client(apiserver.make_app(registry))
        client.storage = storage  # type: ignore[attr-defined]
        yield client
    finally:
        await registry.close()
        await storage.close()


def pod(name: str = "web", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


PODS = "/api/v1/namespaces/default/pods"
