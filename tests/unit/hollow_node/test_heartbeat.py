"""Heartbeats against a fake client: leases taken over, conflicts re-read, renewals."""

from __future__ import annotations

from typing import Any

from servers.apimachinery.errors import Conflict, NotFound
from servers.hollow_node.fleet import Fleet
from servers.hollow_node.heartbeat import Heartbeats
from servers.hollow_node.nodes import NodeShape


class FakeLeases:
    """One stored Lease per name with a resourceVersion; PUTs must carry the current one."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        rv = int(self.stored.get(obj["metadata"]["name"], {}).get(
            "metadata", {}).get("resourceVersion", "0")) + 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}
        self.stored[obj["metadata"]["name"]] = obj
        return obj

    async def create(self, resource: Any, obj: dict[str, Any], ns: str) -> dict[str, Any]:
        self.calls.append("create")
        return self._bump(obj)

    async def get(self, resource: Any, name: str, ns: str) -> dict[str, Any]:
        self.calls.append("get")
        if name not in self.stored:
            raise NotFound("leases", name)
        return self.stored[name]

    async def update(self, resource: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("update")
        name = obj["metadata"]["name"]
        if name not in self.stored:
            raise NotFound("leases", name)
        if obj["metadata"]["resourceVersion"] != self.stored[name]["metadata"][
                "resourceVersion"]:
            raise Conflict("leases", name, "the object has been modified")
        return self._bump(obj)


def make() -> tuple[Heartbeats, FakeLeases]:
    client = FakeLeases()
    fleet = Fleet("h", 2, NodeShape())
    fleet.uids.update({"h-0": "uid-0", "h-1": "uid-1"})
    return Heartbeats(client, fleet, renew_interval=10.0,  # type: ignore[arg-type]
                      report_frequency=300.0), client


async def test_a_new_node_gets_a_lease_created() -> None:
    beats, client = make()
    await beats.ensure_lease("h-0", None)
    assert client.calls == ["create"]
    assert beats.leases["h-0"]["metadata"]["ownerReferences"][0]["uid"] == "uid-0"


async def test_a_stale_listed_lease_is_read_again_and_taken_over() -> None:
    beats, client = make()
    old = await client.create(None, {"metadata": {"name": "h-1", "ownerReferences": []},
                                     "spec": {"holderIdentity": "someone"}}, "ns")
    await client.update(None, old)             # modified after our list
    client.calls.clear()
    await beats.ensure_lease("h-1", old)
    assert client.calls == ["update", "get", "update"]
    lease = client.stored["h-1"]
    assert lease["spec"]["holderIdentity"] == "h-1"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


async def test_renewals_update_from_the_cached_copy_and_recover_from_conflicts() -> None:
    beats, client = make()
    await beats.ensure_lease("h-0", None)
    first = beats.leases["h-0"]["spec"]["renewTime"]
    assert await beats.renew("h-0")
    assert client.calls == ["create", "update"]
    await client.update(None, client.stored["h-0"])    # someone else wrote it
    client.calls.clear()
    assert await beats.renew("h-0")
    assert client.calls == ["update", "get", "update"]
    assert beats.leases["h-0"]["spec"]["renewTime"] >= first
    del client.stored["h-0"]                            # deleted: created again
    assert await beats.renew("h-0")
    assert "h-0" in client.stored


async def test_renewing_an_unregistered_node_fails_softly() -> None:
    beats, _ = make()
    assert not await beats.renew("h-1")
