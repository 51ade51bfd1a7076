"""The EndpointSlice controller's sync and its reconciler over a filled cache and a fake
client."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from servers.apimachinery.errors import Forbidden
from servers.controller_manager.controllers import endpointslice
from servers.controller_manager.controllers.endpointslice_reconciler import (
    MANAGED_BY,
    SERVICE_NAME,
    TRIGGER_TIME,
    Group,
    StaleCache,
    plan,
)
from tests.unit.controller_manager.fakes import context

Obj = dict[str, Any]
_rv = itertools.count(10)


def service(name: str = "web", *, selector: Obj | None = None, publish: bool = False,
            ports: list[Obj] | None = None) -> Obj:
    spec: Obj = {"ipFamilies": ["IPv4"], "clusterIP": "10.96.0.10", "ports": [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
        if ports is None else ports}
    if selector != {}:
        spec["selector"] = selector or {"app": "web"}
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "uid": f"svc-{name}",
                         "labels": {"tier": "front"}}, "spec": spec}


def pod(name: str, ip: str, *, ready: bool = True, port: int = 8080, node: str = "n1",
        deleting: bool = False, **spec: Any) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "labels": {"app": "web"}, "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, **spec, "containers": [
                {"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def setup(*args: str) -> tuple[endpointslice.EndpointSliceController, Any, Any]:
    ctx, factory, client = context(*args)
    controller = endpointslice.new(ctx)
    controller.clock = lambda: 1_700_000_000.0
    return controller, factory, client


def observe(factory: Any, client: Any) -> None:
    """Feed the client's slice writes back into the informer, as a watch would."""
    for verb, plural, _, name, body in client.writes:
        if plural != "endpointslices":
            continue
        if verb == "delete":
            factory["endpointslices"].delete(factory["endpointslices"].get(name, "default"))
        else:
            stored = copy.deepcopy(body)
            stored["metadata"]["resourceVersion"] = str(next(_rv))
            factory["endpointslices"].add(stored)
    client.writes.clear()


def ips(slice_: Obj) -> list[str]:
    return sorted(e["addresses"][0] for e in slice_.get("endpoints") or ())


async def test_a_slice_for_the_pods_with_kubes_fields() -> None:
    controller, factory, client = setup()
    factory["nodes"].add({"metadata": {"name": "n1",
                                       "labels": {endpointslice.ZONE: "zone-a"}}})
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    factory["pods"].add(pod("b", "10.0.0.2", ready=False))
    factory["pods"].add(pod("c", "10.0.0.3", deleting=True))
    factory["pods"].add(pod("sts-0", "10.0.0.4", hostname="sts-0", subdomain="web"))
    factory["pods"].add(pod("noip", ""))
    await controller.sync("default/web")
    ((verb, plural, ns, _, body),) = client.writes
    assert (verb, plural, ns) == ("create", "endpointslices", "default")
    meta = body["metadata"]
    assert meta["generateName"] == "web-"
    assert meta["labels"] == {"tier": "front", SERVICE_NAME: "web",
                              MANAGED_BY: "endpointslice-controller.k8s.io"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                        "uid": "svc-web", "controller": True,
                                        "blockOwnerDeletion": True}]
    assert TRIGGER_TIME in meta["annotations"]
    assert body["addressType"] == "IPv4"
    assert body["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    by_name = {e["targetRef"]["name"]: e for e in body["endpoints"]}
    assert set(by_name) == {"a", "b", "c", "sts-0"}
    assert by_name["a"] == {"addresses": ["10.0.0.1"], "nodeName": "n1", "zone": "zone-a",
                            "conditions": {"ready": True, "serving": True,
                                           "terminating": False},
                            "targetRef": {"kind": "Pod", "namespace": "default", "name": "a",
                                          "uid": "uid-a"}}
    assert by_name["b"]["conditions"] == {"ready": False, "serving": False,
                                          "terminating": False}
    assert by_name["c"]["conditions"] == {"ready": False, "serving": True,
                                          "terminating": True}
    assert by_name["sts-0"]["hostname"] == "sts-0"


async def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    controller, factory, client = setup()
    headless = service(publish=True)
    headless["spec"]["clusterIP"] = "None"
    factory["services"].add(headless)
    factory["pods"].add(pod("b", "10.0.0.2", ready=False))
    await controller.sync("default/web")
    (body,) = [w[4] for w in client.writes]
    assert body["metadata"]["labels"][endpointslice.HEADLESS] == ""
    (endpoint,) = body["endpoints"]
    assert endpoint["conditions"] == {"ready": True, "serving": False, "terminating": False}


async def test_one_slice_per_port_set_and_at_most_max_per_slice() -> None:
    controller, factory, client = setup("--max-endpoints-per-slice", "2")
    factory["services"].add(service())
    for i in range(5):
        factory["pods"].add(pod(f"p{i}", f"10.0.0.{i + 1}"))
    factory["pods"].add(pod("odd", "10.0.1.1", port=9090))
    await controller.sync("default/web")
    created = [w[4] for w in client.verbs("create")]
    by_port: dict[int, list[int]] = {}
    for body in created:
        by_port.setdefault(body["ports"][0]["port"], []).append(len(body["endpoints"]))
    assert sorted(by_port[8080]) == [1, 2, 2]
    assert by_port[9090] == [1]


async def test_unchanged_slices_are_not_written_and_changes_update_in_place() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    factory["pods"].add(pod("b", "10.0.0.2"))
    await controller.sync("default/web")
    observe(factory, client)
    await controller.sync("default/web")
    assert client.writes == []
    factory["pods"].add(pod("c", "10.0.0.3"))
    factory["pods"].delete(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    ((verb, _, _, name, body),) = client.writes
    assert verb == "update" and name == factory["endpointslices"].list()[0]["metadata"]["name"]
    assert ips(body) == ["10.0.0.2", "10.0.0.3"]


async def test_scale_to_zero_leaves_one_empty_placeholder() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    observe(factory, client)
    factory["pods"].delete(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    ((verb, _, _, _, body),) = client.writes
    assert verb == "update"
    assert body["endpoints"] == [] and body["ports"] == []
    observe(factory, client)
    await controller.sync("default/web")
    assert client.writes == []


async def test_a_sync_over_a_stale_cache_is_retried_not_duplicated() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    client.writes.clear()
    with pytest.raises(StaleCache):
        await controller.sync("default/web")
    assert client.writes == []


async def test_selector_less_service_is_left_alone_and_a_gone_one_loses_its_slices() -> None:
    controller, factory, client = setup()
    factory["services"].add(service(selector={}))
    await controller.sync("default/web")
    assert client.writes == []
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    observe(factory, client)
    factory["services"].delete(service())
    await controller.sync("default/web")
    assert [w[0] for w in client.writes] == ["delete"]


async def test_external_name_service_gets_no_slices() -> None:
    controller, factory, client = setup()
    alias = service()
    alias["spec"]["type"] = "ExternalName"
    factory["services"].add(alias)
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    assert client.writes == []


async def test_one_pod_replaced_among_many_is_one_update() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    for i in range(250):
        factory["pods"].add(pod(f"p{i}", f"10.0.{i // 256}.{i % 256}"))
    await controller.sync("default/web")
    assert sorted(len(w[4]["endpoints"]) for w in client.writes) == [50, 100, 100]
    observe(factory, client)
    factory["pods"].delete(pod("p7", "10.0.0.7"))
    factory["pods"].add(pod("fresh", "10.0.9.9"))
    await controller.sync("default/web")
    ((verb, *_, body),) = client.writes
    assert verb == "update" and "10.0.9.9" in ips(body) and "10.0.0.7" not in ips(body)


async def test_slices_of_an_earlier_service_of_the_same_name_are_replaced() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    observe(factory, client)
    (old,) = factory["endpointslices"].list()
    again = service()
    again["metadata"]["uid"] = "svc-web-2"
    factory["services"].add(again)
    await controller.sync("default/web")
    assert [w[0] for w in client.writes] == ["create", "delete"]
    assert client.writes[0][4]["metadata"]["ownerReferences"][0]["uid"] == "svc-web-2"
    assert client.writes[1][3] == old["metadata"]["name"]


async def test_a_create_refused_for_a_terminating_namespace_is_dropped() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    refusal = Forbidden("endpointslices", "", "unable to create new content")
    refusal.details = {"causes": [{"reason": "NamespaceTerminating"}]}
    client.fail["create"] = refusal
    await controller.sync("default/web")  # no raise: no retry
    client.fail["create"] = Forbidden("endpointslices", "", "RBAC says no")
    with pytest.raises(Forbidden):
        await controller.sync("default/web")


async def test_pod_events_enqueue_the_services_selecting_them() -> None:
    controller, factory, _ = setup()
    factory["services"].add(service())
    factory["services"].add(service("other", selector={"app": "db"}))
    while len(controller.queue):
        key = await controller.queue.get()
        controller.queue.done(key)
    factory["pods"].add(pod("a", "10.0.0.1"))
    assert await controller.queue.get() == "default/web"
    controller.queue.done("default/web")
    assert len(controller.queue) == 0
    same = pod("a", "10.0.0.1")
    same["metadata"]["resourceVersion"] = "2"
    same["status"]["containerStatuses"] = [{"name": "c", "restartCount": 1}]
    factory["pods"].add(same)
    assert len(controller.queue) == 0  # nothing an endpoint shows changed
    factory["pods"].add(pod("a", "10.0.0.1", ready=False))
    assert len(controller.queue) == 1


def slice_(name: str, endpoints: list[Obj], *, port: int = 80) -> Obj:
    return {"metadata": {"name": name, "labels": {"x": "y"}}, "addressType": "IPv4",
            "ports": [{"name": "", "port": port, "protocol": "TCP"}], "endpoints": endpoints}


def ep(ip: str) -> Obj:
    return {"addresses": [ip], "conditions": {"ready": True},
            "targetRef": {"namespace": "d", "name": ip}}


def test_reconciler_fills_the_fullest_unchanged_slice_before_creating() -> None:
    existing = [slice_("s1", [ep("1"), ep("2")]), slice_("s2", [ep("3")])]
    group = Group("IPv4", [{"name": "", "port": 80, "protocol": "TCP"}],
                  [ep("1"), ep("2"), ep("3"), ep("4")])
    result = plan(existing, [group], max_per_slice=3, labels={"x": "y"},
                  address_types=["IPv4"])
    assert result.create == [] and result.delete == []
    ((updated,),) = [result.update]
    assert updated["metadata"]["name"] == "s1"
    assert [e["addresses"][0] for e in updated["endpoints"]] == ["1", "2", "4"]


def test_reconciler_deletes_slices_of_ports_no_longer_wanted() -> None:
    existing = [slice_("old", [ep("1")], port=81)]
    group = Group("IPv4", [{"name": "", "port": 80, "protocol": "TCP"}], [ep("1")])
    result = plan(existing, [group], max_per_slice=100, labels={"x": "y"},
                  address_types=["IPv4"])
    assert [s["metadata"]["name"] for s in result.delete] == ["old"]
    assert [len(s["endpoints"]) for s in result.create] == [1]
