"""Scheduling constraints in a pod spec: kube's messages for malformed affinity terms, topology
spread constraints, priority class names and preemption policies."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apiserver import openapi
from servers.apiserver.kinds import pod
from servers.apiserver.kinds.affinity import validate_scheduling
from servers.apiserver.kinds.pod import validate_update
from servers.apiserver.kinds.podspec import validate_pod_spec
from servers.apiserver.schemas import schemas
from servers.apiserver.schemas.check import check

REQ = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"


def causes(**spec: Any) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in validate_scheduling(spec, "spec")]


def node_affinity(*expressions: dict[str, Any], fields: list[Any] | None = None
                  ) -> dict[str, Any]:
    term: dict[str, Any] = {"matchExpressions": list(expressions)}
    if fields is not None:
        term["matchFields"] = fields
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}


def test_well_formed_constraints_pass() -> None:
    spec = {
        "affinity": {
            **node_affinity({"key": "zone", "operator": "In", "values": ["a"]},
                            {"key": "gpu", "operator": "Exists"},
                            {"key": "cores", "operator": "Gt", "values": ["4"]},
                            fields=[{"key": "metadata.name", "operator": "In",
                                     "values": ["n1"]}]),
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname"}}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                       "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": {"app": "web"}}}],
        "priorityClassName": "high", "preemptionPolicy": "Never"}
    assert causes(**spec) == []


def test_an_unknown_node_operator_is_invalid() -> None:
    assert causes(affinity=node_affinity({"key": "zone", "operator": "Near",
                                          "values": ["a"]})) == [
        (f"{REQ}.nodeSelectorTerms[0].matchExpressions[0].operator",
         'Invalid value: "Near": not a valid selector operator')]


@pytest.mark.parametrize(("expression", "member", "message"), [
    ({"key": "zone", "operator": "In"}, "values",
     "Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ({"key": "zone", "operator": "Exists", "values": ["a"]}, "values",
     "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
    ({"key": "cores", "operator": "Lt", "values": ["1", "2"]}, "values",
     "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"),
    ({"key": "bad key!", "operator": "Exists"}, "key", 'Invalid value: "bad key!": name part '
     "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
     "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
     "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
])
def test_node_selector_requirements(expression: dict[str, Any], member: str,
                                    message: str) -> None:
    assert causes(affinity=node_affinity(expression)) == [
        (f"{REQ}.nodeSelectorTerms[0].matchExpressions[0].{member}", message)]


def test_no_node_selector_terms_is_required() -> None:
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": []}}}}
    assert causes(**spec) == [(f"{REQ}.nodeSelectorTerms",
                               "Required value: must have at least one node selector term")]


def test_match_fields_know_only_metadata_name() -> None:
    found = causes(affinity=node_affinity(fields=[{"key": "spec.nodeName", "operator": "In",
                                                   "values": ["a", "b"]}]))
    path = f"{REQ}.nodeSelectorTerms[0].matchFields[0]"
    assert found == [
        (f"{path}.values", "Required value: must be only one value when `operator` is 'In' "
                           "or 'NotIn' for node field selector"),
        (f"{path}.key", 'Invalid value: "spec.nodeName": not a valid field selector key')]


def test_weights_are_1_to_100() -> None:
    spec = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}
    ]}}}
    assert causes(**spec) == [(
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "Invalid value: 0: must be in the range 1-100")]


def test_pod_affinity_terms_need_a_topology_key_and_good_selectors() -> None:
    spec = {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Gt",
                                                 "values": ["1"]}]}}]}}}
    path = "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
    found = causes(**spec)
    assert (f"{path}.labelSelector.matchExpressions[0].operator",
            'Invalid value: "Gt": not a valid selector operator') in found
    assert (f"{path}.topologyKey", "Required value: can not be empty") in found


def test_topology_spread_constraints() -> None:
    spec = {"topologySpreadConstraints": [
        {"maxSkew": 0, "topologyKey": "", "whenUnsatisfiable": "Sometimes"},
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
         "minDomains": 2, "nodeTaintsPolicy": "Maybe"},
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}
    path = "spec.topologySpreadConstraints"
    assert causes(**spec) == [
        (f"{path}[0].maxSkew", "Invalid value: 0: must be greater than zero"),
        (f"{path}[0].topologyKey", "Required value: can not be empty"),
        (f"{path}[0].whenUnsatisfiable", 'Unsupported value: "Sometimes": supported values: '
                                         '"DoNotSchedule", "ScheduleAnyway"'),
        (f"{path}[1].{{topologyKey, whenUnsatisfiable}}",
         'Duplicate value: "{zone, ScheduleAnyway}"'),
        (f"{path}[1].minDomains", "Invalid value: 2: can only use minDomains if "
                                  "whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"),
        (f"{path}[1].nodeTaintsPolicy", 'Unsupported value: "Maybe": supported values: '
                                        '"Honor", "Ignore"')]


def test_priority_class_name_and_preemption_policy() -> None:
    assert causes(priorityClassName="Not_A_Name", preemptionPolicy="Always") == [
        ("spec.priorityClassName", 'Invalid value: "Not_A_Name": a lowercase RFC 1123 '
         "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
         "start and end with an alphanumeric character (e.g. 'example.com', regex used for "
         "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ("spec.preemptionPolicy", 'Unsupported value: "Always": supported values: '
                                  '"PreemptLowerPriority", "Never"')]


def test_the_pod_spec_rules_include_them() -> None:
    spec = {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "topologySpreadConstraints": [{"maxSkew": -1, "topologyKey": "zone",
                                           "whenUnsatisfiable": "DoNotSchedule"}]}
    assert "spec.topologySpreadConstraints[0].maxSkew" in [c.field for c in
                                                           validate_pod_spec(spec)]


def test_wrong_types_do_not_crash() -> None:
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": ["x", {"matchExpressions": [{"operator": 5, "values": "a"}]}]}}},
        "topologySpreadConstraints": [{"maxSkew": "1"}]}
    assert causes(**spec)


def test_the_schema_refuses_wrong_types_and_names_unknown_fields() -> None:
    pod = {"spec": {"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": "heavy"}],
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerm": []}}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                       "whenUnsatisfiable": "DoNotSchedule", "skew": 2}]}}
    findings = check(schemas(), "io.k8s.api.core.v1.Pod", pod)
    assert findings.type_errors and "weight" in findings.type_errors[0]
    assert openapi.unknown_fields("Pod", pod) == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerm", "spec.topologySpreadConstraints[0].skew"]


def test_tolerations_as_kube_validates_them() -> None:
    spec = {"containers": [{"name": "c", "image": "x"}], "tolerations": [
        {"key": "k", "operator": "Equal", "value": "not a value!"},
        {"key": "k", "operator": "Exists", "effect": "NoAdmit"},
        {"key": "k", "operator": "Maybe"}]}
    found = [(c.field, c.message) for c in validate_pod_spec(spec)
             if c.field.startswith("spec.tolerations")]
    assert found[0][0] == "spec.tolerations[0].operator"
    assert found[0][1].startswith('Invalid value: "not a value!": a valid label must be')
    assert found[1:] == [
        ("spec.tolerations[1].effect", 'Unsupported value: "NoAdmit": supported values: '
                                       '"NoSchedule", "PreferNoSchedule", "NoExecute"'),
        ("spec.tolerations[2].operator", 'Unsupported value: "Maybe": supported values: '
                                         '"Equal", "Exists"')]


def test_scheduling_gates_are_qualified_names_without_repeats() -> None:
    assert causes(schedulingGates=[{"name": "example.com/gate"}]) == []
    found = causes(schedulingGates=[{"name": "a"}, {"name": "a"}, {"name": "bad name"}])
    assert [f for f, _ in found] == ["spec.schedulingGates[1]", "spec.schedulingGates[2]"]
    assert found[0][1] == 'Duplicate value: "a"'


def test_an_update_may_remove_gates_but_not_add_them() -> None:
    old = {"containers": [{"name": "c", "image": "x"}],
           "schedulingGates": [{"name": "a"}, {"name": "b"}]}
    assert validate_update({**old, "schedulingGates": [{"name": "b"}]}, old) == []
    assert validate_update({**old, "schedulingGates": []}, old) == []
    [cause] = validate_update({**old, "schedulingGates": [{"name": "a"}, {"name": "c"}]}, old)
    assert (cause.field, cause.message) == (
        "spec.schedulingGates[1].name",
        "Forbidden: only deletion is allowed, but found new scheduling gate 'c'")


def test_a_gated_pod_cannot_be_created_bound() -> None:
    gated = {"spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": "n1",
                      "schedulingGates": [{"name": "g"}]}}
    pod.default(gated)
    assert [(c.field, c.message) for c in pod.validate(gated)] == [
        ("spec.nodeName", "Forbidden: cannot be set until all schedulingGates have been "
                          "cleared")]
