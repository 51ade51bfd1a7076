"""``GET /metrics`` of the apiserver: kube's request, watch and storage metrics in the
Prometheus text format, and who may read them under RBAC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from servers.apiserver import app as apiserver
from servers.apiserver.authz import bootstrap
from servers.apiserver.metrics import ApiserverMetrics, InstrumentedStorage
from servers.apiserver.registry import Registry
from servers.apiserver.storage import open_storage
from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.integration.apiserver.test_rbac import call, from_headers

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def mapi(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
               ) -> AsyncIterator[Client]:
    """The app as ``km apiserver`` builds it: RBAC, storage timed into the app's metrics."""
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    measured = ApiserverMetrics()
    registry = Registry(InstrumentedStorage(storage, measured))  # type: ignore[arg-type]
    try:
        await apiserver.create_default_namespaces(registry)
        await bootstrap.ensure(registry)
        app = apiserver.make_app(registry, authorization_mode="RBAC", authenticate=from_headers,
                                 metrics=measured)
        yield await aiohttp_client(app)
    finally:
        await registry.close()
        await storage.close()


async def scrape(api: Client) -> Samples:
    resp = await api.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_requests_are_counted_with_kubes_labels(mapi: Client) -> None:
    await call(mapi, "POST", PODS, pod("a"), expect=201)
    await call(mapi, "POST", PODS, pod("a"), expect=409)
    await call(mapi, "GET", PODS, expect=200)
    await call(mapi, "GET", f"{PODS}/a", expect=200)
    await call(mapi, "DELETE", f"{PODS}/a?dryRun=All", expect=200)
    samples = await scrape(mapi)
    common = {"group": "", "version": "v1", "resource": "pods", "component": "apiserver"}
    assert value(samples, "apiserver_request_total", verb="POST", code="201",
                 scope="namespace", **common) == 1
    assert value(samples, "apiserver_request_total", verb="POST", code="409", **common) == 1
    assert value(samples, "apiserver_request_total", verb="LIST", code="200", **common) == 1
    assert value(samples, "apiserver_request_total", verb="GET", code="200",
                 scope="resource", **common) == 1
    assert value(samples, "apiserver_request_total", verb="DELETE", dry_run="All",
                 **common) == 1
    assert value(samples, "apiserver_request_duration_seconds_count", verb="POST",
                 **common) == 2
    assert value(samples, "etcd_request_duration_seconds_count", operation="create",
                 type="pods") == 2  # the second found the key taken
    assert value(samples, "process_cpu_seconds_total") > 0


async def test_open_watches_are_a_gauge(mapi: Client) -> None:
    resp = await mapi.get(f"{PODS}?watch=true")
    assert resp.status == 200
    try:
        samples = await scrape(mapi)
        assert value(samples, "apiserver_longrunning_requests", verb="WATCH",
                     resource="pods") == 1
    finally:
        resp.close()
    for _ in range(100):  # the server notices the closed connection within a second or so
        samples = await scrape(mapi)
        if value(samples, "apiserver_longrunning_requests", verb="WATCH") == 0:
            break
        await asyncio.sleep(0.05)
    assert value(samples, "apiserver_longrunning_requests", verb="WATCH") == 0
    assert value(samples, "apiserver_request_total", verb="WATCH", code="200") == 1
    assert value(samples, "apiserver_request_duration_seconds_count", verb="WATCH") == 0


async def test_unknown_paths_do_not_grow_the_label_sets(mapi: Client) -> None:
    await call(mapi, "GET", "/api/v1/namespaces/default/frobs-1", expect=404)
    await call(mapi, "GET", "/no/such/path-1", expect=404)
    samples = await scrape(mapi)
    labels = {dict(ls).get("resource") for (n, ls) in samples
              if n == "apiserver_request_total"}
    assert not any(label and "frob" in label for label in labels)
    assert not any("path-1" in dict(ls).get("subresource", "") for (n, ls) in samples)


async def test_who_may_read_metrics(mapi: Client) -> None:
    await call(mapi, "GET", "/metrics", user="alice", expect=403)
    await call(mapi, "GET", "/metrics", user="system:anonymous", expect=403)
    resp = await mapi.get("/metrics", headers={"X-Test-User": "prom",
                                               "X-Test-Groups": "system:monitoring"})
    assert resp.status == 200
    assert "apiserver_request_total" in await resp.text()
