"""The daemonset controller's sync over a filled cache and a fake client."""

from __future__ import annotations

from typing import Any

import pytest

from servers.controller_manager.controllers import daemonset as dsc
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
LABELS = {"app": "agent"}


def ds(*, image: str = "x", selector: Obj | None = None, tolerations: list[Obj] | None = None,
       max_unavailable: Any = 1, max_surge: Any = 0, strategy: str = "RollingUpdate") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": image}]}
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    update: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"maxUnavailable": max_unavailable, "maxSurge": max_surge}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid",
                         "generation": 2},
            "spec": {"selector": {"matchLabels": dict(LABELS)}, "updateStrategy": update,
                     "template": {"metadata": {"labels": dict(LABELS)}, "spec": spec}},
            "status": {}}


def node(name: str, labels: Obj | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels or {}, "resourceVersion": "1"},
            "spec": {"taints": taints} if taints else {}}


def pod(owner: Obj, node_name: str, *, n: int = 0, ready: bool = True, phase: str = "Running",
        revision: str | None = None, bound: bool = True) -> Obj:
    body = dsc.new_pod(owner, node_name, revision or dsc.template_revision(owner))
    name = f"agent-{node_name}-{n}"
    body["metadata"].update(name=name, namespace="kube-system", uid=f"uid-{name}",
                            resourceVersion="1",
                            creationTimestamp=f"2026-01-01T00:00:0{n}Z")
    if bound:
        body["spec"]["nodeName"] = node_name
    body["status"] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    return body


def setup(owner: Obj, nodes: list[Obj], *pods: Obj) -> tuple[Any, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    controller = dsc.new(ctx)
    factory["daemonsets"].add(owner)
    for item in nodes:
        factory["nodes"].add(item)
    for p in pods:
        factory["pods"].add(p)
    return controller, factory, client


def events(controller: Any) -> list[tuple[str, str]]:
    out = []
    for queue in controller.recorder._queues:
        while not queue.empty():
            _, event = queue.get_nowait()
            out.append((event["reason"], event["message"]))
    return out


def created_on(client: FakeClient) -> list[str]:
    return sorted(dsc.target_node(w[4]) for w in client.verbs("create", "pods"))


def deleted(client: FakeClient) -> list[str]:
    return sorted(w[3] for w in client.verbs("delete", "pods"))


def status(client: FakeClient) -> Obj:
    return client.verbs("update/status", "daemonsets")[-1][4]["status"]


async def test_one_pod_per_eligible_node_pinned_and_tolerating() -> None:
    owner = ds(selector={"disk": "ssd"})
    nodes = [node("n1", {"disk": "ssd"}), node("n2", {"disk": "hdd"}),
             node("n3", {"disk": "ssd"})]
    controller, _, client = setup(owner, nodes)
    await controller.sync("kube-system/agent")
    assert created_on(client) == ["n1", "n3"]
    body = client.verbs("create", "pods")[0][4]
    assert ("SuccessfulCreate", f"Created pod: {body['metadata']['name']}") in events(controller)
    terms = body["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchFields"][0]["key"] == "metadata.name"
    assert "nodeName" not in body["spec"]
    keys = {(t["key"], t["effect"]) for t in body["spec"]["tolerations"]}
    assert set(dsc.DEFAULT_TOLERATIONS) <= keys
    assert body["metadata"]["labels"][dsc.TEMPLATE_GENERATION_LABEL] == "2"
    assert status(client)["desiredNumberScheduled"] == 2


async def test_expectations_stop_a_second_pod_for_a_node() -> None:
    owner = ds()
    controller, _, client = setup(owner, [node("n1")])
    await controller.sync("kube-system/agent")
    await controller.sync("kube-system/agent")
    assert created_on(client) == ["n1"]


async def test_tainted_node_is_skipped_unless_tolerated() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    controller, _, client = setup(ds(), [node("n1"), node("n2", taints=[taint])])
    await controller.sync("kube-system/agent")
    assert created_on(client) == ["n1"]
    tolerant = ds(tolerations=[{"key": "dedicated", "operator": "Exists"}])
    controller, _, client = setup(tolerant, [node("n1"), node("n2", taints=[taint])])
    await controller.sync("kube-system/agent")
    assert created_on(client) == ["n1", "n2"]


def test_should_run_and_continue() -> None:
    owner = ds()
    no_schedule = node("a", taints=[{"key": "k", "effect": "NoSchedule"}])
    no_execute = node("b", taints=[{"key": "k", "effect": "NoExecute"}])
    unschedulable = node("c", taints=[{"key": "node.kubernetes.io/unschedulable",
                                       "effect": "NoSchedule"}])
    assert dsc.should_run(owner, no_schedule) == (False, True)
    assert dsc.should_run(owner, no_execute) == (False, False)
    assert dsc.should_run(owner, unschedulable) == (True, True)


async def test_pods_leave_nodes_that_no_longer_match_and_failed_pods_are_replaced() -> None:
    owner = ds(selector={"disk": "ssd"})
    nodes = [node("n1", {"disk": "hdd"}), node("n2", {"disk": "ssd"})]
    stale, failed = pod(owner, "n1"), pod(owner, "n2", phase="Failed")
    controller, _, client = setup(owner, nodes, stale, failed)
    with pytest.raises(dsc.FailedPods):
        await controller.sync("kube-system/agent")
    assert deleted(client) == sorted([stale["metadata"]["name"], failed["metadata"]["name"]])
    assert created_on(client) == []  # made again on the next sync


async def test_duplicates_keep_the_oldest() -> None:
    owner = ds()
    controller, _, client = setup(owner, [node("n1")], pod(owner, "n1", n=1),
                                  pod(owner, "n1", n=2))
    await controller.sync("kube-system/agent")
    assert deleted(client) == ["agent-n1-2"]


async def test_rolling_update_within_max_unavailable() -> None:
    old, new = ds(image="v1"), ds(image="v2", max_unavailable=2)
    nodes = [node(f"n{i}") for i in range(4)]
    controller, _, client = setup(new, nodes, *(pod(old, f"n{i}") for i in range(4)))
    await controller.sync("kube-system/agent")
    assert len(deleted(client)) == 2
    st = status(client)
    assert (st["desiredNumberScheduled"], st["updatedNumberScheduled"]) == (4, 0)


async def test_rolling_update_counts_unavailable_new_pods() -> None:
    old, new = ds(image="v1"), ds(image="v2", max_unavailable="50%")
    nodes = [node(f"n{i}") for i in range(4)]
    pods = [pod(new, "n0", ready=False), pod(old, "n1"), pod(old, "n2"), pod(old, "n3")]
    controller, _, client = setup(new, nodes, *pods)
    await controller.sync("kube-system/agent")
    assert len(deleted(client)) == 1  # 50% of 4 is 2, one is already unavailable


async def test_surge_makes_the_new_pod_first_then_deletes_the_old() -> None:
    old, new = ds(image="v1"), ds(image="v2", max_unavailable=0, max_surge=1)
    nodes = [node("n1"), node("n2")]
    controller, factory, client = setup(new, nodes, pod(old, "n1"), pod(old, "n2"))
    await controller.sync("kube-system/agent")
    assert created_on(client) == ["n1"] and deleted(client) == []
    factory["pods"].add(pod(new, "n1", n=5))
    await controller.sync("kube-system/agent")
    assert deleted(client) == ["agent-n1-0"]


async def test_on_delete_does_not_replace() -> None:
    old, new = ds(image="v1"), ds(image="v2", strategy="OnDelete")
    controller, _, client = setup(new, [node("n1")], pod(old, "n1"))
    await controller.sync("kube-system/agent")
    assert deleted(client) == [] and created_on(client) == []


async def test_status_counts_ready_misscheduled_and_pending_pods() -> None:
    owner = ds(selector={"disk": "ssd"})
    nodes = [node("n1", {"disk": "ssd"}), node("n2", {"disk": "ssd"}), node("n3")]
    pods = [pod(owner, "n1"), pod(owner, "n2", ready=False, bound=False, phase="Pending"),
            pod(owner, "n3")]
    controller, _, client = setup(owner, nodes, *pods)
    placement = dsc.Placement(owner)
    fits = {n["metadata"]["name"]: placement.check(n) for n in nodes}
    st = controller.calculate_status(owner, fits, {"n1": [pods[0]], "n2": [pods[1]],
                                                   "n3": [pods[2]]},
                                     dsc.template_revision(owner))
    assert (st["desiredNumberScheduled"], st["currentNumberScheduled"],
            st["numberMisscheduled"], st["numberReady"], st["numberAvailable"],
            st["updatedNumberScheduled"], st["numberUnavailable"]) == (2, 2, 1, 1, 1, 2, 1)
    assert st["observedGeneration"] == 2
    del client


def test_scaled_values() -> None:
    assert dsc.scaled("25%", 10, round_up=True) == 3
    assert dsc.scaled("25%", 10, round_up=False) == 2
    assert dsc.scaled(2, 10, round_up=True) == 2
