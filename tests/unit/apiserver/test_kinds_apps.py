"""Defaults and validation of apps/v1 Deployment, ReplicaSet, StatefulSet and DaemonSet, and
the one /scale mapping of every scalable kind."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servers.apimachinery import errors as api_errors
from servers.apiserver import kinds
from servers.apiserver.authz import Attributes
from servers.apiserver.authz.bootstrap import CLUSTER_ROLES
from servers.apiserver.authz.rules import Rule
from servers.apiserver.kinds import scale
from servers.apiserver.resources import Resource, by_plural

Obj = dict[str, Any]


def res(plural: str, group: str = "apps") -> Resource:
    found = by_plural(group, "v1", plural)
    assert found is not None
    return found


def body(kind: str, **spec: Any) -> Obj:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}
    base: Obj = {"metadata": {"name": "web", "uid": "u1"},
                 "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}}
    base["spec"].update(spec)
    return base


def check(plural: str, obj: Obj, old: Obj | None = None) -> list[str]:
    kinds.default(res(plural), obj, old)
    return [c.error() for c in kinds.validate(res(plural), obj, old)]


def test_deployment_defaults_are_kubes() -> None:
    deploy = body("Deployment")
    kinds.default(res("deployments"), deploy)
    spec = deploy["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"]) == (
        "Always", "ClusterFirst", "default-scheduler")
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert deploy["status"] == {}


def test_recreate_gets_no_rolling_update_defaults() -> None:
    deploy = body("Deployment", strategy={"type": "Recreate"})
    assert check("deployments", deploy) == []
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_selector_is_required_matching_and_immutable() -> None:
    missing = body("Deployment")
    del missing["spec"]["selector"]
    assert check("deployments", missing) == ["spec.selector: Required value"]
    other = body("Deployment", selector={"matchLabels": {"app": "x"}})
    assert check("deployments", other) == [
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: '
        "`selector` does not match template `labels`"]
    empty = body("Deployment", selector={})
    assert "empty selector is invalid for deployment" in check("deployments", empty)[0]
    old = body("Deployment")
    kinds.default(res("deployments"), old)
    changed = copy.deepcopy(old)
    changed["spec"]["selector"] = {"matchLabels": {"app": "web"},
                                   "matchExpressions": [{"key": "app", "operator": "Exists"}]}
    [immutable] = check("deployments", changed, old)
    assert immutable.startswith("spec.selector: Invalid value: ")
    assert immutable.endswith(": field is immutable")


def test_deployment_strategy_rules() -> None:
    both_zero = body("Deployment", strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 0, "maxUnavailable": "0%"}})
    assert check("deployments", both_zero) == [
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when '
        "`maxSurge` is 0"]
    bad = body("Deployment", strategy={"type": "Blue"})
    assert check("deployments", bad) == [
        'spec.strategy.type: Unsupported value: "Blue": supported values: "Recreate", '
        '"RollingUpdate"']
    over = body("Deployment", strategy={"rollingUpdate": {"maxSurge": "120%"}})
    assert check("deployments", over) == [
        'spec.strategy.rollingUpdate.maxSurge: Invalid value: "120%": must not be greater '
        "than 100%"]
    never = body("Deployment")
    never["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert check("deployments", never) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
        '"Always"']
    active = body("Deployment")
    active["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert check("deployments", active) == [
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in "
        "ReplicaSet is not Supported"]
    deadline = body("Deployment", progressDeadlineSeconds=5, minReadySeconds=10)
    assert check("deployments", deadline) == [
        "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"]


def test_replicaset_defaults_and_rules() -> None:
    rs = body("ReplicaSet")
    assert check("replicasets", rs) == []
    assert rs["spec"]["replicas"] == 1 and rs["status"] == {"replicas": 0}
    negative = body("ReplicaSet", replicas=-1)
    assert check("replicasets", negative) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


def test_statefulset_defaults_and_no_volume_claims() -> None:
    sts = body("StatefulSet", serviceName="web")
    assert check("statefulsets", sts) == []
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                            "whenScaled": "Retain"}
    assert (spec["replicas"], spec["revisionHistoryLimit"]) == (1, 10)
    claims = body("StatefulSet", volumeClaimTemplates=[{"metadata": {"name": "data"}}])
    assert check("statefulsets", claims) == [
        "spec.volumeClaimTemplates: Forbidden: km has no persistent volumes yet: a "
        "StatefulSet may not have volumeClaimTemplates"]


def test_statefulset_updates_only_the_mutable_members() -> None:
    old = body("StatefulSet", serviceName="web")
    kinds.default(res("statefulsets"), old)
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 3
    assert check("statefulsets", scaled, old) == []
    renamed = copy.deepcopy(old)
    renamed["spec"]["serviceName"] = "other"
    assert check("statefulsets", renamed, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"]


def test_daemonset_defaults() -> None:
    ds = body("DaemonSet")
    assert check("daemonsets", ds) == []
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 1, "maxSurge": 0}}
    assert ds["spec"]["revisionHistoryLimit"] == 10
    assert "replicas" not in ds["spec"]


@pytest.mark.parametrize(("group", "kind", "selector", "text"), [
    ("", "ReplicationController", {"app": "web", "tier": "fe"}, "app=web,tier=fe"),
    ("apps", "Deployment", {"matchLabels": {"app": "web"}}, "app=web"),
    ("apps", "ReplicaSet", {"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ("apps", "StatefulSet", {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["y", "x"]}]}, "app in (x,y)"),
])
def test_one_scale_mapping_for_every_scalable_kind(group: str, kind: str, selector: Obj,
                                                   text: str) -> None:
    obj = {"metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                        "labels": {"x": "y"}},
           "spec": {"replicas": 3, "selector": selector}, "status": {"replicas": 2}}
    view = scale.to_scale(group, kind, obj)
    assert view == {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": "web", "namespace": "ns", "uid": "u",
                                 "resourceVersion": "7"},
                    "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": text}}
    view["spec"]["replicas"] = 5
    assert scale.apply_scale(obj, view, "web")["spec"]["replicas"] == 5
    with pytest.raises(api_errors.Invalid):
        scale.apply_scale(obj, {"spec": {"replicas": -1}}, "web")


def _allowed(role: str, verb: str, group: str, resource: str, sub: str = "") -> bool:
    attrs = Attributes("u", (), verb, api_group=group, resource=resource, subresource=sub)
    return any(Rule.from_dict(r).allows(attrs) for r in CLUSTER_ROLES[role])


@pytest.mark.parametrize(("group", "resource", "sub"), [
    ("apps", "deployments", ""), ("apps", "deployments", "scale"), ("apps", "statefulsets", ""),
    ("apps", "daemonsets", ""), ("apps", "replicasets", "scale"), ("batch", "jobs", ""),
    ("batch", "cronjobs", ""), ("policy", "poddisruptionbudgets", ""),
    ("", "serviceaccounts", ""), ("discovery.k8s.io", "endpointslices", ""),
])
def test_bootstrap_roles_cover_the_workload_kinds(group: str, resource: str, sub: str) -> None:
    assert _allowed("view", "list", group, resource, sub)
    assert not _allowed("view", "create", group, resource, sub)
    assert _allowed("edit", "patch", group, resource, sub)
    assert _allowed("admin", "delete", group, resource, sub)
    assert _allowed("system:kube-controller-manager", "update", group, resource, sub)


def test_status_is_read_only_for_users_and_written_by_the_controller_manager() -> None:
    assert _allowed("view", "get", "apps", "deployments", "status")
    assert not _allowed("edit", "update", "apps", "deployments", "status")
    assert _allowed("system:kube-controller-manager", "update", "apps", "deployments", "status")
    assert _allowed("edit", "create", "", "pods", "eviction")
