"""Defaults and validation of Service, ReplicationController and the small core kinds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servers.apimachinery import validation
from servers.apimachinery.field import Cause
from servers.apiserver import kinds
from servers.apiserver.resources import RESOURCES, Resource, by_kind, by_plural


def res(plural: str) -> Resource:
    found = by_plural("", "v1", plural)
    assert found is not None
    return found


def errors(causes: list[Cause]) -> list[str]:
    return [c.error() for c in causes]


def defaulted(plural: str, body: dict[str, Any], old: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    kinds.default(res(plural), body, old)
    return body


def check(plural: str, body: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return errors(kinds.validate(res(plural), defaulted(plural, body, old), old))


def test_name_rules_per_kind() -> None:
    assert kinds.name_rule(res("namespaces")) is validation.name_is_dns_label
    assert kinds.name_rule(res("services")) is validation.name_is_dns1035_label
    assert kinds.name_rule(res("pods")) is validation.name_is_dns_subdomain
    assert kinds.name_rule(res("configmaps")) is validation.name_is_dns_subdomain


def test_every_served_kind_has_rules_and_unknown_kinds_have_none() -> None:
    for resource in RESOURCES:
        assert kinds.rules_for(resource.group, resource.kind) is not None
    widget = Resource("example.com", "v1", "widgets", "widget", "Widget", True, "/r/widgets/")
    body: dict[str, Any] = {"spec": {"x": 1}}
    kinds.default(widget, body)
    assert body == {"spec": {"x": 1}}
    assert kinds.validate(widget, body) == []


# -- Service ---------------------------------------------------------------------------------

def svc(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def test_service_defaults() -> None:
    body = defaulted("services", svc())
    assert body["spec"] == {
        "selector": {"app": "web"}, "type": "ClusterIP", "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}
    assert body["status"] == {"loadBalancer": {}}
    node_port = defaulted("services", svc(type="NodePort", sessionAffinity="ClientIP"))
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    assert node_port["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_service_update_without_cluster_ip_keeps_the_allocated_one() -> None:
    old = defaulted("services", svc(type="NodePort"))
    old["spec"].update(clusterIP="10.0.0.7", clusterIPs=["10.0.0.7"])
    old["spec"]["ports"][0]["nodePort"] = 30080
    new = defaulted("services", svc(type="NodePort"), old)
    assert new["spec"]["clusterIP"] == "10.0.0.7"
    assert new["spec"]["ports"][0]["nodePort"] == 30080
    assert kinds.validate(res("services"), new, old) == []


def test_service_cluster_ip_is_immutable() -> None:
    old = defaulted("services", svc(clusterIP="10.0.0.7"))
    assert check("services", svc(clusterIP="10.0.0.8"), old) == [
        'spec.clusterIP: Invalid value: "10.0.0.8": field is immutable']


def test_a_valid_service_has_no_causes() -> None:
    assert check("services", svc(ports=[{"name": "http", "port": 80, "targetPort": "http"},
                                        {"name": "https", "port": 443}])) == []
    assert check("services", svc(clusterIP="None", ports=[])) == []
    assert check("services", {"metadata": {"name": "x"}, "spec": {
        "type": "ExternalName", "externalName": "example.com"}}) == []


def test_service_causes() -> None:
    assert check("services", svc(ports=[])) == ["spec.ports: Required value"]
    assert check("services", svc(type="Magic", sessionAffinity="Sticky", clusterIP="x", ports=[
        {"port": 0}, {"name": "a", "port": 80, "protocol": "HTTP", "nodePort": 30000}])) == [
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", '
        '"UDP"',
        'spec.clusterIP: Invalid value: "x": must be empty, \'None\', or a valid IP address',
        'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"',
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", '
        '"None"',
    ]
    assert check("services", svc(ports=[{"port": 80, "nodePort": 30000}])) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    assert check("services", {"metadata": {"name": "x"}, "spec": {"type": "ExternalName"}}) == [
        "spec.externalName: Required value"]


# -- ReplicationController -----------------------------------------------------------------

def rc(**spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": template, **spec}}


def test_rc_defaults_come_from_the_template() -> None:
    body = defaulted("replicationcontrollers", rc())
    assert body["spec"]["selector"] == {"app": "web"}
    assert body["spec"]["replicas"] == 1
    assert body["metadata"]["labels"] == {"app": "web"}
    assert body["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert body["status"] == {"replicas": 0}
    assert kinds.validate(res("replicationcontrollers"), body) == []


def test_rc_causes() -> None:
    assert check("replicationcontrollers", rc(selector={"app": "other"}, replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not '
        "match template `labels`",
    ]
    body = rc()
    body["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert check("replicationcontrollers", body) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"']
    no_template = {"metadata": {"name": "x"}, "spec": {"selector": {"a": "b"}}}
    assert check("replicationcontrollers", no_template) == ["spec.template: Required value"]
    bare = {"metadata": {"name": "x"}, "spec": {}}
    assert check("replicationcontrollers", bare) == [
        "spec.selector: Required value", "spec.template: Required value"]


def test_rc_template_pod_spec_is_validated_under_its_path() -> None:
    body = rc()
    body["spec"]["template"]["spec"]["containers"][0].pop("image")
    assert check("replicationcontrollers", body) == [
        "spec.template.spec.containers[0].image: Required value"]


# -- Namespace, Node, Endpoints, Event, ConfigMap, Binding, Scale ----------------------------

def test_namespace_starts_active() -> None:
    assert defaulted("namespaces", {"metadata": {"name": "team"}})["status"] == {
        "phase": "Active"}
    old = {"metadata": {"name": "team"}, "status": {"phase": "Terminating"}}
    assert "status" not in defaulted("namespaces", {"metadata": {"name": "team"}}, old)


def test_node_defaults_and_rules() -> None:
    node = defaulted("nodes", {"metadata": {"name": "n1"},
                               "status": {"capacity": {"cpu": "2", "pods": "110"}}})
    assert node["status"]["allocatable"] == {"cpu": "2", "pods": "110"}
    tainted = {"metadata": {"name": "n1"}, "spec": {"taints": [
        {"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "Never"}]}}
    assert check("nodes", tainted) == [
        'spec.taints[1].effect: Unsupported value: "Never": supported values: "NoSchedule", '
        '"PreferNoSchedule", "NoExecute"']  # validateTaintEffect's order
    old = {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.1.0.0/24"}}
    assert check("nodes", {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.2.0.0/24"}},
                 old) == ['spec.podCIDR: Forbidden: node updates may not change podCIDR except '
                          'from "" to valid']


def test_endpoints_allow_loopback_and_check_addresses_and_ports() -> None:
    good = {"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": "127.0.0.2", "nodeName": "n1"}], "ports": [{"port": 8080}]}]}
    body = defaulted("endpoints", good)
    assert body["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert kinds.validate(res("endpoints"), body) == []
    bad = {"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.300"}], "ports": [{"port": 1}, {"port": 2}]}, {}]}
    assert check("endpoints", bad) == [
        'subsets[0].addresses[0].ip: Invalid value: "10.0.0.300": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)",
        "subsets[0].ports[0].name: Required value",
        "subsets[0].ports[1].name: Required value",
        "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
    ]


def test_event_namespace_must_match_the_involved_object() -> None:
    event = {"metadata": {"name": "e", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"}}
    assert check("events", event) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace']
    event["involvedObject"]["namespace"] = "default"
    assert check("events", event) == []
    node_event = {"metadata": {"name": "e", "namespace": "default"},
                  "involvedObject": {"kind": "Node", "name": "n1"}}
    assert check("events", node_event) == []
    new_style = {**node_event, "eventTime": "2026-01-01T00:00:00.000000Z"}
    assert check("events", new_style) == [
        "reportingComponent: Required value", "reportingInstance: Required value",
        "action: Required value", "reason: Required value"]


def test_configmap_keys_and_immutability() -> None:
    cm = {"metadata": {"name": "c"}, "data": {"ok.key": "1", "bad key": "2", "..x": "3"},
          "binaryData": {"ok.key": "AA=="}}
    assert check("configmaps", cm) == [
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of '
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
        "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        "data[..x]: Invalid value: \"..x\": must not start with '..'",
        'data[ok.key]: Invalid value: "ok.key": duplicate of key present in binaryData',
    ]
    old: dict[str, Any] = {"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": True}
    changed = copy.deepcopy(old)
    changed["data"]["a"] = "2"
    changed["immutable"] = False
    assert check("configmaps", changed, old) == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set"]
    big = {"metadata": {"name": "c"}, "data": {"a": "x" * (1024 * 1024 + 1)}}
    assert check("configmaps", big) == [": Too long: may not be more than 1048576 bytes"]


def test_binding_and_scale() -> None:
    bindings = res("bindings")
    assert errors(kinds.validate(bindings, {"target": {"kind": "Pod"}})) == [
        "target.name: Required value",
        'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"']
    assert kinds.validate(bindings, {"target": {"kind": "Node", "name": "n1"}}) == []
    scale = Resource("autoscaling", "v1", "scales", "scale", "Scale", True, "/unused/")
    assert errors(kinds.validate(scale, {"spec": {"replicas": -1}})) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


@pytest.mark.parametrize("kind", ["Namespace", "Node", "Endpoints", "Event", "ConfigMap"])
def test_defaults_accept_empty_objects(kind: str) -> None:
    resource = by_kind("", kind)
    assert resource is not None
    body: dict[str, Any] = {"metadata": {"name": "x"}}
    kinds.default(resource, body)
    kinds.validate(resource, body)
