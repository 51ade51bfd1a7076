"""Durability over HTTP: `kill -9` the built km.pyz apiserver in the middle of a burst of
creates, start it again on the same storage, and check what it promised.

* every create that was answered 201 is there, byte for byte (same uid, same
  resourceVersion); a create cut off by the kill is either whole or absent;
* revisions only go up: a create after the restart gets a higher resourceVersion than every
  acknowledged one, and the list's resourceVersion is not below them either;
* list is consistent: unpaged and paged lists agree, every item reads back the same with GET;
* a watch that resumes, after the restart, from a resourceVersion it saw before the kill gets
  every later change once, in order — across the kill and across writes made after it.

Both on the embedded SQLite store and on a real etcd (where only the apiserver is killed).
Everything listens on 127.0.0.1, every loop is bounded in count and time, and every process
started here is stopped here.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.etcd import EtcdServer

PODS = "/api/v1/namespaces/default/pods"
CLIENTS = 32
CREATES = 384  # in all, CREATES / CLIENTS per client
KILL_AFTER = 96  # acknowledged creates before the kill -9
BURST_SECONDS = 30.0
REQUEST_SECONDS = 10.0
WATCH_SECONDS = 10.0

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def km_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One shiv cache for the module, so only the first start unpacks km.pyz."""
    return {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("km-cache"))}


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def backend_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """apiserver flags for the backend; etcd is a real one, started and stopped here."""
    if request.param == "sqlite":
        yield []
        return
    with EtcdServer() as etcd:
        yield ["--storage-backend", "etcd", "--etcd-servers", etcd.endpoint]


@pytest.fixture
def apiserver(km: Path, km_env: dict[str, str], backend_args: list[str],
              tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data", km=km, env=km_env,
                         extra_args=backend_args) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CLIENTS),
            timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS)) as client:
        yield client


def pod(name: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "burst", **labels}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def call(session: aiohttp.ClientSession, api: ApiServer, method: str, path: str,
               body: Any = None, *, expect: int = 200, ctype: str = "application/json") -> Any:
    data = None if body is None else json.dumps(body)
    async with session.request(method, api.url + path, data=data,
                               headers={"Content-Type": ctype}) as resp:
        payload = await resp.json(content_type=None)
        assert resp.status == expect, (method, path, payload)
        return payload


# -- a burst of creates, killed in the middle ---------------------------------------------------

@dataclass
class Burst:
    """The creates of a burst and what became of them."""

    api: ApiServer
    acked: dict[str, Obj] = field(default_factory=dict)  # name -> the 201 body
    cut_off: set[str] = field(default_factory=set)  # no answer: the kill came first
    refused: list[tuple[str, int, Any]] = field(default_factory=list)
    killed: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, session: aiohttp.ClientSession, n: int) -> None:
        for i in range(CREATES // CLIENTS):
            name = f"p-{n:02d}-{i:03d}"
            try:
                async with session.post(self.api.url + PODS, json=pod(name)) as resp:
                    body = await resp.read()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.cut_off.add(name)
                return  # the server is gone
            if resp.status != 201:
                self.refused.append((name, resp.status, body[:300]))
                return
            self.acked[name] = json.loads(body)
            if len(self.acked) >= KILL_AFTER and not self.killed.is_set():
                self.killed.set()
                self.api.kill()  # SIGKILL now, with the other clients' requests in flight

    async def run(self, session: aiohttp.ClientSession) -> None:
        clients = [self.client(session, n) for n in range(CLIENTS)]
        await asyncio.wait_for(asyncio.gather(*clients), BURST_SECONDS)


async def list_all(session: aiohttp.ClientSession, api: ApiServer, limit: int = 0) -> Obj:
    """The pods of `default`, in one list or page by page (bounded); the items of all pages."""
    query = f"?limit={limit}" if limit else ""
    listed = await call(session, api, "GET", PODS + query)
    items = listed["items"]
    for _ in range(CREATES):
        token = listed["metadata"].get("continue")
        if not token:
            break
        listed = await call(session, api, "GET", f"{PODS}?limit={limit}&continue={token}")
        items += listed["items"]
    else:
        pytest.fail("paging did not end")
    return {"metadata": listed["metadata"], "items": items}


async def test_acknowledged_creates_survive_kill_9(apiserver: ApiServer,
                                                  session: aiohttp.ClientSession) -> None:
    burst = Burst(apiserver)
    await burst.run(session)
    assert burst.killed.is_set() and not burst.refused, burst.refused
    assert KILL_AFTER <= len(burst.acked) < CREATES, len(burst.acked)
    assert burst.cut_off, "the kill came when no request was in flight"

    apiserver.start()  # the same port and data
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS)) as s2:
        listed = await list_all(s2, apiserver)
        by_name = {p["metadata"]["name"]: p for p in listed["items"]}
        assert len(by_name) == len(listed["items"]), "a name is listed twice"
        # Every acknowledged create is there, exactly as it was answered.
        for name, acked in burst.acked.items():
            assert by_name.get(name) == acked, name
        # The ones cut off by the kill are whole or absent; nothing else appeared.
        assert set(by_name) <= set(burst.acked) | burst.cut_off
        for name in set(by_name) - set(burst.acked):
            assert by_name[name]["metadata"]["uid"] and by_name[name]["spec"]["containers"]
        # Revisions only went up.
        top = max(rv(p) for p in by_name.values())
        assert int(listed["metadata"]["resourceVersion"]) >= top
        after = await call(s2, apiserver, "POST", PODS, pod("after-restart"), expect=201)
        assert rv(after) > top
        assert after["metadata"]["uid"] not in {p["metadata"]["uid"] for p in by_name.values()}
        # Paged and unpaged lists agree, and every item reads back the same.
        paged = await list_all(s2, apiserver, limit=50)
        assert [p for p in paged["items"] if p["metadata"]["name"] != "after-restart"] == (
            listed["items"])
        for name in sorted(by_name)[::16]:
            assert await call(s2, apiserver, "GET", f"{PODS}/{name}") == by_name[name]


# -- a watch that resumes across the kill -----------------------------------------------------

Change = tuple[str, str, int]  # (event type, pod name, resourceVersion)


async def make_changes(session: aiohttp.ClientSession, api: ApiServer, tag: str) -> list[Change]:
    """Creates, an update and a delete; the events a watcher must see for them."""
    done: list[Change] = []
    for i in range(4):
        created = await call(session, api, "POST", PODS, pod(f"{tag}-{i}"), expect=201)
        done.append(("ADDED", f"{tag}-{i}", rv(created)))
    patched = await call(session, api, "PATCH", f"{PODS}/{tag}-1",
                         {"metadata": {"labels": {"step": "2"}}},
                         ctype="application/merge-patch+json")
    done.append(("MODIFIED", f"{tag}-1", rv(patched)))
    deleted = await call(session, api, "DELETE", f"{PODS}/{tag}-2")
    done.append(("DELETED", f"{tag}-2", rv(deleted)))
    return done


async def read_watch(session: aiohttp.ClientSession, api: ApiServer, since: int,
                     count: int) -> list[Change]:
    """Up to `count` events after `since`, within WATCH_SECONDS; fewer if the stream ends."""
    url = f"{api.url}{PODS}?watch=true&resourceVersion={since}&timeoutSeconds=30"
    events: list[Change] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WATCH_SECONDS
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            assert resp.status == 200, await resp.text()
            while len(events) < count:
                line = await asyncio.wait_for(resp.content.readline(),
                                              max(deadline - loop.time(), 0.01))
                if not line:
                    break
                event = json.loads(line)
                assert event["type"] != "ERROR", event
                obj = event["object"]
                events.append((event["type"], obj["metadata"]["name"], rv(obj)))
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass  # the server went away, or nothing more came: the caller compares what it got
    return events


async def test_watch_resumes_from_before_the_kill(apiserver: ApiServer,
                                                 session: aiohttp.ClientSession) -> None:
    start = rv(await call(session, apiserver, "POST", PODS, pod("start"), expect=201))
    expected = await make_changes(session, apiserver, "before")
    # A watcher reads part of the stream, then the server dies under it.
    seen = await read_watch(session, apiserver, start, count=3)
    assert seen == expected[:3]
    apiserver.kill()
    assert await read_watch(session, apiserver, start, count=1) == []  # nobody home
    apiserver.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS)) as s2:
        expected += await make_changes(s2, apiserver, "after")
        # The last change: a repeated or extra event would show up before it, so reading
        # exactly as many events as expected proves "once" without waiting for silence.
        last = await call(s2, apiserver, "POST", PODS, pod("last"), expect=201)
        expected.append(("ADDED", "last", rv(last)))
        # Resume from the last event seen before the kill: the rest, in order, once.
        rest = await read_watch(s2, apiserver, seen[-1][2], count=len(expected) - len(seen))
        assert seen + rest == expected
        # And from the resourceVersion before every change: the whole history, again.
        assert await read_watch(s2, apiserver, start, count=len(expected)) == expected
