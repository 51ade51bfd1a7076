"""The statefulset controller's sync over a filled cache and a fake client."""

from __future__ import annotations

import time
from typing import Any

from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers import statefulset as ss
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
LABELS = {"app": "web"}


def sts(replicas: int = 3, *, policy: str = "OrderedReady", partition: int = 0,
        strategy: str = "RollingUpdate", image: str = "x", status: Obj | None = None) -> Obj:
    update: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": partition}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "sts-uid",
                         "generation": 4},
            "spec": {"replicas": replicas, "serviceName": "nginx", "podManagementPolicy": policy,
                     "selector": {"matchLabels": dict(LABELS)}, "updateStrategy": update,
                     "template": {"metadata": {"labels": dict(LABELS)},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": status or {}}


def pod(owner: Obj, index: int, *, ready: bool = True, revision: str | None = None,
        phase: str = "Running", deleting: bool = False) -> Obj:
    body = ss.new_pod(owner, index, revision or ss.update_revision(owner))
    body["metadata"].update(namespace="default", uid=f"uid-{index}", resourceVersion="1")
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body["status"] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    return body


def setup(owner: Obj, *pods: Obj) -> tuple[Any, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    controller = ss.new(ctx)
    factory["statefulsets"].add(owner)
    for p in pods:
        factory["pods"].add(p)
    return controller, factory, client


def created(client: FakeClient) -> list[str]:
    return [w[3] for w in client.verbs("create", "pods")]


def deleted(client: FakeClient) -> list[str]:
    return [w[3] for w in client.verbs("delete", "pods")]


def last_status(client: FakeClient) -> Obj:
    return client.verbs("update/status", "statefulsets")[-1][4]["status"]


async def test_ordered_ready_makes_one_pod_at_a_time_with_its_identity() -> None:
    owner = sts(3)
    controller, _, client = setup(owner)
    await controller.sync("default/web")
    assert created(client) == ["web-0"]
    body = client.verbs("create", "pods")[0][4]
    assert body["spec"]["hostname"] == "web-0" and body["spec"]["subdomain"] == "nginx"
    labels = body["metadata"]["labels"]
    assert labels[ss.POD_NAME_LABEL] == "web-0" and labels[ss.POD_INDEX_LABEL] == "0"
    assert labels[ss.REVISION_LABEL] == ss.update_revision(owner)
    assert labels["app"] == "web"
    assert body["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


async def test_ordered_ready_waits_for_the_lower_ordinal_to_be_ready() -> None:
    owner = sts(3)
    controller, factory, client = setup(owner, pod(owner, 0, ready=False))
    await controller.sync("default/web")
    assert created(client) == []
    factory["pods"].add(pod(owner, 0))
    await controller.sync("default/web")
    assert created(client) == ["web-1"]


async def test_parallel_makes_every_missing_pod_at_once() -> None:
    owner = sts(3, policy="Parallel")
    controller, _, client = setup(owner, pod(owner, 1, ready=False))
    await controller.sync("default/web")
    assert sorted(created(client)) == ["web-0", "web-2"]


async def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time() -> None:
    owner = sts(1)
    controller, factory, client = setup(owner, *(pod(owner, i) for i in range(3)))
    await controller.sync("default/web")
    assert deleted(client) == ["web-2"]
    factory["pods"].add(pod(owner, 2, deleting=True))
    await controller.sync("default/web")
    assert deleted(client) == ["web-2"]  # waits while web-2 terminates


async def test_parallel_scale_down_removes_all_at_once() -> None:
    owner = sts(1, policy="Parallel")
    controller, _, client = setup(owner, *(pod(owner, i) for i in range(3)))
    await controller.sync("default/web")
    assert deleted(client) == ["web-2", "web-1"]


async def test_a_failed_pod_is_deleted_to_be_made_again() -> None:
    owner = sts(2)
    controller, _, client = setup(owner, pod(owner, 0), pod(owner, 1, phase="Failed"))
    await controller.sync("default/web")
    assert deleted(client) == ["web-1"]


async def test_rolling_update_with_partition_replaces_from_the_top_down_to_it() -> None:
    old = sts(3, image="v1")
    new = sts(3, image="v2", partition=1,
              status={"currentRevision": ss.update_revision(old)})
    pods = [pod(old, i) for i in range(3)]
    controller, factory, client = setup(new, *pods)
    await controller.sync("default/web")
    assert deleted(client) == ["web-2"]
    status = last_status(client)
    assert status["currentRevision"] == ss.update_revision(old)
    assert status["updateRevision"] == ss.update_revision(new)
    assert (status["currentReplicas"], status["updatedReplicas"]) == (3, 0)
    # web-2 made again from the new template and not ready yet: nothing more happens.
    factory["pods"].add(pod(new, 2, ready=False))
    await controller.sync("default/web")
    assert deleted(client) == ["web-2"]
    factory["pods"].add(pod(new, 2))
    await controller.sync("default/web")
    assert deleted(client) == ["web-2", "web-1"]
    factory["pods"].add(pod(new, 1))
    await controller.sync("default/web")
    assert deleted(client) == ["web-2", "web-1"]  # web-0 is below the partition
    status = last_status(client)
    assert (status["currentReplicas"], status["updatedReplicas"]) == (1, 2)


async def test_rolling_update_completes_the_revision() -> None:
    new = sts(2, image="v2", status={"currentRevision": "web-old"})
    controller, _, client = setup(new, pod(new, 0), pod(new, 1))
    await controller.sync("default/web")
    status = last_status(client)
    assert status["currentRevision"] == status["updateRevision"] == ss.update_revision(new)
    assert status["currentReplicas"] == status["updatedReplicas"] == 2
    assert status["readyReplicas"] == status["availableReplicas"] == status["replicas"] == 2
    assert status["observedGeneration"] == 4


async def test_on_delete_leaves_old_pods_alone() -> None:
    old = sts(2, image="v1")
    new = sts(2, image="v2", strategy="OnDelete")
    controller, _, client = setup(new, pod(old, 0), pod(old, 1))
    await controller.sync("default/web")
    assert deleted(client) == [] and created(client) == []


async def test_pods_of_other_names_or_owners_are_not_counted() -> None:
    owner = sts(1)
    stranger = pod(owner, 0)
    stranger["metadata"]["ownerReferences"][0]["uid"] = "another"
    controller, _, client = setup(owner, stranger)
    await controller.sync("default/web")
    assert created(client) == ["web-0"]


def test_revision_names_follow_the_template_and_the_collision_count() -> None:
    first = ss.update_revision(sts(image="v1"))
    assert first == ss.update_revision(sts(image="v1"))
    assert first != ss.update_revision(sts(image="v2"))
    assert first != ss.update_revision(sts(image="v1", status={"collisionCount": 1}))
    assert first.startswith("web-")
    assert set(first[len("web-"):]) <= set("bcdfghjklmnpqrstvwxz2456789")


async def test_start_ordinal_shifts_names_and_the_partition() -> None:
    owner = sts(2, policy="Parallel")
    owner["spec"]["ordinals"] = {"start": 5}
    controller, _, client = setup(owner, pod(owner, 0))
    await controller.sync("default/web")
    assert sorted(created(client)) == ["web-5", "web-6"] and deleted(client) == ["web-0"]
    old = sts(2, image="v1")
    new = sts(2, image="v2", partition=1)
    for item in (old, new):
        item["spec"]["ordinals"] = {"start": 5}
    controller, _, client = setup(new, pod(old, 5), pod(old, 6))
    await controller.sync("default/web")
    assert deleted(client) == ["web-6"]


async def test_min_ready_seconds_holds_the_next_ordinal() -> None:
    owner = sts(2)
    owner["spec"]["minReadySeconds"] = 30
    ready = pod(owner, 0)
    ready["status"]["conditions"][0]["lastTransitionTime"] = o.rfc3339_nano(time.time() - 5)
    controller, _, client = setup(owner, ready)
    later: list[tuple[str, float]] = []
    controller.queue.add_after = lambda key, delay: later.append((key, delay))
    await controller.sync("default/web")
    assert created(client) == [] and later == [("default/web", 30.0)]
    ready["status"]["conditions"][0]["lastTransitionTime"] = o.rfc3339_nano(time.time() - 60)
    await controller.sync("default/web")
    assert created(client) == ["web-1"]


async def test_a_pod_missing_its_identity_labels_gets_them_back() -> None:
    owner = sts(1)
    bare = pod(owner, 0)
    del bare["metadata"]["labels"][ss.POD_INDEX_LABEL]
    controller, _, client = setup(owner, bare)
    await controller.sync("default/web")
    patches = client.verbs("patch", "pods")
    assert [(w[3], w[4]["metadata"]["labels"]) for w in patches] == [
        ("web-0", {ss.POD_NAME_LABEL: "web-0", ss.POD_INDEX_LABEL: "0"})]
    controller, _, client = setup(owner, pod(owner, 0))
    await controller.sync("default/web")
    assert client.verbs("patch", "pods") == []
