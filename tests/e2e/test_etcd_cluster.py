"""A three-member etcd cluster (Debian's etcd) under the built km.pyz apiserver, one member
killed with SIGKILL in the middle of a burst of creates (issue 13's fault): the apiserver
fails over to the next endpoint, clients that retry get every object created exactly once,
every acknowledged write is still there with its resourceVersion, and a watch started before
the kill sees every create once, in order.

All members and the apiserver listen on 127.0.0.1; every process started here is stopped
here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.etcd import EtcdCluster

pytestmark = pytest.mark.etcd

PODS = "/api/v1/namespaces/default/pods"
CLIENTS = 8
PER_CLIENT = 40
KILL_AFTER = 60  # acknowledged creates before the first member dies
RETRIES = 40  # per create, 0.25 s apart: 10 s for the cluster to elect and the client to fail over
Obj = dict[str, Any]


def pod(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"burst": "1"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}


class Burst:
    def __init__(self, api: ApiServer, etcd: EtcdCluster) -> None:
        self.api, self.etcd = api, etcd
        self.acked: dict[str, str] = {}  # name -> resourceVersion of its 201
        self.found: set[str] = set()  # a retry met 409: an earlier try had made it
        self.failures: list[tuple[int, str]] = []  # the 5xx answers seen while failing over
        self.killed = False

    async def create(self, session: aiohttp.ClientSession, name: str) -> None:
        for _ in range(RETRIES):
            try:
                async with session.post(self.api.url + PODS, json=pod(name)) as resp:
                    body = await resp.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.failures.append((0, repr(exc)))
                await asyncio.sleep(0.25)
                continue
            if resp.status == 201:
                self.acked[name] = json.loads(body)["metadata"]["resourceVersion"]
                if len(self.acked) >= KILL_AFTER and not self.killed:
                    self.killed = True
                    self.etcd.kill(0)  # the member the apiserver talks to first
                return
            if resp.status == 409:
                self.found.add(name)
                return
            assert resp.status >= 500, (resp.status, body[:300])
            status = json.loads(body)
            assert status["kind"] == "Status", status
            self.failures.append((resp.status, status["message"]))
            await asyncio.sleep(0.25)
        pytest.fail(f"create {name} never succeeded: {self.failures[-3:]}")

    async def client(self, session: aiohttp.ClientSession, n: int) -> None:
        for i in range(PER_CLIENT):
            await self.create(session, f"p-{n}-{i:03d}")


async def watch(session: aiohttp.ClientSession, api: ApiServer, since: str, want: int,
                seen: list[str]) -> None:
    """Record the names of ADDED pods from ``since`` until ``want`` were seen, resuming the
    watch from the last event when a stream ends (as an informer does)."""
    while len(seen) < want:
        params = {"watch": "1", "resourceVersion": since, "labelSelector": "burst=1",
                  "allowWatchBookmarks": "false", "timeoutSeconds": "30"}
        try:
            async with session.get(api.url + PODS, params=params) as resp:
                assert resp.status == 200
                async for line in resp.content:
                    event = json.loads(line)
                    if event["type"] == "ADDED":
                        seen.append(event["object"]["metadata"]["name"])
                    since = event["object"]["metadata"]["resourceVersion"]
                    if len(seen) >= want:
                        return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            await asyncio.sleep(0.25)


async def test_one_etcd_member_killed_under_load_loses_nothing(km: Path, tmp_path: Path) -> None:
    with EtcdCluster(3) as etcd, start_apiserver(
            tmp_path / "data", km=km,
            extra_args=["--storage-backend", "etcd",
                        "--etcd-servers", ",".join(etcd.endpoints)]) as api:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(api.url + PODS) as resp:
                start_rv = (await resp.json())["metadata"]["resourceVersion"]
            burst = Burst(api, etcd)
            seen: list[str] = []
            watcher = asyncio.create_task(
                watch(session, api, start_rv, CLIENTS * PER_CLIENT, seen))
            await asyncio.wait_for(asyncio.gather(
                *(burst.client(session, n) for n in range(CLIENTS))), 120)
            await asyncio.wait_for(watcher, 60)

            assert burst.killed, "the burst ended before the kill"
            names = {f"p-{n}-{i:03d}" for n in range(CLIENTS) for i in range(PER_CLIENT)}
            assert set(burst.acked) | burst.found == names
            async with session.get(api.url + PODS, params={"labelSelector": "burst=1"}) as resp:
                listed = {p["metadata"]["name"]: p["metadata"]["resourceVersion"]
                          for p in (await resp.json())["items"]}
            assert set(listed) == names
            assert all(listed[name] == rv for name, rv in burst.acked.items())
            # The watch saw each create once; in the order of their resourceVersions.
            assert sorted(seen) == sorted(names)
            order = [int(listed[name]) for name in seen]
            assert order == sorted(order)
