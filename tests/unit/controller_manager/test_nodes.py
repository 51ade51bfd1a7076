"""Node lifecycle, taint eviction, node IPAM and pod GC over filled caches and a fake client."""

from __future__ import annotations

from typing import Any

import pytest

from servers.controller_manager.controllers import nodeipam, nodelifecycle, podgc, tainteviction
from servers.controller_manager.controllers.nodeipam import CIDRSet
from servers.controller_manager.controllers.tainteviction import FOREVER, toleration_seconds
from tests.unit.controller_manager.fakes import context

Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def node(name: str, ready: str = "True", beat: str = "2026-01-01T00:00:00Z",
         taints: list[Obj] | None = None) -> Obj:
    spec: Obj = {"taints": taints} if taints else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "resourceVersion": "1", "uid": f"uid-{name}"},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": ready,
                                       "lastHeartbeatTime": beat}]}}


def pod(name: str, node_name: str = "n1", tolerations: list[Obj] | None = None,
        phase: str = "Running", created: str = "2026-01-01T00:00:00Z") -> Obj:
    spec: Obj = {"nodeName": node_name, "containers": [{"name": "c", "image": "x"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "creationTimestamp": created, "resourceVersion": "1"},
            "spec": spec, "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True"}]}}


def lifecycle(clock: Clock, rate: float = 100.0) -> tuple[Any, Any, Any]:
    ctx, factory, client = context()
    controller = nodelifecycle.NodeLifecycle(ctx, period=1, grace=50, startup_grace=60,
                                             eviction_rate=rate, clock=clock)
    return controller, factory, client


async def test_a_silent_node_turns_unknown_its_pods_not_ready_and_is_tainted() -> None:
    clock = Clock()
    controller, factory, client = lifecycle(clock)
    factory["nodes"].add(node("n1"))
    factory["nodes"].add(node("n2"))
    factory["pods"].add(pod("p1"))
    await controller.monitor()
    assert client.writes == []
    clock.now += 30
    factory["nodes"].add({**node("n2", beat="2026-01-01T00:00:30Z"),
                          "metadata": {"name": "n2", "resourceVersion": "2"}})
    clock.now += 30  # n1 silent 60 s, n2 30 s
    await controller.monitor()
    (status,) = client.verbs("update/status", "nodes")
    assert status[3] == "n1"
    ready = next(c for c in status[4]["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    kinds = {c["type"]: c["status"] for c in status[4]["status"]["conditions"]}
    assert kinds == {"Ready": "Unknown", "MemoryPressure": "Unknown",
                     "DiskPressure": "Unknown", "PIDPressure": "Unknown"}
    (pod_patch,) = client.verbs("patch/status", "pods")
    assert pod_patch[4]["status"]["conditions"][0]["status"] == "False"
    (taint_update,) = client.verbs("update", "nodes")
    taints = {(t["key"], t["effect"]) for t in taint_update[4]["spec"]["taints"]}
    assert taints == {("node.kubernetes.io/unreachable", "NoSchedule"),
                      ("node.kubernetes.io/unreachable", "NoExecute")}


async def test_a_lease_renewal_is_a_heartbeat() -> None:
    clock = Clock()
    controller, factory, client = lifecycle(clock)
    factory["nodes"].add(node("n1"))
    lease = {"metadata": {"name": "n1", "namespace": "kube-node-lease"},
             "spec": {"renewTime": "2026-01-01T00:00:00.000000Z"}}
    factory["leases"].add(lease)
    await controller.monitor()
    for second in range(1, 7):
        clock.now += 10
        factory["leases"].add({**lease, "spec": {
            "renewTime": f"2026-01-01T00:00:{second}0.000000Z"}})
        await controller.monitor()
    assert client.writes == []


def test_not_ready_node_gets_not_ready_taints_and_a_ready_one_loses_them() -> None:
    clock = Clock()
    controller, _, _ = lifecycle(clock)
    controller._update_disruption([node("a"), node("b", ready="False")])
    taints = controller.desired_taints(node("b", ready="False"))
    assert {(t["key"], t["effect"]) for t in taints} == {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute")}
    back = node("b", taints=[*taints, {"key": "mine", "effect": "NoSchedule"}])
    assert controller.desired_taints(back) == [{"key": "mine", "effect": "NoSchedule"}]


def test_full_disruption_adds_no_no_execute_taint_and_removes_them() -> None:
    controller, _, _ = lifecycle(Clock())
    tainted = node("a", ready="Unknown", taints=[
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}])
    controller._update_disruption([tainted, node("b", ready="False")])
    assert {(t["key"], t["effect"]) for t in controller.desired_taints(tainted)} == {
        ("node.kubernetes.io/unreachable", "NoSchedule")}


def test_no_execute_taints_are_rate_limited() -> None:
    clock = Clock()
    controller, _, _ = lifecycle(clock, rate=0.1)
    controller._update_disruption([node("a"), node("x", ready="False")])
    first = controller.desired_taints(node("b", ready="False"))
    second = controller.desired_taints(node("c", ready="False"))
    assert any(t["effect"] == "NoExecute" for t in first)
    assert not any(t["effect"] == "NoExecute" for t in second)
    clock.now += 10
    assert any(t["effect"] == "NoExecute" for t in controller.desired_taints(
        node("c", ready="False")))


UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


@pytest.mark.parametrize(("tolerations", "expected"), [
    (None, None),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
       "effect": "NoExecute", "tolerationSeconds": 300}], 300.0),
    ([{"operator": "Exists"}], FOREVER),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
       "tolerationSeconds": 5}, {"operator": "Exists", "tolerationSeconds": 9}], 5.0),
    ([{"key": "other", "operator": "Exists"}], None),
    ([{"key": "node.kubernetes.io/unreachable", "value": "x"}], None),
])
def test_toleration_seconds(tolerations: list[Obj] | None, expected: float | None) -> None:
    assert toleration_seconds(pod("p", tolerations=tolerations), [UNREACHABLE]) == expected


async def test_taint_eviction_now_later_and_never() -> None:
    ctx, factory, client = context()
    clock = Clock()
    clock.now = 1767225600.0  # 2026-01-01T00:00:00Z
    controller = tainteviction.TaintEviction(ctx, clock=clock)
    factory["nodes"].add(node("n1", ready="Unknown", taints=[
        {**UNREACHABLE, "timeAdded": "2026-01-01T00:00:00Z"}]))
    factory["pods"].add(pod("plain"))
    factory["pods"].add(pod("patient", tolerations=[
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
         "tolerationSeconds": 30}]))
    factory["pods"].add(pod("forever", tolerations=[{"operator": "Exists"}]))
    for key in ("plain", "patient", "forever"):
        await controller.sync(f"default/{key}")
    assert [w[3] for w in client.verbs("delete")] == ["plain"]
    clock.now += 31
    await controller.sync("default/patient")
    assert [w[3] for w in client.verbs("delete")] == ["plain", "patient"]
    controller.queue.shut_down()


def test_cidr_set_allocates_in_order_occupies_and_runs_out() -> None:
    cidrs = CIDRSet("10.244.0.0/23", 24)
    assert cidrs.occupy("10.244.0.0/24")
    assert not cidrs.occupy("10.1.0.0/24")
    assert cidrs.allocate() == "10.244.1.0/24"
    assert cidrs.allocate() is None
    cidrs.release("10.244.0.0/24")
    assert cidrs.allocate() == "10.244.0.0/24"


async def test_ipam_patches_pod_cidrs_and_reports_exhaustion() -> None:
    ctx, factory, client = context("--allocate-node-cidrs", "--cluster-cidr",
                                   "10.244.0.0/23")
    ctx.opts.node_cidr_mask_size = 24
    controller = nodeipam.new(ctx)
    assert controller is not None
    taken = node("old")
    taken["spec"]["podCIDR"] = "10.244.0.0/24"
    factory["nodes"].add(taken)
    factory["nodes"].add(node("new"))
    factory["nodes"].add(node("late"))
    await controller.sync("new")
    ((_, _, _, name, patch),) = client.verbs("patch")
    assert name == "new" and patch == {"spec": {"podCIDR": "10.244.1.0/24",
                                                "podCIDRs": ["10.244.1.0/24"]}}
    with pytest.raises(RuntimeError, match="no pod CIDR left"):
        await controller.sync("late")
    ((_, event),) = [q.get_nowait() for q in controller.recorder._queues if not q.empty()]
    assert event["reason"] == "CIDRNotAvailable"
    assert event["message"] == "Node late status is now: CIDRNotAvailable"


async def test_pod_gc_terminated_over_threshold_and_orphans_after_quarantine() -> None:
    ctx, factory, client = context()
    clock = Clock()
    controller = podgc.PodGC(ctx, threshold=1, quarantine=40, clock=clock)
    factory["nodes"].add(node("n1"))
    factory["pods"].add(pod("old", phase="Succeeded", created="2026-01-01T00:00:00Z"))
    factory["pods"].add(pod("new", phase="Failed", created="2026-01-02T00:00:00Z"))
    factory["pods"].add(pod("live"))
    factory["pods"].add(pod("stray", node_name="ghost"))
    await controller.gc()
    assert [w[3] for w in client.verbs("delete")] == ["old"]
    clock.now += 41
    client.writes.clear()
    await controller.gc()
    assert [w[3] for w in client.verbs("delete")] == ["old", "stray"]
    assert client.verbs("delete")[1][4]["grace_period_seconds"] == 0
    (mark,) = client.verbs("patch/status")
    assert mark[4]["status"]["conditions"][0]["reason"] == "DeletionByPodGC"
