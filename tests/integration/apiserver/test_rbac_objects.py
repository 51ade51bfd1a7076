"""Roles, ClusterRoles and their bindings as API objects (AlwaysAllow, the default mode):
storage keys, names with colons, validation, defaults, immutability, Tables; and access
reviews, which say yes to everything under AlwaysAllow."""

from __future__ import annotations

from typing import Any

from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.test_api import call

RBAC = "/apis/rbac.authorization.k8s.io/v1"
ROLES = f"{RBAC}/namespaces/default/roles"
BINDINGS = f"{RBAC}/namespaces/default/rolebindings"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def role(name: str = "reader", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], **extra}


def binding(name: str = "alice-reads", kind: str = "Role") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name}, "roleRef": {"kind": kind, "name": "reader"},
            "subjects": [{"kind": "User", "name": "alice"},
                         {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": "default"}]}


async def test_roles_are_stored_under_registry_roles(api: Client) -> None:
    created = await call(api, "POST", ROLES, role("system:reader"), expect=201)
    assert created["metadata"]["namespace"] == "default"
    kv = await api.storage.get("/registry/roles/default/system:reader")  # type: ignore[attr-defined]
    assert b'"kind":"Role"' in kv.value
    await call(api, "POST", f"{RBAC}/clusterroles",
               {"metadata": {"name": "c"}, "rules": []}, expect=201)
    await api.storage.get("/registry/clusterroles/c")  # type: ignore[attr-defined]
    await call(api, "DELETE", f"{ROLES}/system:reader", expect=200)
    await call(api, "GET", f"{ROLES}/system:reader", expect=404)


async def test_bindings_get_defaults_and_keep_their_role_ref(api: Client) -> None:
    created = await call(api, "POST", BINDINGS, binding(), expect=201)
    assert created["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert [s.get("apiGroup") for s in created["subjects"]] == [
        "rbac.authorization.k8s.io", "rbac.authorization.k8s.io", None]
    created["roleRef"]["name"] = "writer"
    status = await call(api, "PUT", f"{BINDINGS}/alice-reads", created, expect=422)
    assert status["details"]["causes"][0]["field"] == "roleRef"
    assert "cannot change roleRef" in status["message"]


async def test_invalid_rbac_objects_are_422(api: Client) -> None:
    no_verbs = role(rules=[{"apiGroups": [""], "resources": ["pods"]}])
    status = await call(api, "POST", ROLES, no_verbs, expect=422)
    assert status["details"]["causes"][0]["field"] == "rules[0].verbs"
    urls = role(rules=[{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}])
    await call(api, "POST", ROLES, urls, expect=422)
    await call(api, "POST", f"{RBAC}/clusterroles", {**urls, "kind": "ClusterRole"}, expect=201)
    bad = binding()
    bad["roleRef"]["kind"] = "Pod"
    bad["subjects"].append({"kind": "Robot", "name": "r2"})
    status = await call(api, "POST", BINDINGS, bad, expect=422)
    fields = {c["field"] for c in status["details"]["causes"]}
    assert fields == {"roleRef.kind", "subjects[3].kind"}
    crb = {**binding(kind="Role"), "kind": "ClusterRoleBinding"}
    await call(api, "POST", f"{RBAC}/clusterrolebindings", crb, expect=422)
    status = await call(api, "POST", ROLES, role("a/b"), expect=422)
    assert "may not contain '/'" in status["message"]


async def test_unknown_fields_are_rejected_under_strict_validation(api: Client) -> None:
    typo = role(rules=[{"apiGroups": [""], "resources": ["pods"], "verb": ["get"]}])
    status = await call(api, "POST", ROLES + "?fieldValidation=Strict", typo, expect=400)
    assert status["message"] == 'strict decoding error: unknown field "rules[0].verb"'


async def test_tables_print_created_at_and_role_and_subjects(api: Client) -> None:
    await call(api, "POST", ROLES, role(), expect=201)
    await call(api, "POST", BINDINGS, binding(), expect=201)
    table = await call(api, "GET", ROLES, headers={"Accept": TABLE}, expect=200)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"][0] == "reader"
    assert table["rows"][0]["cells"][1].endswith("Z")
    table = await call(api, "GET", BINDINGS, headers={"Accept": TABLE}, expect=200)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
    name, ref, _, users, groups, accounts = table["rows"][0]["cells"]
    assert (name, ref, users, groups, accounts) == (
        "alice-reads", "Role/reader", "alice", "devs", "default/ci")


async def test_access_reviews_allow_everything_under_always_allow(api: Client) -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    answer = await call(api, "POST", path, review, expect=201)
    assert answer["status"]["allowed"] is True
    assert answer["spec"] == review["spec"]
    await call(api, "GET", path, expect=405)
    namespaced_roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles"
    assert (await call(api, "GET", namespaced_roles, expect=200))["items"] == []
