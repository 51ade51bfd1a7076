"""The garbage collector's graph and its attemptToDelete/attemptToOrphan over a fake client."""

from __future__ import annotations

from typing import Any

from servers.client.resources import PODS, REPLICATION_CONTROLLERS, ResourceRef
from servers.controller_manager.controllers.garbagecollector import (
    GarbageCollector,
    _resources,
)
from servers.controller_manager.controllers.gcgraph import Graph
from tests.unit.controller_manager.fakes import FakeClient, context

Obj = dict[str, Any]


def owner(name: str = "web", uid: str = "rc-1", finalizers: list[str] | None = None,
          deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "7"}
    if finalizers:
        meta["finalizers"] = finalizers
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta}


def pod(name: str, *owners: Obj, block: bool = True, deleting: bool = False) -> Obj:
    refs = [{"apiVersion": "v1", "kind": "ReplicationController",
             "name": x["metadata"]["name"], "uid": x["metadata"]["uid"], "controller": True,
             "blockOwnerDeletion": block} for x in owners]
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "ownerReferences": refs}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


def setup() -> tuple[GarbageCollector, FakeClient]:
    ctx, _, client = context()
    gc = GarbageCollector(ctx, workers=1)
    gc.watch([PODS, REPLICATION_CONTROLLERS])
    return gc, client


def store(client: FakeClient, resource: ResourceRef, obj: Obj) -> Obj:
    client.objects[(resource.plural, "default", obj["metadata"]["name"])] = obj
    return obj


def test_discovery_keeps_list_watch_delete_resources_but_events_and_subresources() -> None:
    listing = {"resources": [
        {"name": "pods", "namespaced": True, "kind": "Pod",
         "verbs": ["create", "delete", "get", "list", "watch"]},
        {"name": "pods/status", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "events", "namespaced": True, "kind": "Event",
         "verbs": ["delete", "list", "watch"]},
        {"name": "bindings", "namespaced": True, "kind": "Binding", "verbs": ["create"]},
        {"name": "nodes", "namespaced": False, "kind": "Node",
         "verbs": ["delete", "list", "watch"]}]}
    refs = _resources("", "v1", listing)
    assert [(r.plural, r.namespaced) for r in refs] == [("pods", True), ("nodes", False)]


def test_graph_links_dependents_and_makes_virtual_owners() -> None:
    deletes: list[str] = []
    graph = Graph(deletes.append, lambda uid: None)
    rc = owner()
    graph.observe(PODS, pod("a", rc))
    assert graph.get("rc-1") is not None and not graph.get("rc-1").observed  # type: ignore[union-attr]
    assert deletes == ["rc-1"]  # a virtual owner is verified
    graph.observe(REPLICATION_CONTROLLERS, rc)
    assert graph.get("rc-1").observed and graph.get("rc-1").dependents == {"uid-a"}  # type: ignore[union-attr]
    deletes.clear()
    graph.forget(rc)
    assert deletes == ["uid-a"]


async def test_background_a_dependent_of_a_gone_owner_is_deleted_with_its_uid() -> None:
    gc, client = setup()
    rc = owner()
    gc.graph.observe(REPLICATION_CONTROLLERS, rc)
    gc.graph.observe(PODS, store(client, PODS, pod("a", rc)))
    gc.graph.forget(rc)
    await gc.attempt_to_delete("uid-a")
    assert client.verbs("delete") == [("delete", "pods", "default", "a", {
        "uid": "uid-a", "propagation_policy": "Background"})]


async def test_a_dependent_with_another_live_owner_only_loses_the_dead_reference() -> None:
    gc, client = setup()
    dead, alive = owner("dead", "rc-dead"), store(client, REPLICATION_CONTROLLERS,
                                                  owner("alive", "rc-alive"))
    gc.graph.observe(REPLICATION_CONTROLLERS, alive)
    gc.graph.observe(PODS, store(client, PODS, pod("a", dead, alive)))
    await gc.attempt_to_delete("uid-a")
    assert client.verbs("delete") == []
    ((_, _, _, name, patch),) = client.verbs("patch")
    assert name == "a"
    assert patch["metadata"]["ownerReferences"] == [{"$patch": "delete", "uid": "rc-dead"}]


async def test_an_item_whose_owner_lives_is_left_alone() -> None:
    gc, client = setup()
    rc = store(client, REPLICATION_CONTROLLERS, owner())
    gc.graph.observe(REPLICATION_CONTROLLERS, rc)
    gc.graph.observe(PODS, store(client, PODS, pod("a", rc)))
    await gc.attempt_to_delete("uid-a")
    assert client.writes == []


async def test_foreground_deletes_blocking_dependents_then_drops_the_finalizer() -> None:
    gc, client = setup()
    rc = store(client, REPLICATION_CONTROLLERS,
               owner(finalizers=["foregroundDeletion"], deleting=True))
    dependent = store(client, PODS, pod("a", rc))
    gc.graph.observe(PODS, dependent)
    gc.graph.observe(REPLICATION_CONTROLLERS, rc)
    await gc.attempt_to_delete("rc-1")
    assert client.writes == []  # a blocking dependent remains: it was queued
    assert "uid-a" in gc.deletes._dirty
    await gc.attempt_to_delete("uid-a")
    assert client.verbs("delete") == [("delete", "pods", "default", "a", {
        "uid": "uid-a", "propagation_policy": "Background"})]
    gc.graph.forget(dependent)
    del client.objects[("pods", "default", "a")]
    await gc.attempt_to_delete("rc-1")
    ((_, plural, _, name, patch),) = client.verbs("patch")
    assert (plural, name) == ("replicationcontrollers", "web")
    assert patch == {"metadata": {"finalizers": None, "resourceVersion": "7"}}


async def test_orphan_strips_references_then_the_finalizer() -> None:
    gc, client = setup()
    rc = store(client, REPLICATION_CONTROLLERS, owner(finalizers=["orphan"], deleting=True))
    gc.graph.observe(PODS, pod("a", rc))
    gc.graph.observe(PODS, pod("b", rc))
    gc.graph.observe(REPLICATION_CONTROLLERS, rc)
    assert "rc-1" in gc.orphans._dirty
    await gc.attempt_to_orphan("rc-1")
    patches = client.verbs("patch")
    assert [(p[1], p[3]) for p in patches] == [("pods", "a"), ("pods", "b"),
                                               ("replicationcontrollers", "web")]
    assert patches[0][4]["metadata"]["ownerReferences"] == [{"$patch": "delete",
                                                             "uid": "rc-1"}]
    assert client.verbs("delete") == []


async def test_a_virtual_owner_verified_absent_frees_its_dependents() -> None:
    gc, client = setup()
    gone = owner("gone", "rc-gone")
    gc.graph.observe(PODS, store(client, PODS, pod("a", gone)))
    await gc.attempt_to_delete("rc-gone")  # the owner was deleted while we were away
    assert gc.graph.get("rc-gone") is None
    assert "uid-a" in gc.deletes._dirty
    await gc.attempt_to_delete("uid-a")
    assert [w[3] for w in client.verbs("delete")] == ["a"]
