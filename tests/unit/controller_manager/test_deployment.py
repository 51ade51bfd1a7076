"""The deployment controller's sync over a filled cache and a fake client, and its pure
helpers (hash, fenceposts, conditions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servers.apimachinery.errors import AlreadyExists, Conflict
from servers.controller_manager.controllers import deployment
from servers.controller_manager.controllers import deploymentutil as du
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
NOW = 1_800_000_000.0
TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}


def deploy(replicas: int = 3, *, image: str = "nginx", strategy: Obj | None = None,
           generation: int = 1, status: Obj | None = None, **spec: Any) -> Obj:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = image
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid",
                         "generation": generation, "resourceVersion": "7",
                         "annotations": {"team": "a"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template, "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600,
                     "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {
                         "maxSurge": "25%", "maxUnavailable": "25%"}}, **spec},
            "status": status or {}}


def rs_of(d: Obj, replicas: int, *, available: int | None = None, revision: int = 1,
          created: str = "2026-01-01T00:00:00Z", image: str | None = None) -> Obj:
    template = copy.deepcopy(d["spec"]["template"])
    if image is not None:
        template["spec"]["containers"][0]["image"] = image
    h = du.template_hash(template)
    template["metadata"]["labels"][du.HASH_LABEL] = h
    count = replicas if available is None else available
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-{h}", "namespace": "default", "uid": f"rs-{h}",
                         "generation": 1, "resourceVersion": "3", "creationTimestamp": created,
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {du.REVISION: str(revision),
                                         du.DESIRED_REPLICAS: str(d["spec"]["replicas"])},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "web", "uid": "d-uid",
                                              "controller": True}]},
            "spec": {"replicas": replicas, "template": template, "selector": {
                "matchLabels": {"app": "web", du.HASH_LABEL: h}}},
            "status": {"replicas": replicas, "readyReplicas": count,
                       "availableReplicas": count, "observedGeneration": 1}}


def setup() -> tuple[Any, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    controller = deployment.new(ctx)
    controller.clock = lambda: NOW
    return controller, factory, client


def events(controller: Any) -> list[tuple[str, str]]:
    out = []
    for queue in controller.recorder._queues:
        while not queue.empty():
            _, event = queue.get_nowait()
            out.append((event["reason"], event["message"]))
    return out


def last_status(client: FakeClient) -> Obj:
    return dict(client.verbs("update/status", "deployments")[-1][4])


def rs_updates(client: FakeClient) -> dict[str, int]:
    return {w[3]: w[4]["spec"]["replicas"] for w in client.verbs("update", "replicasets")}


def test_hash_is_stable_and_the_collision_count_changes_it() -> None:
    assert du.template_hash(TEMPLATE) == du.template_hash(copy.deepcopy(TEMPLATE))
    assert du.template_hash(TEMPLATE) != du.template_hash(TEMPLATE, 1)
    assert set(du.template_hash(TEMPLATE)) <= set("bcdfghjklmnpqrstvwxz2456789")
    labelled = copy.deepcopy(TEMPLATE)
    labelled["metadata"]["labels"][du.HASH_LABEL] = "abc"
    assert du.equal_ignore_hash(labelled, TEMPLATE)
    nulled = copy.deepcopy(TEMPLATE)
    nulled["metadata"]["creationTimestamp"] = None  # as kubectl rollout undo sends it
    assert du.equal_ignore_hash(nulled, TEMPLATE)
    assert du.template_hash(nulled) == du.template_hash(TEMPLATE)
    assert not du.equal_ignore_hash(deploy(image="b")["spec"]["template"], TEMPLATE)


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    assert du.fenceposts(deploy(3)) == (1, 0)
    assert du.fenceposts(deploy(10)) == (3, 2)
    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}
    assert du.fenceposts(deploy(10, strategy=zero)) == (0, 1)
    assert du.max_surge(deploy(10, strategy={"type": "Recreate"})) == 0


async def test_a_new_deployment_gets_its_replicaset_revision_and_conditions() -> None:
    controller, factory, client = setup()
    factory["deployments"].add(deploy(3))
    await controller.sync("default/web")
    (create,) = client.verbs("create", "replicasets")
    rs = create[4]
    h = du.template_hash(deploy()["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["metadata"]["labels"] == {"app": "web", du.HASH_LABEL: h}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", du.HASH_LABEL: h}}
    assert rs["spec"]["template"]["metadata"]["labels"][du.HASH_LABEL] == h
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["annotations"] == {
        "team": "a", du.REVISION: "1", du.DESIRED_REPLICAS: "3", du.MAX_REPLICAS: "4"}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert ("ScalingReplicaSet", f"Scaled up replica set web-{h} from 0 to 3") in \
        events(controller)
    written = last_status(client)
    assert written["metadata"]["annotations"][du.REVISION] == "1"
    progressing = du.get_condition(written["status"], du.PROGRESSING)
    assert progressing is not None and progressing["reason"] == du.NEW_RS_CREATED
    assert progressing["message"] == f'Created new replica set "web-{h}"'
    available = du.get_condition(written["status"], du.AVAILABLE)
    assert available is not None and available["reason"] == du.MIN_UNAVAILABLE


async def test_a_new_template_surges_one_pod_then_old_pods_go_as_new_ones_are_available(
        ) -> None:
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(3, image="nginx:2", generation=2))
    old = factory["replicasets"].add(rs_of(d, 3, image="nginx"))
    await controller.sync("default/web")
    (create,) = client.verbs("create", "replicasets")
    new_rs = create[4]
    assert new_rs["spec"]["replicas"] == 1  # 3 + surge 1 - 3 existing
    assert new_rs["metadata"]["annotations"][du.REVISION] == "2"
    assert last_status(client)["metadata"]["annotations"][du.REVISION] == "2"
    # The new pod is available: one old pod may go (min available 3 of 4).
    client.writes.clear()
    new_rs["status"] = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    new_rs["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z"
    factory["replicasets"].add(new_rs)
    await controller.sync("default/web")
    assert rs_updates(client) == {old["metadata"]["name"]: 2}
    assert ("ScalingReplicaSet",
            f"Scaled down replica set {old['metadata']['name']} from 3 to 2") in \
        events(controller)


async def test_a_complete_rollout_says_so_and_cleans_history_beyond_the_limit() -> None:
    controller, factory, client = setup()
    # History is cleaned once the status already shows the rollout complete.
    done = {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
            "observedGeneration": 2}
    d = factory["deployments"].add(deploy(3, revisionHistoryLimit=0, generation=2,
                                          status=done))
    new_rs = factory["replicasets"].add(rs_of(d, 3, revision=2,
                                              created="2026-01-02T00:00:00Z"))
    old = rs_of(d, 0, revision=1, image="nginx:1")
    factory["replicasets"].add(old)
    await controller.sync("default/web")
    assert [w[3] for w in client.verbs("delete", "replicasets")] == [old["metadata"]["name"]]
    status = last_status(client)["status"]
    assert status["replicas"] == status["updatedReplicas"] == status["availableReplicas"] == 3
    assert status["unavailableReplicas"] == 0 and status["observedGeneration"] == 2
    progressing = du.get_condition(status, du.PROGRESSING)
    assert progressing is not None and progressing["reason"] == du.NEW_RS_AVAILABLE
    assert progressing["message"] == \
        f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.'


async def test_recreate_empties_old_replicasets_and_waits_for_their_pods() -> None:
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(2, image="b", strategy={"type": "Recreate"}))
    old = factory["replicasets"].add(rs_of(d, 2, image="a"))
    await controller.sync("default/web")
    assert rs_updates(client) == {old["metadata"]["name"]: 0}
    assert client.verbs("create", "replicasets") == []
    # Scaled to 0 but a pod of it is still running: still no new RS.
    client.writes.clear()
    drained = copy.deepcopy(old)
    drained["spec"]["replicas"] = 0
    drained["status"] = {"replicas": 0, "observedGeneration": 1}
    factory["replicasets"].add(drained)
    factory["pods"].add({"metadata": {"name": "p", "namespace": "default", "uid": "p1",
                                      "ownerReferences": [{"kind": "ReplicaSet",
                                                           "name": old["metadata"]["name"],
                                                           "uid": old["metadata"]["uid"],
                                                           "controller": True}]},
                         "status": {"phase": "Running"}})
    await controller.sync("default/web")
    assert client.verbs("create", "replicasets") == []
    factory["pods"].delete(factory["pods"].get("p", "default"))
    await controller.sync("default/web")
    (create,) = client.verbs("create", "replicasets")
    assert create[4]["spec"]["replicas"] == 2


async def test_a_paused_deployment_makes_no_new_replicaset() -> None:
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(3, image="new", paused=True))
    factory["replicasets"].add(rs_of(d, 3, image="old"))
    await controller.sync("default/web")
    assert client.verbs("create", "replicasets") == []
    progressing = du.get_condition(last_status(client)["status"], du.PROGRESSING)
    assert progressing is not None and progressing["status"] == "Unknown"
    assert (progressing["reason"], progressing["message"]) == (du.PAUSED,
                                                               "Deployment is paused")


async def test_scaling_mid_rollout_is_shared_in_proportion() -> None:
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(20, image="new"))
    old = rs_of(d, 8, image="old", created="2026-01-01T00:00:00Z")
    new_rs = rs_of(d, 4, image="new", revision=2, created="2026-01-02T00:00:00Z")
    for rs in (old, new_rs):
        rs["metadata"]["annotations"].update({du.DESIRED_REPLICAS: "10",
                                              du.MAX_REPLICAS: "13"})
        factory["replicasets"].add(rs)
    await controller.sync("default/web")
    sizes = rs_updates(client)
    # Allowed 20 + 5 = 25 over 12: 8 -> 15, 4 -> 8, leftover 2 to the largest.
    assert sizes == {old["metadata"]["name"]: 17, new_rs["metadata"]["name"]: 8}


async def test_no_progress_past_the_deadline_is_progress_deadline_exceeded() -> None:
    controller, factory, client = setup()
    d0 = deploy(1, progressDeadlineSeconds=5)
    stale = du.stamp(NOW - 30)
    d0["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "conditions": [{"type": "Progressing", "status": "True",
                                    "reason": du.RS_UPDATED, "message": "x",
                                    "lastUpdateTime": stale, "lastTransitionTime": stale}]}
    d = factory["deployments"].add(d0)
    factory["replicasets"].add(rs_of(d, 1, available=0))
    await controller.sync("default/web")
    status = last_status(client)["status"]
    progressing = du.get_condition(status, du.PROGRESSING)
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("False", du.TIMED_OUT)
    assert progressing["message"].endswith("has timed out progressing.")


async def test_orphan_replicasets_are_adopted_and_foreign_ones_left() -> None:
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(3))
    client.objects[("deployments", "default", "web")] = d
    orphan = rs_of(d, 3)
    del orphan["metadata"]["ownerReferences"]
    factory["replicasets"].add(orphan)
    foreign = rs_of(d, 1, image="x")
    foreign["metadata"]["ownerReferences"][0]["uid"] = "other"
    factory["replicasets"].add(foreign)
    await controller.sync("default/web")
    assert [w[3] for w in client.verbs("patch", "replicasets")] == [orphan["metadata"]["name"]]


async def test_an_old_replicaset_taken_back_gets_the_next_revision_and_keeps_history() -> None:
    """``rollout undo`` puts revision 1's template back: that RS becomes revision 3."""
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(3, image="v1", minReadySeconds=4))
    reused = factory["replicasets"].add(rs_of(d, 0, revision=1, image="v1"))
    factory["replicasets"].add(rs_of(d, 3, revision=2, image="v2",
                                     created="2026-01-02T00:00:00Z"))
    await controller.sync("default/web")
    first = client.verbs("update", "replicasets")[0][4]
    assert first["metadata"]["name"] == reused["metadata"]["name"]
    assert first["metadata"]["annotations"][du.REVISION] == "3"
    assert first["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert first["spec"]["minReadySeconds"] == 4  # the Deployment's, carried to the RS
    assert client.verbs("create", "replicasets") == []
    assert last_status(client)["metadata"]["annotations"][du.REVISION] == "3"


async def test_a_name_taken_by_another_template_bumps_the_collision_count() -> None:
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(3))
    squatter = rs_of(d, 1, image="other")
    squatter["metadata"]["name"] = f"web-{du.template_hash(d['spec']['template'])}"
    client.objects[("replicasets", "default", squatter["metadata"]["name"])] = squatter
    client.fail["create"] = AlreadyExists("replicasets", squatter["metadata"]["name"])
    with pytest.raises(Conflict):
        await controller.sync("default/web")
    assert last_status(client)["status"]["collisionCount"] == 1
    # The next sync hashes with the count: another name.
    assert du.template_hash(d["spec"]["template"], 1) != du.template_hash(d["spec"]["template"])


async def test_an_existing_replicaset_of_ours_is_taken_after_a_restart() -> None:
    """AlreadyExists for our own RS with our template (a cache behind, a restart): no
    collision, it is the new RS."""
    controller, factory, client = setup()
    d = factory["deployments"].add(deploy(3))
    ours = rs_of(d, 3)
    client.objects[("replicasets", "default", ours["metadata"]["name"])] = ours
    client.fail["create"] = AlreadyExists("replicasets", ours["metadata"]["name"])
    await controller.sync("default/web")
    status = last_status(client)["status"]
    assert "collisionCount" not in status
    assert status["updatedReplicas"] == 3
