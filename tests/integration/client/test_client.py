"""Client against the real apiserver: CRUD, conflicts, subresources, paging, watch, Gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from servers.apimachinery import errors
from servers.client.errors import ApiUnavailable
from servers.client.resources import NAMESPACES, NODES, PODS
from servers.client.rest import Client
from tests.integration.client.conftest import compacted, pod
from tests.support.apiserver import ApiServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def client(shared_apiserver: ApiServer) -> AsyncIterator[Client]:
    async with Client(shared_apiserver.url, request_timeout=10.0) as opened:
        yield opened


@pytest.fixture
async def ns(client: Client, request: pytest.FixtureRequest) -> str:
    """A fresh namespace for this test on the shared apiserver."""
    test: str = request.node.name
    name = "t-" + test.replace("_", "-")[5:40].strip("-").lower()
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


async def test_create_get_update_patch_delete(client: Client, ns: str) -> None:
    created = await client.create(PODS, pod("web"), ns)
    assert created["metadata"]["uid"] and created["status"]["phase"] == "Pending"
    assert await client.get(PODS, "web", ns) == created
    updated = await client.update(PODS, {**created, "metadata": {
        **created["metadata"], "labels": {"app": "web", "tier": "front"}}})
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    merged = await client.patch(PODS, "web", {"metadata": {"labels": {"tier": None}}},
                                namespace=ns)
    assert merged["metadata"]["labels"] == {"app": "web"}
    patched = await client.patch(PODS, "web", [{"op": "add", "path": "/metadata/labels/x",
                                                "value": "y"}],
                                 patch_type="json", namespace=ns)
    assert patched["metadata"]["labels"] == {"app": "web", "x": "y"}
    await client.delete(PODS, "web", ns, grace_period_seconds=0)
    with pytest.raises(errors.NotFound, match='pods "web" not found'):
        await client.get(PODS, "web", ns)


async def test_stale_resource_version_is_conflict(client: Client, ns: str) -> None:
    created = await client.create(PODS, pod("web"), ns)
    await client.patch(PODS, "web", {"metadata": {"labels": {"v": "2"}}}, namespace=ns)
    with pytest.raises(errors.Conflict) as caught:
        await client.update(PODS, created)
    assert caught.value.code == 409 and caught.value.name == "web"
    assert "the object has been modified" in str(caught.value)
    with pytest.raises(errors.Conflict):
        await client.delete(PODS, "web", ns,
                            resource_version=created["metadata"]["resourceVersion"])


async def test_server_errors_arrive_as_their_classes(client: Client, ns: str) -> None:
    await client.create(PODS, pod("web"), ns)
    with pytest.raises(errors.AlreadyExists, match='pods "web" already exists'):
        await client.create(PODS, pod("web"), ns)
    with pytest.raises(errors.Invalid) as caught:
        await client.create(PODS, {"metadata": {"name": "bad"}, "spec": {"containers": []}},
                            ns)
    assert caught.value.kind == "Pod" and caught.value.causes
    with pytest.raises(errors.BadRequest):
        await client.list(PODS, field_selector="no.such.field=x")
    with pytest.raises(errors.NotFound):
        await client.get(NAMESPACES, "nowhere")


async def test_binding_and_status_subresources(client: Client, ns: str) -> None:
    await client.create(NODES, {"metadata": {"name": ns}})
    await client.create(PODS, pod("web"), ns)
    binding = {"kind": "Binding", "apiVersion": "v1", "metadata": {"name": "web"},
               "target": {"kind": "Node", "name": ns}}
    await client.create(PODS, binding, ns, subresource="binding")
    bound = await client.get(PODS, "web", ns)
    assert bound["spec"]["nodeName"] == ns
    bound["status"]["phase"] = "Running"
    running = await client.update(PODS, bound, "status")
    assert running["status"]["phase"] == "Running"
    listed = await client.list(PODS, field_selector=f"spec.nodeName={ns}")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]


async def test_list_selectors_and_paging(client: Client, ns: str) -> None:
    for i in range(5):
        await client.create(PODS, pod(f"p{i}", app="even" if i % 2 == 0 else "odd"), ns)
    page = await client.list(PODS, ns, limit=2)
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    everything = await client.list_all(PODS, ns, page_size=2)
    assert [p["metadata"]["name"] for p in everything["items"]] == [f"p{i}" for i in range(5)]
    assert "continue" not in everything["metadata"]
    even = await client.list(PODS, ns, label_selector="app=even")
    assert [p["metadata"]["name"] for p in even["items"]] == ["p0", "p2", "p4"]
    namespaces = await client.list(NAMESPACES)
    assert ns in [ns["metadata"]["name"] for ns in namespaces["items"]]


async def test_watch_sees_creates_updates_and_deletes(client: Client, ns: str) -> None:
    listing = await client.list(PODS, ns)
    since = listing["metadata"]["resourceVersion"]

    async def changes() -> None:
        await client.create(PODS, pod("a"), ns)
        await client.patch(PODS, "a", {"metadata": {"labels": {"v": "2"}}}, namespace=ns)
        await client.delete(PODS, "a", ns, grace_period_seconds=0)

    seen: list[tuple[str, str]] = []
    async with client.watch(PODS, ns, resource_version=since,
                            timeout_seconds=20) as watch:
        writer = asyncio.ensure_future(changes())
        async for kind, obj in watch:
            seen.append((kind, obj["metadata"].get("name", "")))
            if kind == "DELETED":
                break
    await writer
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


async def test_watch_with_a_timeout_ends_when_the_server_closes_it(client: Client, ns: str) -> None:
    await client.create(PODS, pod("a"), ns)
    kinds = [kind async for kind, _ in client.watch(PODS, ns, timeout_seconds=1)]
    assert kinds == ["ADDED"]


async def test_killed_apiserver_ends_the_watch_then_is_unavailable(
        apiserver: ApiServer) -> None:
    async with Client(apiserver.url) as client:
        watch = client.watch(PODS, "default", resource_version="1")
        await client.create(PODS, pod("a"), "default")
        # An event read proves the stream open (a kill before it opened would be a refused
        # connection, ApiUnavailable: a fixed sleep here lost that race on a loaded machine).
        kind, _ = await asyncio.wait_for(anext(watch), 10)
        assert kind == "ADDED"
        second = asyncio.ensure_future(anext(watch))
        apiserver.kill()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(second, 10)
        with pytest.raises(ApiUnavailable):
            await client.list(PODS)
        await asyncio.to_thread(apiserver.restart)
        assert (await client.list(PODS))["kind"] == "PodList"


async def test_watch_from_a_compacted_resource_version_raises_gone(
        compacting_apiserver: ApiServer) -> None:
    async with Client(compacting_apiserver.url) as client:
        first = await client.create(PODS, pod("a"), "default")
        since = first["metadata"]["resourceVersion"]
        for version in range(3):
            await client.patch(PODS, "a", {"metadata": {"labels": {"v": str(version)}}},
                               namespace="default")
        await compacted(client, since)  # two ticks: history before the patches is gone
        with pytest.raises(errors.Gone) as caught:
            async for _ in client.watch(PODS, "default", resource_version=since):
                pass
        assert caught.value.code == 410
