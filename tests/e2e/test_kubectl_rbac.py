"""The real kubectl against the built km.pyz apiserver under ``--authorization-mode RBAC``:
RBAC objects from manifests, their tables, discovery, and ``kubectl auth can-i``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_kubectl import MANIFESTS, Kubectl, rows
from tests.support.apiserver import ApiServer, start_apiserver


@pytest.fixture(scope="module")
def rbac_api(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("rbac-apiserver-data")
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    with start_apiserver(data, km=km, env=env,
                         extra_args=("--authorization-mode", "RBAC")) as server:
        yield server


@pytest.fixture
def kubectl(rbac_api: ApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(rbac_api, tmp_path / "kube-cache")


def test_api_resources_lists_the_rbac_and_authorization_groups(kubectl: Kubectl) -> None:
    out = kubectl("api-resources", "--api-group", "rbac.authorization.k8s.io").stdout
    names = {r[0]: r for r in rows(out)[1:]}
    assert set(names) == {"clusterrolebindings", "clusterroles", "rolebindings", "roles"}
    assert names["roles"][-2:] == ["true", "Role"]
    assert names["clusterroles"][-2:] == ["false", "ClusterRole"]
    out = kubectl("api-resources", "--api-group", "authorization.k8s.io").stdout
    assert "selfsubjectaccessreviews" in out
    assert "rbac.authorization.k8s.io" in kubectl("api-versions").stdout


def test_create_get_and_delete_roles_and_bindings(kubectl: Kubectl) -> None:
    manifest = str(MANIFESTS / "rbac.yaml")
    out = kubectl("create", "-f", manifest).stdout
    assert "role.rbac.authorization.k8s.io/pod-reader created" in out
    assert "clusterrolebinding.rbac.authorization.k8s.io/ops-view-nodes created" in out
    table = rows(kubectl("get", "roles,rolebindings").stdout)
    assert table[0] == ["NAME", "CREATED", "AT"]
    assert table[1][0] == "role.rbac.authorization.k8s.io/pod-reader"
    assert table[3] == ["NAME", "ROLE", "AGE"]
    assert table[4][:2] == ["rolebinding.rbac.authorization.k8s.io/alice-reads-pods",
                            "Role/pod-reader"]
    wide = rows(kubectl("get", "rolebinding", "alice-reads-pods", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1][0:2] == ["alice-reads-pods", "Role/pod-reader"]
    assert wide[1][3:] == ["alice", "devs"]
    role = kubectl.json("get", "role", "pod-reader")
    assert role["rules"][0]["resources"] == ["pods", "pods/log"]
    kubectl("delete", "-f", manifest)
    gone = kubectl("get", "roles", check=False)
    assert "No resources found" in gone.stderr


def test_imperative_create_commands(kubectl: Kubectl) -> None:
    # kubectl's typed clients send these as protobuf
    kubectl("create", "namespace", "team")
    kubectl("create", "role", "pod-reader", "-n", "team", "--verb=get,list",
            "--resource=pods,pods/status")
    kubectl("create", "rolebinding", "rb", "-n", "team", "--role=pod-reader", "--user=alice",
            "--group=devs")
    kubectl("create", "clusterrole", "node-one", "--verb=get", "--resource=nodes",
            "--resource-name=n1")
    kubectl("create", "clusterrolebinding", "crb", "--clusterrole=node-one", "--user=bob",
            "--serviceaccount=team:ci")
    role = kubectl.json("get", "role", "pod-reader", "-n", "team")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "pods/status"],
                              "verbs": ["get", "list"]}]
    assert "generateName" not in role["metadata"]
    wide = rows(kubectl("get", "clusterrolebinding", "crb", "-o", "wide").stdout)
    assert wide[1][:2] == ["crb", "ClusterRole/node-one"]
    assert wide[1][3:] == ["bob", "team/ci"]
    described = kubectl("describe", "rolebinding", "rb", "-n", "team").stdout
    assert "pod-reader" in described and "alice" in described
    # No controller-manager here: the namespace stays Terminating, as in kube.
    kubectl("delete", "namespace", "team", "--wait=false")
    assert kubectl.json("get", "namespace", "team")["status"]["phase"] == "Terminating"
    kubectl("delete", "clusterrolebinding", "crb")
    kubectl("delete", "clusterrole", "node-one")


def test_apply_changes_rules_and_subjects(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = MANIFESTS / "rbac.yaml"
    assert "created" in kubectl("apply", "-f", str(manifest)).stdout
    changed = tmp_path / "rbac.yaml"
    changed.write_text(manifest.read_text().replace('"get", "list", "watch"', '"get"')
                       .replace("name: devs", "name: testers"))
    out = kubectl("apply", "-f", str(changed)).stdout
    assert "role.rbac.authorization.k8s.io/pod-reader configured" in out
    assert kubectl.json("get", "role", "pod-reader")["rules"][0]["verbs"] == ["get"]
    subjects = kubectl.json("get", "rolebinding", "alice-reads-pods")["subjects"]
    assert [s["name"] for s in subjects] == ["alice", "testers"]
    kubectl("delete", "-f", str(changed))


def test_bootstrap_roles_are_there(kubectl: Kubectl) -> None:
    names = [r[0] for r in rows(kubectl("get", "clusterroles").stdout)[1:]]
    assert {"cluster-admin", "system:kube-scheduler", "system:node"} <= set(names)
    crb = kubectl.json("get", "clusterrolebinding", "cluster-admin")
    assert crb["subjects"][0]["name"] == "system:masters"


def test_unknown_fields_in_a_role_are_refused(kubectl: Kubectl, tmp_path: Path) -> None:
    bad = tmp_path / "bad-role.yaml"
    bad.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
                   "metadata: {name: typo}\nrules:\n- apiGroups: ['']\n  resources: [pods]\n"
                   "  verb: [get]\n")
    done = kubectl("create", "-f", str(bad), check=False)
    assert done.returncode != 0
    assert 'unknown field "rules[0].verb"' in done.stderr


def test_can_i_answers_for_the_loopback_admin(kubectl: Kubectl) -> None:
    assert kubectl("auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "get", "/healthz").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "list", "pods", "--as", "alice",
                   check=False).stdout.strip() == "no"
    denied = kubectl("get", "pods", "--as", "alice", check=False)
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource '
        '"pods" in API group "" in the namespace "default"')
    assert kubectl("auth", "can-i", "create", "pods", "--subresource", "binding", "--as",
                   "system:kube-scheduler").stdout.strip() == "yes"
    listed = rows(kubectl("auth", "can-i", "--list").stdout)
    assert listed[0] == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert ["*.*", "[]", "[]", "[*]"] in listed
