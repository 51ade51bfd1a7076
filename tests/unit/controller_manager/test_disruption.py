"""The disruption controller's PDB status over a filled cache and a fake client."""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers import disruption as dc
from servers.controller_manager.controllers import objects as o
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
NOW = 1_800_000_000.0
LABELS = {"app": "web"}


def pdb(**spec: Any) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default", "generation": 3},
            "spec": {"selector": {"matchLabels": dict(LABELS)}, **spec}, "status": {}}


def owner(kind: str, name: str, replicas: int, parent: Obj | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if parent is not None:
        meta["ownerReferences"] = [o.new_controller_ref(parent)]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": LABELS}}}}


def pod(name: str, *, ready: bool = True, by: Obj | None = None, deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "labels": dict(LABELS), "resourceVersion": "1"}
    if by is not None:
        meta["ownerReferences"] = [o.new_controller_ref(by)]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": {
        "phase": "Running", "conditions": [{"type": "Ready",
                                            "status": "True" if ready else "False"}]}}


def setup(budget: Obj, *objs: Obj) -> tuple[Any, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    controller = dc.DisruptionController(ctx, clock=lambda: NOW)
    factory["poddisruptionbudgets"].add(budget)
    plural = {"Pod": "pods", "ReplicaSet": "replicasets", "Deployment": "deployments",
              "StatefulSet": "statefulsets", "ReplicationController": "replicationcontrollers"}
    for obj in objs:
        factory[plural[obj["kind"]]].add(obj)
    return controller, factory, client


async def status_of(budget: Obj, *objs: Obj) -> Obj:
    controller, _, client = setup(budget, *objs)
    await controller.sync("default/web")
    return client.verbs("update/status", "poddisruptionbudgets")[-1][4]["status"]


def counts(st: Obj) -> tuple[int, int, int, int]:
    return (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"],
            st["disruptionsAllowed"])


async def test_min_available_integer_counts_the_pods() -> None:
    st = await status_of(pdb(minAvailable=2), pod("a"), pod("b"), pod("c", ready=False))
    assert counts(st) == (2, 2, 3, 0)
    assert st["observedGeneration"] == 3
    condition = st["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "DisruptionAllowed", "False", "InsufficientPods")
    st = await status_of(pdb(minAvailable=1), pod("a"), pod("b"))
    assert counts(st) == (2, 1, 2, 1)
    assert st["conditions"][0]["reason"] == "SufficientPods"


async def test_percentages_use_the_controllers_scale() -> None:
    sts = owner("StatefulSet", "db", 4)
    pods = [pod(f"db-{i}", by=sts) for i in range(3)]
    st = await status_of(pdb(minAvailable="50%"), sts, *pods)
    assert counts(st) == (3, 2, 4, 1)
    st = await status_of(pdb(maxUnavailable="25%"), sts, *pods)
    assert counts(st) == (3, 3, 4, 0)
    st = await status_of(pdb(maxUnavailable=1), sts, *pods)
    assert counts(st) == (3, 3, 4, 0)


async def test_a_deployments_replicasets_count_once_at_its_scale() -> None:
    deploy = owner("Deployment", "web", 3)
    old, new = owner("ReplicaSet", "web-1", 1, deploy), owner("ReplicaSet", "web-2", 2, deploy)
    pods = [pod("a", by=old), pod("b", by=new), pod("c", by=new)]
    st = await status_of(pdb(maxUnavailable=1), deploy, old, new, *pods)
    assert counts(st) == (3, 2, 3, 1)


async def test_a_controller_of_unknown_kind_fails_safe() -> None:
    budget = pdb(maxUnavailable=1)
    budget["status"] = {"observedGeneration": 2, "disruptionsAllowed": 1}
    st = await status_of(budget, pod("a", by=owner("CronThing", "x", 1)))
    assert st["disruptionsAllowed"] == 0 and st["observedGeneration"] == 2
    assert (st["conditions"][0]["reason"], st["conditions"][0]["message"]) == (
        "SyncFailed", "found no controllers for pod's CronThing 'x'")


async def test_unmanaged_pods_are_left_out_of_the_scale_with_a_warning() -> None:
    sts = owner("StatefulSet", "db", 2)
    controller, _, client = setup(pdb(maxUnavailable=1), sts, pod("a", by=sts), pod("b"))
    await controller.sync("default/web")
    st = client.verbs("update/status", "poddisruptionbudgets")[-1][4]["status"]
    assert counts(st) == (2, 1, 2, 1)
    reasons = []
    for queue in controller.recorder._queues:
        while not queue.empty():
            reasons.append(queue.get_nowait()[1]["reason"])
    assert reasons == ["UnmanagedPods"]


async def test_neither_field_expects_nothing() -> None:
    st = await status_of(pdb(), pod("a"))
    assert counts(st) == (1, 0, 0, 0)


async def test_disrupted_pods_are_not_healthy_until_they_expire() -> None:
    budget = pdb(minAvailable=1)
    fresh = o.rfc3339_nano(NOW - 30)
    stale = o.rfc3339_nano(NOW - 300)
    budget["status"] = {"disruptedPods": {"a": fresh, "b": stale, "gone": fresh}}
    controller, _, client = setup(budget, pod("a"), pod("b"), pod("c"))
    later: list[tuple[str, float]] = []
    controller.queue.add_after = lambda key, delay: later.append((key, delay))
    await controller.sync("default/web")
    assert later == [("default/web", 90.5)]  # when a's entry expires
    st = client.verbs("update/status", "poddisruptionbudgets")[-1][4]["status"]
    assert st["disruptedPods"] == {"a": fresh}
    assert counts(st) == (2, 1, 3, 1)


async def test_deleting_pods_are_not_healthy_and_leave_the_map() -> None:
    budget = pdb(minAvailable=1)
    budget["status"] = {"disruptedPods": {"a": o.rfc3339_nano(NOW - 10)}}
    st = await status_of(budget, pod("a", deleting=True), pod("b"))
    assert "disruptedPods" not in st
    assert counts(st) == (1, 1, 2, 0)


async def test_no_pods_no_disruptions() -> None:
    st = await status_of(pdb(maxUnavailable=1))
    assert counts(st) == (0, 0, 0, 0)
