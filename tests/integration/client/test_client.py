"""Client against the real apiserver: CRUD, conflicts, subresources, paging, watch, Gone."""

from __future__ import annotations

import asyncio

import pytest

from servers.apimachinery import errors
from servers.client.errors import ApiUnavailable
from servers.client.resources import NAMESPACES, NODES, PODS
from servers.client.rest import Client
from tests.integration.client.conftest import COMPACTION, pod
from tests.support.apiserver import ApiServer

pytestmark = pytest.mark.timeout(30)


async def test_create_get_update_patch_delete(client: Client) -> None:
    created = await client.create(PODS, pod("web"), "default")
    assert created["metadata"]["uid"] and created["status"]["phase"] == "Pending"
    assert await client.get(PODS, "web", "default") == created
    updated = await client.update(PODS, {**created, "metadata": {
        **created["metadata"], "labels": {"app": "web", "tier": "front"}}})
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    merged = await client.patch(PODS, "web", {"metadata": {"labels": {"tier": None}}},
                                namespace="default")
    assert merged["metadata"]["labels"] == {"app": "web"}
    patched = await client.patch(PODS, "web", [{"op": "add", "path": "/metadata/labels/x",
                                                "value": "y"}],
                                 patch_type="json", namespace="default")
    assert patched["metadata"]["labels"] == {"app": "web", "x": "y"}
    await client.delete(PODS, "web", "default", grace_period_seconds=0)
    with pytest.raises(errors.NotFound, match='pods "web" not found'):
        await client.get(PODS, "web", "default")


async def test_stale_resource_version_is_conflict(client: Client) -> None:
    created = await client.create(PODS, pod("web"), "default")
    await client.patch(PODS, "web", {"metadata": {"labels": {"v": "2"}}}, namespace="default")
    with pytest.raises(errors.Conflict) as caught:
        await client.update(PODS, created)
    assert caught.value.code == 409 and caught.value.name == "web"
    assert "the object has been modified" in str(caught.value)
    with pytest.raises(errors.Conflict):
        await client.delete(PODS, "web", "default",
                            resource_version=created["metadata"]["resourceVersion"])


async def test_server_errors_arrive_as_their_classes(client: Client) -> None:
    await client.create(PODS, pod("web"), "default")
    with pytest.raises(errors.AlreadyExists, match='pods "web" already exists'):
        await client.create(PODS, pod("web"), "default")
    with pytest.raises(errors.Invalid) as caught:
        await client.create(PODS, {"metadata": {"name": "bad"}, "spec": {"containers": []}},
                            "default")
    assert caught.value.kind == "Pod" and caught.value.causes
    with pytest.raises(errors.BadRequest):
        await client.list(PODS, field_selector="no.such.field=x")
    with pytest.raises(errors.NotFound):
        await client.get(NAMESPACES, "nowhere")


async def test_binding_and_status_subresources(client: Client) -> None:
    await client.create(NODES, {"metadata": {"name": "n1"}})
    await client.create(PODS, pod("web"), "default")
    binding = {"kind": "Binding", "apiVersion": "v1", "metadata": {"name": "web"},
               "target": {"kind": "Node", "name": "n1"}}
    await client.create(PODS, binding, "default", subresource="binding")
    bound = await client.get(PODS, "web", "default")
    assert bound["spec"]["nodeName"] == "n1"
    bound["status"]["phase"] = "Running"
    running = await client.update(PODS, bound, "status")
    assert running["status"]["phase"] == "Running"
    listed = await client.list(PODS, field_selector="spec.nodeName=n1")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]


async def test_list_selectors_and_paging(client: Client) -> None:
    for i in range(5):
        await client.create(PODS, pod(f"p{i}", app="even" if i % 2 == 0 else "odd"), "default")
    page = await client.list(PODS, "default", limit=2)
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    everything = await client.list_all(PODS, "default", page_size=2)
    assert [p["metadata"]["name"] for p in everything["items"]] == [f"p{i}" for i in range(5)]
    assert "continue" not in everything["metadata"]
    even = await client.list(PODS, label_selector="app=even")
    assert [p["metadata"]["name"] for p in even["items"]] == ["p0", "p2", "p4"]
    namespaces = await client.list(NAMESPACES)
    assert "default" in [ns["metadata"]["name"] for ns in namespaces["items"]]


async def test_watch_sees_creates_updates_and_deletes(client: Client) -> None:
    listing = await client.list(PODS, "default")
    since = listing["metadata"]["resourceVersion"]

    async def changes() -> None:
        await client.create(PODS, pod("a"), "default")
        await client.patch(PODS, "a", {"metadata": {"labels": {"v": "2"}}}, namespace="default")
        await client.delete(PODS, "a", "default", grace_period_seconds=0)

    seen: list[tuple[str, str]] = []
    async with client.watch(PODS, "default", resource_version=since,
                            timeout_seconds=20) as watch:
        writer = asyncio.ensure_future(changes())
        async for kind, obj in watch:
            seen.append((kind, obj["metadata"].get("name", "")))
            if kind == "DELETED":
                break
    await writer
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


async def test_watch_with_a_timeout_ends_when_the_server_closes_it(client: Client) -> None:
    await client.create(PODS, pod("a"), "default")
    kinds = [kind async for kind, _ in client.watch(PODS, "default", timeout_seconds=1)]
    assert kinds == ["ADDED"]


async def test_killed_apiserver_ends_the_watch_then_is_unavailable(
        apiserver: ApiServer, client: Client) -> None:
    watch = client.watch(PODS, "default", resource_version="1")
    first = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0.3)
    apiserver.kill()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(first, 10)
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
        await asyncio.sleep(COMPACTION * 4)  # two ticks: history before the patches is gone
        with pytest.raises(errors.Gone) as caught:
            async for _ in client.watch(PODS, "default", resource_version=since):
                pass
        assert caught.value.code == 410
