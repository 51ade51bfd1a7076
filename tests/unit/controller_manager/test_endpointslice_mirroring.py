"""The EndpointSlice mirroring controller's sync over a filled cache and a fake client."""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers import endpointslice_mirroring as mirroring
from servers.controller_manager.controllers.endpointslice_reconciler import (
    MANAGED_BY,
    SERVICE_NAME,
)
from tests.unit.controller_manager.fakes import context
from tests.unit.controller_manager.test_endpointslice import observe

Obj = dict[str, Any]


def service(selector: Obj | None = None) -> Obj:
    spec: Obj = {"ports": [{"name": "db", "port": 5432}]}
    if selector:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "spec": spec,
            "metadata": {"name": "db", "namespace": "default", "uid": "svc-db"}}


def endpoints(*, labels: Obj | None = None, subsets: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "db", "namespace": "default", "uid": "ep-db",
                         "labels": labels or {"a": "b"},
                         "annotations": {"note": "x",
                                         mirroring.LAST_APPLIED: "{}"}},
            "subsets": subsets if subsets is not None else [
                {"addresses": [{"ip": "192.0.2.1", "nodeName": "n1"}, {"ip": "not-an-ip"}],
                 "notReadyAddresses": [{"ip": "192.0.2.2", "hostname": "h"}],
                 "ports": [{"name": "db", "port": 5432, "protocol": "TCP"}]},
                {"addresses": [{"ip": "2001:db8::1"}],
                 "ports": [{"name": "db", "port": 5432, "protocol": "TCP"}]}]}


def setup(*args: str) -> tuple[mirroring.MirroringController, Any, Any]:
    ctx, factory, client = context(*args)
    return mirroring.new(ctx), factory, client


async def test_subsets_are_mirrored_by_address_type() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["endpoints"].add(endpoints())
    await controller.sync("default/db")
    created = {w[4]["addressType"]: w[4] for w in client.verbs("create", "endpointslices")}
    assert set(created) == {"IPv4", "IPv6"}
    v4 = created["IPv4"]
    assert v4["metadata"]["generateName"] == "db-"
    assert v4["metadata"]["labels"] == {"a": "b", SERVICE_NAME: "db",
                                        MANAGED_BY: "endpointslicemirroring-controller.k8s.io"}
    assert v4["metadata"]["annotations"] == {"note": "x"}
    assert v4["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Endpoints", "name": "db", "uid": "ep-db",
         "controller": True, "blockOwnerDeletion": True}]
    assert v4["ports"] == [{"name": "db", "port": 5432, "protocol": "TCP"}]
    assert v4["endpoints"] == [
        {"addresses": ["192.0.2.1"], "conditions": {"ready": True}, "nodeName": "n1"},
        {"addresses": ["192.0.2.2"], "conditions": {"ready": False}, "hostname": "h"}]
    assert [e["addresses"] for e in created["IPv6"]["endpoints"]] == [["2001:db8::1"]]


async def test_mirrored_slices_follow_the_endpoints_and_go_with_them() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["endpoints"].add(endpoints(subsets=[
        {"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]))
    await controller.sync("default/db")
    observe(factory, client)
    await controller.sync("default/db")
    assert client.writes == []
    factory["endpoints"].add(endpoints(subsets=[
        {"addresses": [{"ip": "192.0.2.1"}, {"ip": "192.0.2.3"}], "ports": [{"port": 80}]}]))
    await controller.sync("default/db")
    ((verb, *_, body),) = client.writes
    assert verb == "update" and len(body["endpoints"]) == 2
    observe(factory, client)
    factory["endpoints"].add(endpoints(labels={mirroring.SKIP_MIRROR: "true"}))
    await controller.sync("default/db")
    assert [w[0] for w in client.writes] == ["delete"]


async def test_selector_services_and_missing_services_are_not_mirrored() -> None:
    controller, factory, client = setup()
    factory["endpoints"].add(endpoints())
    await controller.sync("default/db")
    factory["services"].add(service(selector={"app": "db"}))
    await controller.sync("default/db")
    assert client.writes == []


async def test_at_most_max_per_subset_addresses_ready_first() -> None:
    controller, factory, client = setup("--mirroring-max-endpoints-per-subset", "2")
    factory["services"].add(service())
    factory["endpoints"].add(endpoints(subsets=[
        {"addresses": [{"ip": "192.0.2.1"}],
         "notReadyAddresses": [{"ip": "192.0.2.2"}, {"ip": "192.0.2.3"}],
         "ports": [{"port": 80}]}]))
    await controller.sync("default/db")
    ((*_, body),) = client.writes
    assert [e["addresses"][0] for e in body["endpoints"]] == ["192.0.2.1", "192.0.2.2"]
