"""The apps/v1 ReplicaSet controller's sync over a filled cache and a fake client."""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers import replicaset_apps
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]
SELECTOR = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}


def rs(replicas: int = 3, selector: Obj | None = None) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "rs-uid",
                         "generation": 4, "resourceVersion": "5"},
            "spec": {"replicas": replicas, "selector": SELECTOR if selector is None else selector,
                     "template": {"metadata": {"labels": {"app": "web", "tier": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}},
            "status": {"replicas": 0}}


def pod(name: str, labels: dict[str, str], *, owned: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "labels": labels, "resourceVersion": "1",
                 "creationTimestamp": "2026-01-01T00:00:00Z"}
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "web", "uid": "rs-uid", "controller": True}]
    return {"metadata": meta, "spec": {}, "status": {"phase": "Pending"}}


def setup() -> tuple[Any, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    return replicaset_apps.new(ctx), factory, client


async def test_creates_pods_owned_by_the_replicaset_with_kube_names() -> None:
    controller, factory, client = setup()
    assert controller.name == "replicaset" and controller.workers == 5
    factory["replicasets"].add(rs(replicas=3))
    await controller.sync("default/web")
    creates = client.verbs("create", "pods")
    assert len(creates) == 3
    meta = creates[0][4]["metadata"]
    assert meta["generateName"] == "web-"
    assert meta["ownerReferences"][0] == {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web", "uid": "rs-uid", "controller": True,
                                          "blockOwnerDeletion": True}
    status = client.verbs("update/status", "replicasets")[-1][4]["status"]
    assert status["observedGeneration"] == 4


async def test_set_based_selectors_decide_adoption() -> None:
    controller, factory, client = setup()
    client.objects[("replicasets", "default", "web")] = rs()
    factory["replicasets"].add(rs(replicas=2))
    factory["pods"].add(pod("in-a", {"app": "web", "tier": "a"}))
    factory["pods"].add(pod("in-b", {"app": "web", "tier": "b"}))
    factory["pods"].add(pod("out-c", {"app": "web", "tier": "c"}))
    factory["pods"].add(pod("out-none", {"app": "web"}))
    await controller.sync("default/web")
    adopted = sorted(w[3] for w in client.verbs("patch", "pods"))
    assert adopted == ["in-a", "in-b"]
    assert client.verbs("create", "pods") == []


async def test_an_empty_or_missing_selector_selects_nothing() -> None:
    assert replicaset_apps.rs_selector(rs(selector={})).nothing
    assert replicaset_apps.rs_selector({"spec": {}}).nothing
    bad = rs(selector={"matchExpressions": [{"key": "a", "operator": "Near"}]})
    assert replicaset_apps.rs_selector(bad).nothing
    assert not replicaset_apps.rs_selector(rs()).matches({"app": "web"})


async def test_scale_down_deletes_the_surplus() -> None:
    controller, factory, client = setup()
    factory["replicasets"].add(rs(replicas=1))
    for name in ("a", "b", "c"):
        factory["pods"].add(pod(name, {"app": "web", "tier": "a"}, owned=True))
    await controller.sync("default/web")
    assert len(client.verbs("delete", "pods")) == 2


async def test_scale_down_ranks_by_the_pods_of_sibling_replicasets_on_the_node() -> None:
    """An old RS of a Deployment gives up first the pod on the node crowded by the new RS's
    pods (kube's getIndirectlyRelatedPods), not the one a per-RS count would pick."""
    controller, factory, client = setup()
    deploy_ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "d-uid",
                  "controller": True}
    old, new = rs(replicas=1), rs(replicas=3)
    new["metadata"].update(name="web-new", uid="new-uid")
    for owner in (old, new):
        owner["metadata"]["ownerReferences"] = [deploy_ref]
        factory["replicasets"].add(owner)

    def placed(name: str, node: str, owner: Obj) -> Obj:
        p = pod(name, {"app": "web", "tier": "a"}, owned=True)
        p["metadata"]["ownerReferences"][0].update(name=owner["metadata"]["name"],
                                                   uid=owner["metadata"]["uid"])
        p["spec"]["nodeName"] = node
        p["status"] = {"phase": "Running"}
        return p

    factory["pods"].add(placed("a-alone", "node-a", old))
    factory["pods"].add(placed("b-crowded", "node-b", old))
    for i in range(3):
        factory["pods"].add(placed(f"new-{i}", "node-b", new))
    await controller.sync("default/web")
    assert [w[3] for w in client.verbs("delete", "pods")] == ["b-crowded"]
