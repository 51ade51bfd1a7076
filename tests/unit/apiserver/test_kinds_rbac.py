"""Defaults and validation of the RBAC kinds, and the bootstrap policy passing them."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apiserver import admission
from servers.apiserver.authz import bootstrap
from servers.apiserver.kinds import rbac
from servers.apiserver.resources import by_plural

GROUP = "rbac.authorization.k8s.io"


def fields(causes: list[Any]) -> list[str]:
    return [c.field for c in causes]


@pytest.mark.parametrize(("name", "ok"), [
    ("system:kube-scheduler", True), ("a.b-c_d", True), ("UPPER", True),
    (".", False), ("..", False), ("a/b", False), ("50%", False),
])
def test_rbac_names_are_path_segments(name: str, ok: bool) -> None:
    assert (rbac.name_is_path_segment(name, False) == []) is ok


def test_rules_need_verbs_groups_and_resources() -> None:
    role = {"rules": [{"resources": ["pods"]}, {"verbs": ["get"], "apiGroups": [""]}]}
    assert fields(rbac.validate_role(role)) == ["rules[0].verbs", "rules[0].apiGroups",
                                                "rules[1].resources"]


def test_non_resource_urls_only_in_cluster_roles_and_alone() -> None:
    urls = {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}
    assert fields(rbac.validate_role(urls)) == ["rules[0].nonResourceURLs"]
    assert rbac.validate_cluster_role(urls) == []
    mixed = {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}]}
    assert fields(rbac.validate_cluster_role(mixed)) == ["rules[0].nonResourceURLs"]
    empty_aggregation = {"aggregationRule": {}}
    assert fields(rbac.validate_cluster_role(empty_aggregation)) == [
        "aggregationRule.clusterRoleSelectors"]


def test_binding_defaults_and_subject_rules() -> None:
    b: dict[str, Any] = {"roleRef": {"kind": "Role", "name": "r"},
                         "subjects": [{"kind": "User", "name": "alice"},
                                      {"kind": "ServiceAccount", "name": "ci"}]}
    rbac.default_binding(b)
    assert b["roleRef"]["apiGroup"] == GROUP
    assert b["subjects"][0]["apiGroup"] == GROUP and "apiGroup" not in b["subjects"][1]
    assert rbac.validate_role_binding(b) == []
    # a ClusterRoleBinding names a ClusterRole, and its service accounts need a namespace
    assert fields(rbac.validate_cluster_role_binding(b)) == ["roleRef.kind",
                                                             "subjects[1].namespace"]
    b["subjects"].append({"kind": "Robot", "name": ""})
    assert fields(rbac.validate_role_binding(b)) == ["subjects[2].name", "subjects[2].kind"]


def test_role_ref_cannot_change() -> None:
    old = {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "a"}}
    new = {"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "b"}}
    assert fields(rbac.validate_role_binding(new, old)) == ["roleRef"]
    assert rbac.validate_role_binding(old, old) == []


@pytest.mark.parametrize(("plural", "obj"), bootstrap.policy(),
                         ids=[f"{p}/{o['metadata']['name']}" for p, o in bootstrap.policy()])
def test_the_bootstrap_policy_is_valid(plural: str, obj: dict[str, Any]) -> None:
    resource = by_plural(GROUP, "v1", plural)
    assert resource is not None
    admission.prepare_create(resource, obj)
    assert admission.validate_create(resource, obj) == []


def test_every_bootstrap_binding_names_a_bootstrap_role() -> None:
    assert set(bootstrap.CLUSTER_ROLE_BINDINGS) <= set(bootstrap.CLUSTER_ROLES)
