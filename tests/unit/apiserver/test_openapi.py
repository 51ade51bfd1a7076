"""OpenAPI v3: what kubectl needs to validate server-side, full schemas for explain, and the
decoding checks derived from the same schemas."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from servers.apiserver import openapi
from servers.apiserver.resources import RESOURCES, SCALE, Resource, Subresource
from servers.apiserver.schemas import schemas

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                 "annotations": {"a": "b"}, "creationTimestamp": None},
    "spec": {
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 10,
        "nodeSelector": {"disk": "ssd"},
        "serviceAccountName": "default",
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "cfg", "items": [
                        {"key": "a", "path": "a.txt"}]}}],
        "containers": [{
            "name": "web",
            "image": "python:3.12",
            "command": ["python", "-m", "http.server"],
            "args": ["8080"],
            "workingDir": "/srv",
            "env": [{"name": "A", "value": "1"},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": 1024}, "limits": {}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2},
            "livenessProbe": {"tcpSocket": {"port": 8080}},
        }],
    },
    "status": {},
}


GROUPS = ("apis/authentication.k8s.io/v1", "apis/scheduling.k8s.io/v1",
          "apis/authorization.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1",
          "apis/coordination.k8s.io/v1", "apis/apps/v1", "apis/batch/v1", "apis/policy/v1",
          "apis/discovery.k8s.io/v1", "apis/certificates.k8s.io/v1")


def doc() -> dict[str, Any]:
    body = openapi.document_bytes("api/v1")
    assert body is not None
    decoded: dict[str, Any] = json.loads(body)
    return decoded


def test_index_points_at_api_v1_with_a_content_hash() -> None:
    index = openapi.index()
    body = openapi.document_bytes("api/v1")
    assert body is not None
    digest = hashlib.sha512(body).hexdigest().upper()
    assert index["paths"]["api/v1"] == {
        "serverRelativeURL": f"/openapi/v3/api/v1?hash={digest}"}
    assert set(index["paths"]) == {"api/v1", *GROUPS}
    assert openapi.document_hash("/api/v1/") == digest
    assert openapi.document_bytes("apis/example.io/v1") is None


def test_document_header() -> None:
    d = doc()
    assert d["openapi"].startswith("3.0")
    assert d["info"]["title"] == "Kubernetes"


@pytest.mark.parametrize("resource", [r for r in RESOURCES if "patch" in r.verbs],
                         ids=lambda r: r.plural)
def test_every_patchable_kind_has_a_patch_with_gvk_and_field_validation(resource: Any) -> None:
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    document = json.loads(openapi.document_bytes(
        openapi.gv_path(resource.group, resource.version)) or b"{}")
    patches = [ops["patch"] for ops in document["paths"].values()
               if "patch" in ops and ops["patch"]["x-kubernetes-group-version-kind"] == gvk]
    assert patches, f"no PATCH operation for {resource.kind}"
    for op in patches:  # kubectl looks at whichever it meets first
        params = {(p["name"], p["in"]) for p in op["parameters"]}
        assert ("fieldValidation", "query") in params


def test_patch_bodies_advertise_strategic_merge_patch_with_merge_keys_in_the_schemas() -> None:
    # kubectl then builds client-side apply patches from these schemas (tests/e2e checks it).
    document = doc()
    for path, ops in document["paths"].items():
        if "patch" in ops:
            content = ops["patch"]["requestBody"]["content"]
            assert "application/strategic-merge-patch+json" in content, path
    containers = document["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"][
        "properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"


def test_scale_patch_is_tagged_with_autoscaling_scale() -> None:
    path = "/api/v1/namespaces/{namespace}/replicationcontrollers/{name}/scale"
    op = doc()["paths"][path]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_every_reference_resolves_inside_the_document() -> None:
    d = doc()
    text = json.dumps(d)
    names = set(d["components"]["schemas"])
    for chunk in text.split('"$ref": "#/components/schemas/')[1:]:
        assert chunk.split('"', 1)[0] in names


def test_components_carry_full_kind_schemas_for_explain() -> None:
    found = doc()["components"]["schemas"]
    for kind in ("Pod", "Service", "ReplicationController", "ConfigMap", "Namespace", "Node",
                 "Endpoints", "Event", "Binding"):
        schema = found[f"io.k8s.api.core.v1.{kind}"]
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": "", "kind": kind, "version": "v1"}]
        assert schema["description"]
    assert "io.k8s.api.autoscaling.v1.Scale" in found
    container = found["io.k8s.api.core.v1.Container"]
    assert {"name", "image", "command", "args", "env", "ports", "resources", "volumeMounts",
            "readinessProbe", "livenessProbe", "workingDir"} <= set(container["properties"])
    assert container["required"] == ["name"]


def test_a_realistic_pod_has_no_unknown_fields_or_type_errors() -> None:
    assert openapi.unknown_fields("Pod", POD) == []
    assert openapi.type_errors("Pod", POD) == []


def test_unknown_fields_are_reported_by_path() -> None:
    pod = json.loads(json.dumps(POD))
    pod["spec"]["foo"] = 1
    pod["spec"]["containers"][0]["bar"] = {"x": 1}
    pod["metadata"]["nme"] = "typo"
    pod["top"] = True
    assert openapi.unknown_fields("Pod", pod) == [
        "metadata.nme", "spec.containers[0].bar", "spec.foo", "top"]


def test_maps_and_preserved_objects_accept_any_key() -> None:
    pod = json.loads(json.dumps(POD))
    pod["metadata"]["labels"]["any/key"] = "v"
    pod["spec"]["dnsConfig"] = {"x": [1, 2]}  # a preserved (free-form) object
    assert openapi.unknown_fields("Pod", pod) == []


@pytest.mark.parametrize(("kind", "obj", "path"), [
    ("Service", {"spec": {"ports": [{"port": 80, "nodeport": 1}]}}, "spec.ports[0].nodeport"),
    ("ReplicationController", {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "imag": "x"}]}}}}, "spec.template.spec.containers[0].imag"),
    ("ConfigMap", {"data": {"k": "v"}, "extra": 1}, "extra"),
    ("Namespace", {"spec": {"finalizer": []}}, "spec.finalizer"),
    ("Node", {"status": {"nodeInfo": {"kubeletVersoin": "v1"}}}, "status.nodeInfo.kubeletVersoin"),
    ("Endpoints", {"subsets": [{"address": []}]}, "subsets[0].address"),
    ("Event", {"involvedObject": {"knd": "Pod"}}, "involvedObject.knd"),
    ("Binding", {"target": {"nam": "n"}}, "target.nam"),
    ("Scale", {"spec": {"replica": 3}}, "spec.replica"),
])
def test_unknown_fields_for_each_kind(kind: str, obj: dict[str, Any], path: str) -> None:
    group = "autoscaling" if kind == "Scale" else ""
    assert openapi.unknown_fields(kind, obj, group=group) == [path]


def test_unknown_kind_raises_key_error() -> None:
    with pytest.raises(KeyError):
        openapi.unknown_fields("Widget", {})


@pytest.mark.parametrize(("patch", "message"), [
    ({"spec": {"containers": "x"}},
     "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type "
     "[]v1.Container"),
    ({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}},
     "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports."
     "containerPort of type int32"),
    ({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1.5}]}]}},
     "json: cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.containers."
     "ports.containerPort of type int32"),
    ({"metadata": {"labels": {"a": 1}}},
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
     "string"),
    ({"spec": {"hostNetwork": "yes"}},
     "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"),
    ({"spec": 3}, "json: cannot unmarshal number into Go struct field Pod.spec of type "
     "v1.PodSpec"),
])
def test_type_errors_read_like_go(patch: dict[str, Any], message: str) -> None:
    assert openapi.type_errors("Pod", patch) == [message]


def test_int_or_string_quantity_and_null_accept_their_forms() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 81},
                              {"port": 82, "targetPort": None}]}}
    assert openapi.type_errors("Service", svc) == []
    assert openapi.type_errors("Service", {"spec": {"ports": [{"targetPort": True}]}}) != []
    pod = {"spec": {"containers": [{"resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]}}
    assert openapi.type_errors("Pod", pod) == []
    assert openapi.type_errors("Pod", {"spec": {"containers": [
        {"resources": {"limits": {"cpu": []}}}]}}) != []


def test_error_messages() -> None:
    assert openapi.strict_decoding_error(["spec.foo", "spec.bar"]) == (
        'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"')
    assert openapi.decode_error_message("Pod", "v1", "x") == (
        'Pod in version "v1" cannot be handled as a Pod: x')


# Fields of the Python client's models (generated from a newer Kubernetes) that 1.32 lacks.
NEWER_THAN_1_32 = {
    "DeploymentStatus.terminatingReplicas", "ReplicaSetStatus.terminatingReplicas",
    "JobSpec.scheduling", "EndpointHints.forNodes",
    "ConfigMapVolumeSource.defaultUser", "SecretVolumeSource.defaultUser", "KeyToPath.user",
    "Container.restartPolicyRules", "EphemeralContainer.restartPolicyRules",
    "ContainerStatus.stopSignal", "Lifecycle.stopSignal", "EmptyDirVolumeSource.mode",
    "EnvVarSource.fileKeyRef", "HTTPGetAction.protocol", "NodeSpec.podPreemptionPolicy",
    "NodeStatus.declaredFeatures", "NodeSystemInfo.runningInUserNamespace",
    "PodCondition.observedGeneration", "PodSpec.evictionResponders",
    "PodSpec.hostnameOverride", "PodSpec.schedulingGroup", "PodStatus.allocatedResources",
    "PodStatus.extendedResourceClaimStatus", "PodStatus.nodeAllocatableResourceClaimStatuses",
    "PodStatus.observedGeneration", "PodStatus.resources", "PodStatus.volumeHealth",
    "VolumeMount.bindMountOptions", "ListMeta.shardInfo",
}


def client_fields(model: Any) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        else:
            names.add(alias.choices[0] if alias is not None else name)
    return names


def test_schemas_agree_with_the_python_client_models() -> None:
    import kubernetes.client as models
    checked = 0
    for name, schema in schemas().items():
        version, short = name.rsplit(".", 2)[1:]
        candidates = (f"{version.capitalize()}{short}", f"CoreV1{short}")
        model = next((getattr(models, c) for c in candidates if hasattr(models, c)), None)
        if model is None or "properties" not in schema:
            continue
        mine, theirs = set(schema["properties"]), client_fields(model)
        assert mine <= theirs, f"{short}: not in Kubernetes: {mine - theirs}"
        missing = {f"{short}.{f}" for f in theirs - mine} - NEWER_THAN_1_32
        assert not missing, f"{short}: fields not modelled: {missing}"
        checked += 1
    assert checked > 60


def test_a_group_added_to_the_table_gets_its_own_document() -> None:
    widgets = Resource("example.io", "v1", "widgets", "widget", "Widget", True,
                       "/registry/widgets/",
                       subresources=(Subresource("scale", SCALE, ("get", "patch")),))
    table = (*RESOURCES, widgets)
    assert set(openapi.index(table)["paths"]) == {"api/v1", "apis/example.io/v1", *GROUPS}
    body = openapi.document_bytes("apis/example.io/v1", table)
    assert body is not None
    doc = json.loads(body)
    patch = doc["paths"]["/apis/example.io/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Widget"
    generic = doc["components"]["schemas"]["io.k8s.api.example.v1.Widget"]
    assert generic["x-kubernetes-preserve-unknown-fields"] is True
    assert "io.k8s.api.example.v1.WidgetList" in doc["components"]["schemas"]
