"""The garbage collector in-process against a real apiserver, for each propagation policy:
the apiserver turns a DELETE's policy into the owner's foregroundDeletion/orphan finalizer,
the collector does the rest and removes it."""

from __future__ import annotations

from typing import Any

from servers.apimachinery.errors import NotFound
from servers.client.resources import CONFIGMAPS, PODS, REPLICATION_CONTROLLERS
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]
GC = ("--controllers", "garbagecollector")


async def make_owner(client: Client, name: str, finalizers: list[str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    return await client.create(CONFIGMAPS, {"metadata": meta, "data": {}}, "default")


async def make_dependent(client: Client, name: str, *owners: Obj, block: bool = True) -> Obj:
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": x["metadata"]["name"],
             "uid": x["metadata"]["uid"], "blockOwnerDeletion": block} for x in owners]
    return await client.create(PODS, {"metadata": {"name": name, "ownerReferences": refs},
                                      "spec": {"containers": [{"name": "c", "image": "x"}]}},
                               "default")


async def exists(client: Client, resource: Any, name: str) -> Obj | None:
    try:
        return await client.get(resource, name, "default")
    except NotFound:
        return None


async def gone(client: Client, resource: Any, name: str) -> None:
    async def check() -> bool:
        return await exists(client, resource, name) is None
    await eventually(check, f"{resource} {name} to go", WAIT, POLL)


async def test_background_deletes_dependents_whose_owners_are_all_gone(
        client: Client, manager: Manager) -> None:
    one, two = await make_owner(client, "one"), await make_owner(client, "two")
    await make_dependent(client, "only-one", one)
    await make_dependent(client, "both", one, two)
    async with manager(*GC):
        await client.delete(CONFIGMAPS, "one", "default", propagation_policy="Background")
        await gone(client, PODS, "only-one")

        async def stripped() -> bool:
            pod = await exists(client, PODS, "both")
            refs = (pod or {}).get("metadata", {}).get("ownerReferences") or []
            return [r["name"] for r in refs] == ["two"]

        await eventually(stripped, "the dead reference to be removed", WAIT, POLL)
        await client.delete(CONFIGMAPS, "two", "default")
        await gone(client, PODS, "both")


async def test_owner_deleted_while_the_collector_was_down(client: Client,
                                                         manager: Manager) -> None:
    owner = await make_owner(client, "early")
    await make_dependent(client, "left-behind", owner)
    await client.delete(CONFIGMAPS, "early", "default")
    async with manager(*GC):
        await gone(client, PODS, "left-behind")


async def test_foreground_dependents_first_then_the_owner(client: Client,
                                                          manager: Manager) -> None:
    owner = await make_owner(client, "fg")
    await make_dependent(client, "fg-a", owner)
    await make_dependent(client, "fg-b", owner, block=False)
    async with manager(*GC):
        await client.delete(CONFIGMAPS, "fg", "default", propagation_policy="Foreground")
        await gone(client, PODS, "fg-a")
        await gone(client, CONFIGMAPS, "fg")
        await gone(client, PODS, "fg-b")


async def test_orphan_keeps_dependents_without_the_reference(client: Client,
                                                             manager: Manager) -> None:
    owner = await make_owner(client, "orph")
    await make_dependent(client, "kept", owner)
    async with manager(*GC):
        await client.delete(CONFIGMAPS, "orph", "default", propagation_policy="Orphan")
        await gone(client, CONFIGMAPS, "orph")
        pod = await exists(client, PODS, "kept")
        assert pod is not None and not pod["metadata"].get("ownerReferences")


async def test_foreground_owner_stays_visible_until_its_dependents_go(
        client: Client, manager: Manager) -> None:
    owner = await make_owner(client, "slow")
    await make_dependent(client, "slow-a", owner)
    await client.delete(CONFIGMAPS, "slow", "default", propagation_policy="Foreground")
    marked = await exists(client, CONFIGMAPS, "slow")  # no collector yet: it waits
    assert marked is not None and marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    async with manager(*GC):
        await gone(client, CONFIGMAPS, "slow")
        assert await exists(client, PODS, "slow-a") is None


async def test_a_replication_controller_orphans_its_pods_without_a_policy(
        client: Client, manager: Manager) -> None:
    labels = {"app": "legacy"}
    rc = await client.create(REPLICATION_CONTROLLERS, {"metadata": {"name": "legacy"}, "spec": {
        "replicas": 0, "selector": labels, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "c", "image": "x"}]}}}}, "default")
    ref = {"apiVersion": "v1", "kind": "ReplicationController", "name": "legacy",
           "uid": rc["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    await client.create(PODS, {"metadata": {"name": "legacy-1", "ownerReferences": [ref]},
                               "spec": {"containers": [{"name": "c", "image": "x"}]}},
                        "default")
    async with manager(*GC):
        await client.request("DELETE", REPLICATION_CONTROLLERS.path("default", "legacy"))
        await gone(client, REPLICATION_CONTROLLERS, "legacy")
        pod = await exists(client, PODS, "legacy-1")
        assert pod is not None and not pod["metadata"].get("ownerReferences")
