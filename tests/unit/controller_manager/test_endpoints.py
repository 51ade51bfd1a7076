"""The endpoints controller's sync over a filled cache and a fake client."""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers import endpoints
from tests.unit.controller_manager.fakes import context

Obj = dict[str, Any]


def service(name: str = "web", *, selector: Obj | None = None, ports: list[Obj] | None = None,
            publish: bool = False, headless: bool = False) -> Obj:
    spec: Obj = {"ports": [{"name": "http", "port": 80, "targetPort": "http",
                            "protocol": "TCP"}] if ports is None else ports}
    if selector is not False:
        spec["selector"] = {"app": "web"} if selector is None else selector
    if publish:
        spec["publishNotReadyAddresses"] = True
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "labels": {"tier": "front"}},
            "spec": spec}


def pod(name: str, ip: str, *, ready: bool = True, port: int = 8080, node: str = "n1",
        labels: Obj | None = None, phase: str = "Running") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "labels": labels or {"app": "web"}, "resourceVersion": "1"},
            "spec": {"nodeName": node, "containers": [
                {"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": phase, "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def setup() -> tuple[endpoints.EndpointsController, Any, Any]:
    ctx, factory, client = context()
    return endpoints.new(ctx), factory, client


async def test_ready_and_not_ready_addresses_with_named_ports() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["pods"].add(pod("b", "10.0.0.2"))
    factory["pods"].add(pod("a", "10.0.0.1", port=9090))
    factory["pods"].add(pod("c", "10.0.0.3", ready=False))
    factory["pods"].add(pod("noip", ""))
    factory["pods"].add(pod("other", "10.0.0.9", labels={"app": "db"}))
    factory["pods"].add(pod("done", "10.0.0.8", phase="Succeeded"))
    await controller.sync("default/web")
    ((verb, plural, ns, name, body),) = client.writes
    assert (verb, plural, ns, name) == ("create", "endpoints", "default", "web")
    assert body["metadata"]["labels"] == {"tier": "front"}
    assert endpoints.TRIGGER_TIME in body["metadata"]["annotations"]
    assert body["subsets"] == [
        {"addresses": [{"ip": "10.0.0.2", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": "default", "name": "b", "uid": "uid-b"}}],
         "notReadyAddresses": [{"ip": "10.0.0.3", "nodeName": "n1", "targetRef": {
             "kind": "Pod", "namespace": "default", "name": "c", "uid": "uid-c"}}],
         "ports": [{"port": 8080, "protocol": "TCP", "name": "http"}]},
        {"addresses": [{"ip": "10.0.0.1", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}],
         "ports": [{"port": 9090, "protocol": "TCP", "name": "http"}]},
    ]


async def test_unchanged_endpoints_are_not_written_again() -> None:
    controller, factory, client = setup()
    factory["services"].add(service())
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    written = client.writes[0][4]
    factory["endpoints"].add({**written, "metadata": {**written["metadata"],
                                                      "resourceVersion": "3"}})
    client.writes.clear()
    await controller.sync("default/web")
    assert client.writes == []
    factory["pods"].add({**pod("a", "10.0.0.1", ready=False),
                         "metadata": {**pod("a", "")["metadata"], "resourceVersion": "2"}})
    await controller.sync("default/web")
    ((verb, *_, body),) = client.writes
    assert verb == "update" and body["metadata"]["resourceVersion"] == "3"
    assert "notReadyAddresses" in body["subsets"][0]


async def test_numbered_target_port_and_publish_not_ready() -> None:
    controller, factory, client = setup()
    factory["services"].add(service(ports=[{"port": 80, "targetPort": 8000}], publish=True))
    factory["pods"].add(pod("a", "10.0.0.1", ready=False))
    await controller.sync("default/web")
    subsets = client.writes[0][4]["subsets"]
    assert subsets == [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1", "targetRef": {
        "kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}],
        "ports": [{"port": 8000, "protocol": "TCP"}]}]


async def test_selectorless_services_are_left_alone_and_gone_ones_lose_endpoints() -> None:
    controller, factory, client = setup()
    factory["services"].add(service(selector=False))
    factory["pods"].add(pod("a", "10.0.0.1"))
    await controller.sync("default/web")
    assert client.writes == []
    await controller.sync("default/vanished")
    assert client.verbs("delete") == [("delete", "endpoints", "default", "vanished", {})]


async def test_headless_service_is_labelled_and_a_pod_change_enqueues_it() -> None:
    controller, factory, client = setup()
    factory["services"].add(service(headless=True, ports=[]))
    controller.queue._queue.clear()
    controller.queue._dirty.clear()
    factory["pods"].add(pod("a", "10.0.0.1"))
    assert list(controller.queue._queue) == ["default/web"]
    await controller.sync("default/web")
    body = client.writes[0][4]
    assert body["metadata"]["labels"][endpoints.HEADLESS] == ""
    assert body["subsets"] == [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1",
                                               "targetRef": {"kind": "Pod",
                                                             "namespace": "default",
                                                             "name": "a", "uid": "uid-a"}}]}]
