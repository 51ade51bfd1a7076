"""The replication controller's sync over a filled cache and a fake client."""

from __future__ import annotations

import time
from typing import Any

import pytest

from servers.apimachinery.errors import Forbidden
from servers.apimachinery.selectors import label_selector_from_object
from servers.client.resources import ResourceRef
from servers.controller_manager.controllers import replicationcontroller
from servers.controller_manager.controllers.ranking import pods_to_delete
from servers.controller_manager.controllers.replicaset import (
    Kind,
    ManageError,
    ReplicaController,
    slow_start,
)
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
LABELS = {"app": "web"}


def rc(name: str = "web", replicas: int = 3, *, uid: str = "rc-uid", generation: int = 2,
       min_ready: int = 0) -> Obj:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "generation": generation, "resourceVersion": "5"},
            "spec": {"replicas": replicas, "selector": dict(LABELS), "minReadySeconds": min_ready,
                     "template": {"metadata": {"labels": dict(LABELS)},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}},
            "status": {"replicas": 0}}


def pod(name: str, *, owner: Obj | None = None, labels: Obj | None = None, node: str = "",
        phase: str = "Running", ready: bool = True, created: str = "2026-01-01T00:00:00Z",
        uid: str | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                 "labels": dict(LABELS if labels is None else labels),
                 "creationTimestamp": created, "resourceVersion": "1"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ReplicationController",
                                    "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    status: Obj = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node} if node else {}, "status": status}


def setup(*args: str) -> tuple[Any, FakeFactory, FakeClient]:
    ctx, factory, client = context(*args)
    controller = replicationcontroller.new(ctx)
    return controller, factory, client


def events(controller: Any) -> list[tuple[str, str]]:
    out = []
    for queue in controller.recorder._queues:
        while not queue.empty():
            _, event = queue.get_nowait()
            out.append((event["reason"], event["message"]))
    return out


async def test_scale_up_creates_the_missing_pods_from_the_template() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=3))
    factory["pods"].add(pod("web-a", owner=owner))
    await controller.sync("default/web")
    creates = client.verbs("create", "pods")
    assert len(creates) == 2
    body = creates[0][4]
    assert body["metadata"]["generateName"] == "web-"
    assert body["metadata"]["labels"] == LABELS
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "ReplicationController", "name": "web",
         "uid": "rc-uid", "controller": True, "blockOwnerDeletion": True}]
    assert body["spec"] == owner["spec"]["template"]["spec"]
    assert [r for r, _ in events(controller)] == ["SuccessfulCreate"] * 2
    # Not seen by the informer yet: another sync must not create them again.
    client.writes.clear()
    await controller.sync("default/web")
    assert client.verbs("create") == []


async def test_observed_creations_release_the_expectations() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=2))
    await controller.sync("default/web")
    for _, _, _, _, body in client.verbs("create", "pods"):
        factory["pods"].add({**body, "metadata": {**body["metadata"], "namespace": "default"}})
    assert controller.expectations.satisfied("default/web")
    client.writes.clear()
    factory["pods"].delete(factory["pods"].list()[0])
    await controller.sync("default/web")
    assert len(client.verbs("create", "pods")) == 1
    assert owner["metadata"]["uid"] == "rc-uid"


async def test_scale_down_deletes_the_least_valuable_pods_first() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=2))
    for made in (pod("running", owner=owner, node="n1"),
                 pod("pending", owner=owner, node="n1", phase="Pending", ready=False),
                 pod("unassigned", owner=owner, phase="Pending", ready=False),
                 pod("notready", owner=owner, node="n2", ready=False)):
        factory["pods"].add(made)
    await controller.sync("default/web")
    deleted = sorted(w[3] for w in client.verbs("delete", "pods"))
    assert deleted == ["pending", "unassigned"]
    assert sorted(m for r, m in events(controller)) == ["Deleted pod: pending",
                                                         "Deleted pod: unassigned"]


def test_ranking_follows_kube_order() -> None:
    now = time.time()
    pods = [pod("ready-old", node="n1", created="2020-01-01T00:00:00Z"),
            pod("notready", node="n1", ready=False),
            pod("unknown", node="n1", phase="Unknown"),
            pod("pending", node="n1", phase="Pending"),
            pod("nonode", phase="Pending")]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, 5, now)] == [
        "nonode", "pending", "unknown", "notready", "ready-old"]


def test_ranking_prefers_crowded_nodes_and_low_deletion_cost() -> None:
    now = time.time()
    crowded = [pod(f"c{i}", node="big") for i in range(3)]
    alone = pod("alone", node="small")
    cheap = pod("cheap", node="small2")
    cheap["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": "-5"}
    order = [p["metadata"]["name"] for p in pods_to_delete([alone, *crowded, cheap], 5, now)]
    assert order[0] == "cheap" and order[-1] == "alone"


async def test_adopts_matching_orphans_after_an_uncached_check() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=1))
    client.objects[("replicationcontrollers", "default", "web")] = owner
    factory["pods"].add(pod("orphan"))
    await controller.sync("default/web")
    patches = client.verbs("patch", "pods")
    assert len(patches) == 1 and patches[0][3] == "orphan"
    assert patches[0][4]["metadata"]["ownerReferences"][0]["uid"] == "rc-uid"
    assert client.verbs("create") == []


async def test_does_not_adopt_when_the_owner_is_gone_from_the_apiserver() -> None:
    controller, factory, client = setup()
    factory["replicationcontrollers"].add(rc(replicas=1))
    factory["pods"].add(pod("orphan"))
    await controller.sync("default/web")
    assert client.verbs("patch") == []


async def test_releases_owned_pods_that_stop_matching_and_ignores_others_pods() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=1))
    factory["pods"].add(pod("kept", owner=owner))
    factory["pods"].add(pod("relabelled", owner=owner, labels={"app": "other"}))
    stranger = rc("other", uid="other-uid")
    factory["pods"].add(pod("theirs", owner=stranger))
    await controller.sync("default/web")
    patches = client.verbs("patch", "pods")
    assert [p[3] for p in patches] == ["relabelled"]
    assert patches[0][4]["metadata"]["ownerReferences"] == [{"$patch": "delete",
                                                             "uid": "rc-uid"}]
    assert client.verbs("create") == [] and client.verbs("delete") == []


async def test_status_counts_and_observed_generation() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=4, generation=7))
    factory["pods"].add(pod("a", owner=owner))
    factory["pods"].add(pod("b", owner=owner, ready=False))
    factory["pods"].add(pod("c", owner=owner, labels={**LABELS, "extra": "1"}))
    factory["pods"].add(pod("done", owner=owner, phase="Succeeded"))
    await controller.sync("default/web")
    (update,) = client.verbs("update/status")
    assert update[4]["status"] == {"replicas": 3, "fullyLabeledReplicas": 3,
                                   "readyReplicas": 2, "availableReplicas": 2,
                                   "observedGeneration": 7}
    assert len(client.verbs("create", "pods")) == 1  # the Succeeded pod is not active


async def test_a_failed_create_stops_the_batches_and_sets_replica_failure() -> None:
    controller, factory, client = setup()
    factory["replicationcontrollers"].add(rc(replicas=10))
    client.fail["create"] = Forbidden("pods", "", "exceeded quota")
    with pytest.raises(ManageError, match="exceeded quota"):  # so the key is retried
        await controller.sync("default/web")
    assert controller.expectations.satisfied("default/web")
    (update,) = client.verbs("update/status")
    (condition,) = update[4]["status"]["conditions"]
    assert condition["type"] == "ReplicaFailure" and condition["reason"] == "FailedCreate"
    assert [r for r, _ in events(controller)] == ["FailedCreate"]


async def test_a_terminating_namespace_refusal_is_dropped_without_an_event() -> None:
    controller, factory, client = setup()
    factory["replicationcontrollers"].add(rc(replicas=3))
    refusal = Forbidden("pods", "", "unable to create new content in namespace default "
                        "because it is being terminated")
    refusal.details = {"causes": [{"reason": "NamespaceTerminating",
                                   "field": "metadata.namespace"}]}
    client.fail["create"] = refusal
    await controller.sync("default/web")  # no error: nothing to retry, the namespace goes
    assert controller.expectations.satisfied("default/web")
    assert events(controller) == []


async def test_slow_start_batches_double_and_stop_at_the_first_failure() -> None:
    calls: list[int] = []

    async def ok() -> bool:
        calls.append(1)
        return True

    assert await slow_start(100, ok) == 100
    failures = iter([True, True, True, False] + [True] * 10)

    async def flaky() -> bool:
        return next(failures)

    # batches 1, 2, then 4 with one failure (its three successes count); no batch of 3 more
    assert await slow_start(10, flaky) == 6
    assert len(list(failures)) == 7  # 1 + 2 + 4 calls made


async def test_pod_events_enqueue_the_owner_and_count_observations() -> None:
    controller, factory, _ = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=1))
    controller.queue._queue.clear()
    controller.queue._dirty.clear()
    controller.expectations.expect_deletions("default/web", ["uid-a"])
    made = factory["pods"].add(pod("a", owner=owner))
    assert "default/web" in controller.queue._dirty
    gone = {**made, "metadata": {**made["metadata"], "resourceVersion": "2",
                                 "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    factory["pods"].add(gone)
    assert controller.expectations.satisfied("default/web")


async def test_a_deleted_owner_forgets_its_expectations() -> None:
    controller, factory, client = setup()
    owner = factory["replicationcontrollers"].add(rc(replicas=2))
    await controller.sync("default/web")
    factory["replicationcontrollers"].delete(owner)
    client.writes.clear()
    await controller.sync("default/web")
    assert client.writes == []
    assert controller.expectations.pending("default/web") == (0, 0)


async def test_the_core_is_replicaset_generic() -> None:
    """The same controller over apps/v1 ReplicaSets: a metav1.LabelSelector, its own kind."""
    replicasets = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
    kind = Kind(replicasets, "replicaset", "replicaset-controller",
                lambda rs: label_selector_from_object(rs["spec"].get("selector")))
    ctx, factory, client = context()
    controller = ReplicaController(ctx, kind, workers=1)
    rs = {**rc("front", replicas=2), "apiVersion": "apps/v1", "kind": "ReplicaSet"}
    rs["spec"]["selector"] = {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "www"]}]}
    factory["replicasets"].add(rs)
    await controller.sync("default/front")
    creates = client.verbs("create", "pods")
    assert len(creates) == 2
    assert creates[0][4]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert creates[0][4]["metadata"]["generateName"] == "front-"
