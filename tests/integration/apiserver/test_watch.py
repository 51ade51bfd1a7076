"""Watch over HTTP: initial state, replay from a resourceVersion, selectors, expiry, bookmarks."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver import app as apiserver
from servers.apiserver import resources, watch, watchcache
from servers.apiserver.routing import Target
from servers.apiserver.watchcache import FellBehind
from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.support.apiserver import start_apiserver

Event = tuple[str, dict[str, Any]]


async def create(api: Client, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(PODS, json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def patch_labels(api: Client, name: str, labels: dict[str, str | None]) -> None:
    resp = await api.patch(f"{PODS}/{name}", data=json.dumps({"metadata": {"labels": labels}}),
                           headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status == 200, await resp.text()


async def read_events(api: Client, query: str, count: int, timeout: float = 10,
                      started: asyncio.Event | None = None) -> list[Event]:
    """The first ``count`` events of a pods watch; ``started`` is set at the first one."""
    resp = await api.get(f"{PODS}?watch=true&{query}")
    assert resp.status == 200
    events: list[Event] = []
    try:
        while len(events) < count:
            line = await asyncio.wait_for(resp.content.readline(), timeout)
            if not line:
                break
            event = json.loads(line)
            events.append((event["type"], event["object"]))
            if started is not None:
                started.set()
    finally:
        resp.close()
    return events


def names(events: list[Event]) -> list[tuple[str, str]]:
    return [(kind, obj["metadata"].get("name", "")) for kind, obj in events]


async def test_no_resource_version_sends_current_objects_then_changes(api: Client) -> None:
    await create(api, pod("a"))
    started = asyncio.Event()
    reader = asyncio.create_task(read_events(api, "", 3, started=started))
    await asyncio.wait_for(started.wait(), 10)  # a's ADDED: the watch began before b
    await create(api, pod("b"))
    await api.delete(f"{PODS}/a")
    assert names(await reader) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


async def test_resource_version_replays_every_later_change_once_in_order(api: Client) -> None:
    first = await create(api, pod("a"))
    rv = first["metadata"]["resourceVersion"]
    await create(api, pod("b"))
    await patch_labels(api, "a", {"v": "2"})
    await api.delete(f"{PODS}/b")
    events = await read_events(api, f"resourceVersion={rv}", 3)
    assert names(events) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    revisions = [int(obj["metadata"]["resourceVersion"]) for _, obj in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == 3


async def test_selector_transitions_are_added_and_deleted(api: Client) -> None:
    start = await create(api, pod("a", {"app": "other"}))
    rv = start["metadata"]["resourceVersion"]
    await patch_labels(api, "a", {"app": "web"})
    await patch_labels(api, "a", {"app": "other"})
    events = await read_events(api, f"resourceVersion={rv}&labelSelector=app%3Dweb", 2)
    assert names(events) == [("ADDED", "a"), ("DELETED", "a")]


async def test_timeout_seconds_ends_the_stream(api: Client) -> None:
    events = await asyncio.wait_for(read_events(api, "timeoutSeconds=1", 5), timeout=10)
    assert events == []


async def test_compacted_resource_version_is_a_410_error_event(api: Client) -> None:
    await create(api, pod("a"))
    await patch_labels(api, "a", {"v": "2"})
    storage = api.storage  # type: ignore[attr-defined]
    await storage.compact(await storage.current_revision())
    [(kind, status)] = await read_events(api, "resourceVersion=1", 1)
    assert kind == "ERROR"
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")


async def test_bookmarks_when_asked(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "BOOKMARK_SECONDS", 0.2)
    created = await create(api, pod("a"))
    rv = created["metadata"]["resourceVersion"]
    [(kind, obj)] = await read_events(api, f"resourceVersion={rv}&allowWatchBookmarks=true", 1)
    assert kind == "BOOKMARK"
    assert obj["metadata"]["resourceVersion"] == rv


async def test_watch_table_events_for_kubectl_get_w(api: Client) -> None:
    await create(api, pod("a"))
    resp = await api.get(f"{PODS}?watch=true", headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    line = await asyncio.wait_for(resp.content.readline(), 10)
    resp.close()
    event = json.loads(line)
    assert event["type"] == "ADDED" and event["object"]["kind"] == "Table"
    assert event["object"]["rows"][0]["cells"][0] == "a"
    assert event["object"]["columnDefinitions"]


async def test_many_watchers_see_every_event_in_order(api: Client) -> None:
    start = await create(api, pod("seed"))
    rv = start["metadata"]["resourceVersion"]
    writes = 40
    readers = [asyncio.create_task(read_events(api, f"resourceVersion={rv}", writes))
               for _ in range(10)]
    await asyncio.sleep(0.2)
    await asyncio.gather(*(create(api, pod(f"p{i}")) for i in range(writes)))
    results = await asyncio.gather(*readers)
    expected = None
    for events in results:
        revisions = [int(obj["metadata"]["resourceVersion"]) for _, obj in events]
        assert len(events) == writes and revisions == sorted(set(revisions))
        expected = expected or revisions
        assert revisions == expected


async def test_a_closed_connection_is_noticed(api: Client,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "CONNECTION_CHECK_SECONDS", 0.1)
    registry = api.server.app[apiserver.REGISTRY]
    resp = await api.get(f"{PODS}?watch=true")
    for _ in range(50):
        if registry.watchers == 1:
            break
        await asyncio.sleep(0.05)
    assert registry.watchers == 1
    resp.close()
    for _ in range(50):
        if registry.watchers == 0:
            break
        await asyncio.sleep(0.05)
    assert registry.watchers == 0


async def test_resume_after_a_dropped_connection_loses_nothing(api: Client) -> None:
    start = await create(api, pod("a"))
    rv = start["metadata"]["resourceVersion"]
    for i in range(3):
        await create(api, pod(f"b{i}"))
    first = await read_events(api, f"resourceVersion={rv}", 2)  # then the client drops
    last_seen = first[-1][1]["metadata"]["resourceVersion"]
    for i in range(3):
        await create(api, pod(f"c{i}"))
    rest = await read_events(api, f"resourceVersion={last_seen}", 4)
    assert names(first + rest) == [("ADDED", n) for n in ("b0", "b1", "b2", "c0", "c1", "c2")]


async def test_a_stopping_apiserver_ends_its_watches_cleanly(api: Client) -> None:
    await create(api, pod("a"))
    resp = await api.get(f"{PODS}?watch=true")
    first = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
    await api.server.app.shutdown()  # what AppRunner.cleanup does before it waits for handlers
    assert await asyncio.wait_for(resp.content.read(), 10) == b""  # a clean end of the chunks


def test_sigterm_with_open_watches_stops_at_once(tmp_path: Path) -> None:
    """kubectl get -w and every informer hold a watch open: a stop must not wait them out
    (aiohttp would give them 60 s; the helper kills the server after STOP_TIMEOUT)."""
    with start_apiserver(tmp_path / "data") as server:
        watchers = [urllib.request.urlopen(f"{server.url}{PODS}?watch=true", timeout=30)
                    for _ in range(3)]
        try:
            code = server.stop()
            assert code == 0, "".join(server.log)
            assert [reader.read() for reader in watchers] == [b"", b"", b""]
        finally:
            for reader in watchers:
                reader.close()
    assert "Traceback" not in "".join(server.log)


CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


async def _configmaps(api: Client, count: int, size: int) -> None:
    for i in range(count):
        resp = await api.post(CONFIGMAPS, json={"metadata": {"name": f"cm{i}"},
                                                "data": {"k": "x" * size}})
        assert resp.status == 201, await resp.text()


async def test_a_watcher_that_stops_reading_is_closed_while_others_keep_up(
        api: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A client that opens a watch and never reads: its connection is closed once a write
    waits longer than the timeout, logged once and counted; a reading watcher gets it all."""
    monkeypatch.setattr(watch, "WRITE_TIMEOUT_SECONDS", 2.0)
    stuck = socket.create_connection(("127.0.0.1", api.port))
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(f"GET {CONFIGMAPS}?watch=true HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        count, size = 120, 100_000  # 12 MB: more than the kernel buffers on both sides
        reader = await api.get(f"{CONFIGMAPS}?watch=true&resourceVersion=1")

        async def read_all() -> int:
            received = 0
            while received < count:
                line = await asyncio.wait_for(reader.content.readline(), 10)
                assert json.loads(line)["type"] == "ADDED"
                received += 1
            return received

        reading = asyncio.create_task(read_all())  # reads while the writes go on
        registry = api.app[apiserver.REGISTRY]
        deadline = asyncio.get_running_loop().time() + 10
        while registry.watchers < 2:  # both watches follow changes before the writes begin
            assert asyncio.get_running_loop().time() < deadline, "the watches never started"
            await asyncio.sleep(0.02)
        with caplog.at_level(logging.INFO, logger="servers.apiserver.watch"):
            await _configmaps(api, count, size)
            assert await reading == count
            reader.close()
            deadline = asyncio.get_running_loop().time() + 10
            while not any("closing the watch" in r.getMessage() for r in caplog.records):
                assert asyncio.get_running_loop().time() < deadline, "the stuck watch stayed open"
                await asyncio.sleep(0.1)
        metrics = await (await api.get("/metrics")).text()
        assert 'apiserver_terminated_watchers_total{resource="configmaps"} 1.0' in metrics
        logged = [r.getMessage() for r in caplog.records if "closing the watch" in r.getMessage()]
        assert len(logged) == 1 and logged[0].startswith("closing the watch of configmaps for ")
        while registry.watchers:  # both watches have ended: the stuck one's blocked write too
            assert asyncio.get_running_loop().time() < deadline, "a watch is still being served"
            await asyncio.sleep(0.1)
    finally:
        stuck.close()  # (not read to the end: a 4 kB window drains slowly)


async def test_the_watch_cache_window_is_bounded_in_events_and_bytes(api: Client) -> None:
    """However far behind a watcher is, the window it may catch up from holds at most
    window_bytes of objects; a watcher that falls out of it is closed (410, it re-lists)."""
    registry = api.app[apiserver.REGISTRY]
    cache = registry.watch_cache
    cache.window_bytes = 200_000
    await cache.start()
    start = await registry.storage.current_revision()
    await _configmaps(api, 1, 10)
    configmaps = resources.by_plural("", "v1", "configmaps")
    assert configmaps is not None
    behind = registry.watch(Target(configmaps, "default"), start).__aiter__()
    assert len(await behind.__anext__()) == 1  # positioned at the first configmap ...
    held = []
    for i in range(1, 60):  # ... and 600 kB written behind its back
        resp = await api.post(CONFIGMAPS, json={"metadata": {"name": f"cm{i}"},
                                                "data": {"k": "x" * 10_000}})
        assert resp.status == 201
        await asyncio.sleep(0)
        held.append(cache.held_bytes)
    last = await registry.storage.current_revision()
    while cache._last < last:
        await asyncio.sleep(0.01)
    assert 0 < max(held) <= 200_000 + 11_000
    assert len(cache._events) < 30
    with pytest.raises(FellBehind):
        await behind.__anext__()


async def test_a_watcher_catching_up_gets_bounded_batches(api: Client) -> None:
    """What one write to a watcher holds is bounded (watchcache.BATCH_BYTES), however much it
    has to catch up on; every event still comes, in order."""
    registry = api.app[apiserver.REGISTRY]
    await registry.watch_cache.start()
    start = await registry.storage.current_revision()
    await _configmaps(api, 25, 100_000)  # 2.5 MB behind
    configmaps = resources.by_plural("", "v1", "configmaps")
    assert configmaps is not None
    sizes, names = [], []
    async for batch in registry.watch(Target(configmaps, "default"), start):
        sizes.append(sum(watchcache.event_size(e) for e in batch))
        names += [e.kv.key.rsplit("/", 1)[-1] for e in batch]
        if len(names) == 25:
            break
    assert names == [f"cm{i}" for i in range(25)]
    assert len(sizes) >= 3 and max(sizes) <= watchcache.BATCH_BYTES
