"""Discovery documents, in the shapes kubectl 1.32 and the Python client 37 decode."""

from __future__ import annotations

import re
from typing import Any

from servers.apiserver import discovery
from servers.apiserver.resources import RESOURCES, Resource

# Semantic Versioning 2.0.0 with Kubernetes' leading "v".
SEMVER = re.compile(
    r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)

APPS = Resource("example.io", "v1", "widgets", "widget", "Widget", True,
                "/registry/widgets/", short_names=("wd",), categories=("all",))


def client() -> Any:
    import kubernetes.client

    return kubernetes.client


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in doc["resources"]}


def test_version_reports_minor_32_for_the_kubectl_dispatcher() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"]) == ("1", "32")
    assert SEMVER.fullmatch(info["gitVersion"])
    assert info["gitVersion"].startswith("v1.32.")
    assert re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+", info["platform"])


def test_version_decodes_with_the_python_client() -> None:
    decoded = client().VersionInfo.from_dict(discovery.version_info(git_commit="abc"))
    assert decoded.minor == "32" and decoded.git_commit == "abc"


def test_api_versions_lists_v1_and_the_server_address() -> None:
    doc = discovery.api_versions("127.0.0.1:6443")
    assert doc["versions"] == ["v1"]
    decoded = client().V1APIVersions.from_dict(doc)
    assert decoded.server_address_by_client_cidrs[0].server_address == "127.0.0.1:6443"


def test_apis_lists_the_named_groups_in_table_order() -> None:
    doc = discovery.api_group_list()
    assert [g["name"] for g in doc["groups"]] == ["apps", "batch", "policy",
                                                  "discovery.k8s.io",
                                                  "authentication.k8s.io",
                                                  "authorization.k8s.io",
                                                  "rbac.authorization.k8s.io",
                                                  "coordination.k8s.io",
                                                  "scheduling.k8s.io",
                                                  "certificates.k8s.io"]
    client().V1APIGroupList.from_dict(doc)
    assert discovery.api_group("example.io") is None


def test_apis_lists_a_group_added_to_the_table() -> None:
    table = (*RESOURCES, APPS)
    doc = discovery.api_group_list(table)
    assert doc["groups"][-1:] == [{
        "name": "example.io",
        "versions": [{"groupVersion": "example.io/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "example.io/v1", "version": "v1"},
    }]
    client().V1APIGroupList.from_dict(doc)
    group = discovery.api_group("example.io", table)
    assert group is not None and group["kind"] == "APIGroup"
    client().V1APIGroup.from_dict(group)
    listed = discovery.api_resource_list("example.io", "v1", table)
    assert listed is not None and listed["groupVersion"] == "example.io/v1"


def test_api_v1_lists_every_core_resource_and_subresource() -> None:
    doc = discovery.api_resource_list("", "v1")
    assert doc is not None
    assert (doc["kind"], doc["apiVersion"], doc["groupVersion"]) == (
        "APIResourceList", "v1", "v1")
    names = set(by_name(doc))
    assert {"namespaces", "nodes", "pods", "services", "endpoints", "replicationcontrollers",
            "events", "configmaps", "bindings"} <= names
    assert {"pods/status", "pods/binding", "pods/log", "nodes/status", "services/status",
            "replicationcontrollers/status", "replicationcontrollers/scale"} <= names


def test_api_v1_pods_entry_matches_kube_apiserver() -> None:
    doc = discovery.api_resource_list("", "v1")
    assert doc is not None
    pods = by_name(doc)["pods"]
    assert pods == {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                  "watch"],
        "shortNames": ["po"], "categories": ["all"],
        "storageVersionHash": "xPOwRZ+Yhw8=",  # the value a real 1.32 apiserver reports
    }


def test_api_v1_subresource_entries() -> None:
    doc = discovery.api_resource_list("", "v1")
    assert doc is not None
    entries = by_name(doc)
    assert entries["pods/status"] == {"name": "pods/status", "singularName": "",
                                      "namespaced": True, "kind": "Pod",
                                      "verbs": ["get", "patch", "update"]}
    assert entries["pods/binding"]["kind"] == "Binding"
    assert entries["pods/binding"]["verbs"] == ["create"]
    assert entries["pods/log"]["verbs"] == ["get"]
    scale = entries["replicationcontrollers/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert "group" not in entries["pods/status"]


def test_api_v1_decodes_with_the_python_client() -> None:
    decoded = client().V1APIResourceList.from_dict(discovery.api_resource_list("", "v1"))
    kinds = {r.name: r.kind for r in decoded.resources}
    assert kinds["nodes"] == "Node"
    assert kinds["replicationcontrollers/scale"] == "Scale"


def test_unknown_group_version_has_no_resource_list() -> None:
    assert discovery.api_resource_list("", "v2") is None
    assert discovery.api_resource_list("example.io", "v1") is None


def test_aggregated_discovery_for_api_and_apis() -> None:
    legacy = discovery.aggregated_discovery(True)
    assert legacy["kind"] == "APIGroupDiscoveryList"
    assert legacy["apiVersion"] == "apidiscovery.k8s.io/v2"
    [core] = legacy["items"]
    assert core["metadata"] == {}
    [v1] = core["versions"]
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["scope"] == "Namespaced"
    assert {s["subresource"] for s in pods["subresources"]} == {
        "status", "binding", "log", "eviction", "attach", "exec", "portforward"}
    rc = next(r for r in v1["resources"] if r["resource"] == "replicationcontrollers")
    scale = next(s for s in rc["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    named = discovery.aggregated_discovery(False)["items"]
    assert [g["metadata"]["name"] for g in named] == ["apps", "batch", "policy",
                                                      "discovery.k8s.io",
                                                      "authentication.k8s.io",
                                                      "authorization.k8s.io",
                                                      "rbac.authorization.k8s.io",
                                                      "coordination.k8s.io",
                                                      "scheduling.k8s.io",
                                                  "certificates.k8s.io"]
    apps = discovery.aggregated_discovery(False, (*RESOURCES, APPS))
    assert apps["items"][-1]["metadata"] == {"name": "example.io"}
    models = client()
    models.V2APIGroupDiscoveryList.from_dict(legacy)
    models.V2APIGroupDiscoveryList.from_dict(apps)


def test_aggregated_content_type_is_exact() -> None:
    assert discovery.AGGREGATED_CONTENT_TYPE == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
