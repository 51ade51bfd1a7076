"""Informer against the real apiserver: sync, handlers, restarts, changes made while away, Gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from servers.client.informer import Backoff, Informer, object_key
from servers.client.resources import PODS
from servers.client.rest import Client
from tests.integration.client.conftest import away, back, compacted, pod
from tests.support.apiserver import ApiServer

pytestmark = pytest.mark.timeout(30)
Obj = dict[str, Any]


class Watched:
    """A running pods informer, its handler calls, and how many times it listed."""

    def __init__(self, client: Client) -> None:
        self.lists = 0
        self.calls: list[tuple[str, str]] = []
        self.changed = asyncio.Event()
        self.informer = Informer(client, PODS, backoff=Backoff(initial=0.05, cap=0.3))
        self.informer.add_handler(on_add=lambda obj: self.note("add", obj),
                                  on_update=self.on_update,
                                  on_delete=lambda obj: self.note("delete", obj))
        original = client.list_all

        async def counted(*args: Any, **kwargs: Any) -> Obj:
            self.lists += 1
            return await original(*args, **kwargs)

        client.list_all = counted  # type: ignore[method-assign]
        self.stop = asyncio.Event()
        self.task = asyncio.ensure_future(self.informer.run(self.stop))

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)

    def note(self, event: str, obj: Obj) -> None:
        self.calls.append((event, object_key(obj)))
        self.changed.set()

    async def on_update(self, old: Obj, new: Obj) -> None:
        self.note("update", new)

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), timeout)

    async def converged(self, client: Client) -> None:
        """Wait until the cache holds what the server holds, resourceVersions included."""
        listing = await client.list(PODS)
        wanted = {object_key(p): p["metadata"]["resourceVersion"] for p in listing["items"]}

        def same() -> bool:
            cached = {object_key(p): p["metadata"]["resourceVersion"]
                      for p in self.informer.list()}
            return cached == wanted

        await self.until(same)


@pytest.fixture
async def watched() -> AsyncIterator[Callable[[Client], Watched]]:
    running: list[Watched] = []

    def make(on: Client) -> Watched:
        running.append(Watched(on))
        return running[-1]

    yield make
    for item in running:
        await item.finish()


async def make_pods(client: Client, *names: str) -> None:
    for name in names:
        await client.create(PODS, pod(name), "default")


async def test_sync_then_every_change_reaches_the_handlers(
        client: Client, watched: Callable[[Client], Watched]) -> None:
    await make_pods(client, "a", "b")
    informer = watched(client)
    assert await informer.informer.wait_synced(10)
    assert sorted(informer.calls) == [("add", "default/a"), ("add", "default/b")]
    await make_pods(client, "c")
    await client.patch(PODS, "a", {"metadata": {"labels": {"v": "2"}}}, namespace="default")
    await client.delete(PODS, "b", "default", grace_period_seconds=0)
    await informer.until(lambda: len(informer.calls) == 5)
    assert informer.calls[2:] == [("add", "default/c"), ("update", "default/a"),
                                  ("delete", "default/b")]
    await informer.converged(client)
    assert informer.informer.get("a", "default")["metadata"]["labels"]["v"] == "2"  # type: ignore[index]


async def test_informer_survives_a_killed_apiserver(
        apiserver: ApiServer, client: Client, watched: Callable[[Client], Watched]) -> None:
    await make_pods(client, "a")
    informer = watched(client)
    assert await informer.informer.wait_synced(10)
    apiserver.kill()
    await asyncio.sleep(0.5)  # a few refused reconnects, each after a bounded backoff
    await asyncio.to_thread(apiserver.restart)
    await make_pods(client, "b")
    await informer.until(lambda: ("add", "default/b") in informer.calls)
    await informer.converged(client)
    assert informer.lists == 1  # it resumed the watch; no relist was needed


async def test_changes_made_while_away_arrive_by_resumed_watch(
        apiserver: ApiServer, client: Client, watched: Callable[[Client], Watched]) -> None:
    await make_pods(client, "keep", "change", "drop")
    informer = watched(client)
    assert await informer.informer.wait_synced(10)
    url = await away(apiserver)
    async with Client(apiserver.url) as elsewhere:
        await make_pods(elsewhere, "new")
        await elsewhere.patch(PODS, "change", {"metadata": {"labels": {"v": "2"}}},
                              namespace="default")
        await elsewhere.delete(PODS, "drop", "default", grace_period_seconds=0)
    await back(apiserver, url)
    await informer.until(lambda: len(informer.calls) == 6)
    assert informer.calls[3:] == [("add", "default/new"), ("update", "default/change"),
                                  ("delete", "default/drop")]
    await informer.converged(client)
    assert informer.lists == 1


async def test_changes_made_while_away_and_compacted_arrive_by_relist(
        compacting_apiserver: ApiServer, watched: Callable[[Client], Watched]) -> None:
    api = compacting_apiserver
    async with Client(api.url) as client:
        await make_pods(client, "keep", "change", "drop")
        informer = watched(client)
        assert await informer.informer.wait_synced(10)
        since = informer.informer.resource_version
        url = await away(api)
        async with Client(api.url) as elsewhere:
            await make_pods(elsewhere, "new")
            await elsewhere.patch(PODS, "change", {"metadata": {"labels": {"v": "2"}}},
                                  namespace="default")
            await elsewhere.delete(PODS, "drop", "default", grace_period_seconds=0)
            await compacted(elsewhere, since)
        await back(api, url)
        await informer.until(lambda: len(informer.calls) == 6)
        assert sorted(informer.calls[3:]) == [("add", "default/new"), ("delete", "default/drop"),
                                              ("update", "default/change")]
        await informer.converged(client)
        assert informer.lists == 2  # the watch got 410 Gone and the informer listed again
        await informer.finish()
