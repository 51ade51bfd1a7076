"""Pod defaults and validation, with Kubernetes' messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servers.apimachinery.field import Cause
from servers.apiserver import kinds
from servers.apiserver.kinds.container import image_tag
from servers.apiserver.kinds.podspec import qos_class
from servers.apiserver.resources import Resource, by_plural


def pods() -> Resource:
    found = by_plural("", "v1", "pods")
    assert found is not None
    return found


def new_pod(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec},
    }
    kinds.default(pods(), body)
    return body


def errors(causes: list[Cause]) -> list[str]:
    return [c.error() for c in causes]


def test_pod_spec_defaults() -> None:
    spec = new_pod()["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["enableServiceLinks"] is True
    assert spec["securityContext"] == {}


def test_container_defaults() -> None:
    pod = new_pod(containers=[{
        "name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
        "env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "livenessProbe": {"httpGet": {"port": 80}},
        "resources": {"limits": {"cpu": "1"}},
    }])
    container = pod["spec"]["containers"][0]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["imagePullPolicy"] == "Always"
    assert container["ports"][0]["protocol"] == "TCP"
    assert container["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert container["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
        "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert container["resources"]["requests"] == {"cpu": "1"}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v2", "IfNotPresent"),
    ("busybox@sha256:" + "0" * 64, "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    pod = new_pod(containers=[{"name": "c", "image": image}])
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy
    assert image_tag("a/b:c") == "c"


def test_an_explicit_policy_is_kept() -> None:
    pod = new_pod(containers=[{"name": "c", "image": "x", "imagePullPolicy": "Never"}])
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_volumes_without_a_source_are_empty_dirs() -> None:
    pod = new_pod(volumes=[{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}])
    assert pod["spec"]["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}}]


def test_a_new_pod_starts_pending_whatever_status_was_sent() -> None:
    body = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}]},
            "status": {"phase": "Running", "podIP": "1.2.3.4"}}
    kinds.default(pods(), body)
    assert body["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_defaulting_an_update_keeps_the_status() -> None:
    old = new_pod()
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running"}
    kinds.default(pods(), new, old)
    assert new["status"] == {"phase": "Running"}


def test_defaulting_is_idempotent() -> None:
    once = new_pod(volumes=[{"name": "v"}])
    twice = copy.deepcopy(once)
    kinds.default(pods(), twice, once)
    assert twice == once


def test_defaulted_pod_decodes_with_the_python_client() -> None:
    import kubernetes.client as models
    decoded = models.V1Pod.from_dict(new_pod())
    assert decoded.status.phase == "Pending"


@pytest.mark.parametrize(("resources", "qos"), [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
])
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    assert qos_class({"containers": [{"name": "a", "resources": resources}]}) == qos


def test_a_valid_pod_has_no_causes() -> None:
    pod = new_pod(volumes=[{"name": "data"}], nodeSelector={"disk": "ssd"}, containers=[{
        "name": "web", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"httpGet": {"port": "http"}},
        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
    }])
    assert kinds.validate(pods(), pod) == []


def test_containers_are_required() -> None:
    assert errors(kinds.validate(pods(), new_pod(containers=[]))) == [
        "spec.containers: Required value"]


def test_container_names_images_and_duplicates() -> None:
    pod = new_pod(containers=[{"name": "Bad_Name", "image": "x"}, {"name": "a"},
                              {"name": "a", "image": " x"}])
    assert errors(kinds.validate(pods(), pod)) == [
        'spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must '
        "consist of lower case alphanumeric characters or '-', and must start and end with an "
        "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        "spec.containers[1].image: Required value",
        'spec.containers[2].image: Invalid value: " x": must not have leading or trailing '
        "whitespace",
        'spec.containers[2].name: Duplicate value: "a"',
    ]


def test_init_and_regular_container_names_share_one_namespace() -> None:
    pod = new_pod(initContainers=[{"name": "web", "image": "x"}])
    assert errors(kinds.validate(pods(), pod)) == [
        'spec.containers[0].name: Duplicate value: "web"']


def test_policies_must_be_supported() -> None:
    pod = new_pod(restartPolicy="Sometimes", dnsPolicy="Google")
    assert errors(kinds.validate(pods(), pod)) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirst", '
        '"ClusterFirstWithHostNet", "Default", "None"',
    ]


def test_ports_env_mounts_and_probes() -> None:
    pod = new_pod(containers=[{
        "name": "c", "image": "x",
        "ports": [{"containerPort": 70000, "protocol": "TCPX", "name": "HTTP"},
                  {"name": "p"}],
        "env": [{"name": "A=B"}, {"value": "1"}],
        "volumeMounts": [{"name": "nope", "mountPath": "/m"}],
        "livenessProbe": {"periodSeconds": 5},
    }])
    assert errors(kinds.validate(pods(), pod)) == [
        'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain only '
        "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain at least one '
        "letter (a-z)",
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 "
        "and 65535, inclusive",
        'spec.containers[0].ports[0].protocol: Unsupported value: "TCPX": supported values: '
        '"SCTP", "TCP", "UDP"',
        "spec.containers[0].ports[1].containerPort: Required value",
        'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable '
        "name must consist only of printable ASCII characters other than '='",
        "spec.containers[0].env[1].name: Required value",
        'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
    ]


def test_requests_may_not_exceed_limits_and_quantities_must_parse() -> None:
    pod = new_pod(containers=[{"name": "c", "image": "x", "resources": {
        "limits": {"cpu": "500m", "memory": "lots"}, "requests": {"cpu": "1"}}}])
    assert errors(kinds.validate(pods(), pod)) == [
        'spec.containers[0].resources.limits[memory]: Invalid value: "lots": quantities must '
        "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        # the request defaulted from the bad limit is reported too
        'spec.containers[0].resources.requests[memory]: Invalid value: "lots": quantities must '
        "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        'spec.containers[0].resources.requests[cpu]: Invalid value: "1": must be less than or '
        "equal to cpu limit of 500m",
    ]


def test_volume_rules() -> None:
    pod = new_pod(volumes=[{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}},
                           {"name": "a", "hostPath": {}}])
    assert errors(kinds.validate(pods(), pod)) == [
        "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
        "spec.volumes[1].hostPath.path: Required value",
        'spec.volumes[1].name: Duplicate value: "a"',
    ]


def test_tolerations_and_deadline() -> None:
    pod = new_pod(activeDeadlineSeconds=0, tolerations=[
        {"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"},
        {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}])
    assert errors(kinds.validate(pods(), pod)) == [
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, "
        "inclusive",
        'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when '
        '`key` is empty, which means "match all values and all keys"',
        'spec.tolerations[1].operator: Invalid value: "v": value must be empty when '
        "`operator` is 'Exists'",
        'spec.tolerations[2].effect: Invalid value: "NoSchedule": effect must be \'NoExecute\' '
        "when `tolerationSeconds` is set",
    ]


def update(old: dict[str, Any], change: dict[str, Any]) -> list[str]:
    new = copy.deepcopy(old)
    new["spec"].update(change)
    kinds.default(pods(), new, old)
    return errors(kinds.validate(pods(), new, old))


def test_updates_may_change_images_deadline_and_add_tolerations() -> None:
    old = new_pod(activeDeadlineSeconds=100, tolerations=[{"key": "a", "operator": "Exists"}])
    containers = copy.deepcopy(old["spec"]["containers"])
    containers[0]["image"] = "nginx:1.28"
    assert update(old, {"containers": containers, "activeDeadlineSeconds": 50, "tolerations": [
        {"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}) == []


def test_updates_may_not_touch_other_spec_fields() -> None:
    [message] = update(new_pod(), {"nodeName": "node2"})
    assert message.startswith(
        "spec: Forbidden: pod updates may not change fields other than "
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)\n")
    assert 'spec.nodeName: null -> "node2"' in message


def test_deadline_and_toleration_updates_have_their_own_rules() -> None:
    old = new_pod(activeDeadlineSeconds=100, tolerations=[{"key": "a", "operator": "Exists"}])
    assert update(old, {"activeDeadlineSeconds": 200}) == [
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous "
        "value"]
    assert update(old, {"tolerations": []}) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its "
        "tolerationSeconds"]
