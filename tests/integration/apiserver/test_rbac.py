"""Authorization over HTTP with ``--authorization-mode RBAC``: the policy as stored objects,
denials as Kubernetes' 403, access reviews, and the bootstrap roles of km's own servers.

The app is built with ``authenticate=`` naming the user from two test headers (no header:
the loopback admin, in ``system:masters``), so each request can be anyone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from servers.apiserver import app as apiserver
from servers.apiserver.auth import LOOPBACK_ADMIN, UserInfo, authenticated
from servers.apiserver.authz import bootstrap
from servers.apiserver.registry import Registry
from servers.apiserver.storage import open_storage
from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.support.wait import eventually
from tests.unit.apiserver.test_protowire import CAN_I_LIST_PODS

RBAC = "/apis/rbac.authorization.k8s.io/v1"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
DEV_PODS = "/api/v1/namespaces/dev/pods"
# Policy changes reach the authorizer through a watch: the tests wait (bounded) for them.
WAIT, POLL = 5.0, 0.02
FORBIDDEN_LIST = ('pods is forbidden: User "alice" cannot list resource "pods" in API group '
                  '"" in the namespace "default"')


def from_headers(request: web.Request) -> UserInfo:
    name = request.headers.get("X-Test-User")
    if name is None:
        return LOOPBACK_ADMIN
    groups = tuple(g for g in request.headers.get("X-Test-Groups", "").split(",") if g)
    return UserInfo(name, groups) if name == "system:anonymous" else authenticated(name, groups)


async def authorized_app(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]],
                         mode: str) -> AsyncIterator[Client]:
    """The app under ``--authorization-mode mode``, bootstrap policy in place, users from
    the test headers (``from_headers``)."""
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    registry = Registry(storage)
    try:
        await apiserver.create_default_namespaces(registry)
        await bootstrap.ensure(registry)
        app = apiserver.make_app(registry, authorization_mode=mode, authenticate=from_headers)
        yield await aiohttp_client(app)
    finally:
        await registry.close()
        await storage.close()


@pytest.fixture
async def rbac_api(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
                   ) -> AsyncIterator[Client]:
    async for client in authorized_app(tmp_path, aiohttp_client, "RBAC"):
        yield client


async def call(api: Client, method: str, path: str, body: Any = None, *, user: str | None = None,
               groups: str = "", expect: int | None = None,
               ctype: str = "application/json") -> Any:
    headers = {"Content-Type": ctype}
    if user is not None:
        headers |= {"X-Test-User": user, "X-Test-Groups": groups}
    resp = await api.request(method, path, data=None if body is None else json.dumps(body),
                             headers=headers)
    payload = await resp.json(content_type=None)
    if expect is not None:
        assert resp.status == expect, payload
    return payload


def role(name: str, rules: list[dict[str, Any]], *, cluster: bool = False) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole" if cluster else "Role",
            "metadata": {"name": name}, "rules": rules}


def binding(name: str, kind: str, role_name: str, user: str = "alice", *,
            cluster: bool = False) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind,
                        "name": role_name},
            "subjects": [{"kind": "User", "name": user}]}


PODS_RW = [{"apiGroups": [""], "resources": ["pods"],
            "verbs": ["get", "list", "watch", "create", "delete"]}]


async def allowed(api: Client, method: str, path: str, user: str = "alice") -> bool:
    resp = await api.request(method, path, headers={"X-Test-User": user})
    await resp.read()
    return resp.status != 403


async def make_dev(api: Client) -> None:
    await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "dev"}}, expect=201)


async def test_a_user_without_a_binding_is_forbidden_and_nothing_is_stored(
        rbac_api: Client, caplog: pytest.LogCaptureFixture) -> None:
    status = await call(rbac_api, "GET", PODS, user="alice", expect=403)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Forbidden", 403)
    assert status["message"] == FORBIDDEN_LIST
    assert status["details"] == {"kind": "pods"}
    with caplog.at_level("INFO", logger="servers.apiserver.authz"):
        await call(rbac_api, "POST", PODS, pod("sneaky"), user="alice", expect=403)
    assert any(r.getMessage().startswith(
        'forbidden: User "alice" cannot create resource "pods" in API group "" in the '
        'namespace "default" (groups=system:authenticated; POST /api/v1/namespaces/default/'
        'pods): no RoleBinding or ClusterRoleBinding') for r in caplog.records)
    await call(rbac_api, "GET", f"{PODS}/sneaky", expect=404)
    denied = await call(rbac_api, "DELETE", "/api/v1/namespaces/default", user="alice",
                        expect=403)
    assert denied["message"].startswith('namespaces "default" is forbidden')
    await call(rbac_api, "GET", "/api/v1/namespaces/default", expect=200)


async def test_a_namespaced_role_does_not_reach_into_another_namespace(
        rbac_api: Client) -> None:
    await make_dev(rbac_api)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role("pods", PODS_RW),
               expect=201)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/rolebindings",
               binding("alice-pods", "Role", "pods"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS), "alice may get dev pods",
                     WAIT, POLL)
    await call(rbac_api, "POST", DEV_PODS, pod("mine"), user="alice", expect=201)
    await call(rbac_api, "POST", PODS, pod("theirs"), user="alice", expect=403)
    await call(rbac_api, "GET", PODS, user="alice", expect=403)
    await call(rbac_api, "GET", "/api/v1/pods", user="alice", expect=403)  # all namespaces
    await call(rbac_api, "GET", f"{RBAC}/namespaces/dev/roles", user="alice", expect=403)
    await call(rbac_api, "DELETE", f"{DEV_PODS}/mine", user="alice", expect=200)


async def test_a_role_binding_to_a_cluster_role_is_limited_to_its_namespace(
        rbac_api: Client) -> None:
    await make_dev(rbac_api)
    reader = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    await call(rbac_api, "POST", f"{RBAC}/clusterroles", role("pod-reader", reader, cluster=True),
               expect=201)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/rolebindings",
               binding("read", "ClusterRole", "pod-reader"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS), "alice may get dev pods",
                     WAIT, POLL)
    assert not await allowed(rbac_api, "GET", PODS)
    assert not await allowed(rbac_api, "GET", "/api/v1/pods")
    await call(rbac_api, "POST", f"{RBAC}/clusterrolebindings",
               binding("read-all", "ClusterRole", "pod-reader", cluster=True), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", "/api/v1/pods"),
                     "alice may get all pods", WAIT, POLL)
    assert await allowed(rbac_api, "GET", PODS)
    await call(rbac_api, "DELETE", f"{RBAC}/clusterrolebindings/read-all", expect=200)
    await eventually(lambda: _not(allowed(rbac_api, "GET", PODS)),
                     "alice may no longer get pods", WAIT, POLL)


async def _not(result: Awaitable[bool]) -> bool:
    return not await result


async def test_system_masters_can_do_everything(rbac_api: Client) -> None:
    root = {"user": "root", "groups": "system:masters"}
    node = {"metadata": {"name": "n1"}}
    await call(rbac_api, "POST", "/api/v1/nodes", node, **root, expect=201)
    await call(rbac_api, "GET", "/api/v1/pods", **root, expect=200)
    await call(rbac_api, "POST", f"{RBAC}/clusterroles", role("x", [], cluster=True), **root,
               expect=201)
    await call(rbac_api, "DELETE", "/api/v1/nodes/n1", **root, expect=200)


async def test_can_i_answers_for_the_requesting_user(rbac_api: Client) -> None:
    def review(verb: str, namespace: str = "default") -> dict[str, Any]:
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": verb, "resource": "pods",
                                                "namespace": namespace}}}

    answer = await call(rbac_api, "POST", SSAR, review("list"), user="alice", expect=201)
    assert answer["kind"] == "SelfSubjectAccessReview"
    assert answer["status"]["allowed"] is False
    await call(rbac_api, "POST", f"{RBAC}/namespaces/default/roles", role("pods", PODS_RW),
               expect=201)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/default/rolebindings",
               binding("alice", "Role", "pods"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", PODS), "alice may get pods", WAIT, POLL)
    answer = await call(rbac_api, "POST", SSAR, review("list"), user="alice", expect=201)
    assert answer["status"]["allowed"] is True
    assert "alice" in answer["status"]["reason"]
    answer = await call(rbac_api, "POST", SSAR, review("update"), user="alice", expect=201)
    assert answer["status"]["allowed"] is False
    answer = await call(rbac_api, "POST", SSAR, review("list", "kube-system"), user="alice",
                        expect=201)
    assert answer["status"]["allowed"] is False
    resp = await rbac_api.post(SSAR, data=CAN_I_LIST_PODS, headers={
        "Content-Type": "application/vnd.kubernetes.protobuf", "X-Test-User": "alice"})
    assert resp.status == 201  # kubectl's own protobuf body, answered in JSON
    assert (await resp.json())["status"]["allowed"] is True
    path = {"spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}}
    answer = await call(rbac_api, "POST", SSAR, path, user="alice", expect=201)
    assert answer["status"]["allowed"] is True


async def test_rules_reviews_list_what_the_user_may_do_in_a_namespace(rbac_api: Client) -> None:
    rules_review = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
    await make_dev(rbac_api)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role("pods", PODS_RW),
               expect=201)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/rolebindings",
               binding("alice-pods", "Role", "pods"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS), "alice may get dev pods",
                     WAIT, POLL)
    ask = {"spec": {"namespace": "dev"}}
    status = (await call(rbac_api, "POST", rules_review, ask, user="alice", expect=201))["status"]
    assert {"verbs": ["create", "delete", "get", "list", "watch"], "apiGroups": [""],
            "resources": ["pods"]} in status["resourceRules"]
    assert any("/version" in r["nonResourceURLs"] for r in status["nonResourceRules"])
    assert status["incomplete"] is False
    ask = {"spec": {"namespace": "default"}}
    status = (await call(rbac_api, "POST", rules_review, ask, user="alice", expect=201))["status"]
    assert all("pods" not in r["resources"] for r in status["resourceRules"])


async def test_subject_access_reviews_ask_about_someone_else(rbac_api: Client) -> None:
    spec = {"resourceAttributes": {"verb": "create", "resource": "pods",
                                   "subresource": "binding", "namespace": "default"}}
    asked = {"spec": {**spec, "user": "system:kube-scheduler"}}
    answer = await call(rbac_api, "POST", SAR, asked, expect=201)
    assert answer["status"]["allowed"] is True
    asked = {"spec": {**spec, "user": "bob", "groups": ["devs"]}}
    assert (await call(rbac_api, "POST", SAR, asked, expect=201))["status"]["allowed"] is False
    await call(rbac_api, "POST", SAR, {"spec": spec}, expect=422)
    await call(rbac_api, "POST", SAR, asked, user="alice", expect=403)  # not everyone may ask
    await call(rbac_api, "POST", SSAR, {"spec": {}}, user="alice", expect=422)


async def test_the_scheduler_may_bind_pods_but_not_delete_nodes(rbac_api: Client) -> None:
    scheduler = {"user": "system:kube-scheduler"}
    await call(rbac_api, "POST", "/api/v1/nodes", {"metadata": {"name": "n1"}}, expect=201)
    await call(rbac_api, "POST", PODS, pod("web"), expect=201)
    await call(rbac_api, "GET", PODS, **scheduler, expect=200)
    await call(rbac_api, "GET", "/api/v1/nodes", **scheduler, expect=200)
    bind = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
            "target": {"kind": "Node", "name": "n1"}}
    await call(rbac_api, "POST", f"{PODS}/web/binding", bind, **scheduler, expect=201)
    status = await call(rbac_api, "DELETE", "/api/v1/nodes/n1", **scheduler, expect=403)
    assert status["message"] == (
        'nodes "n1" is forbidden: User "system:kube-scheduler" cannot delete resource "nodes" '
        'in API group "" at the cluster scope')
    await call(rbac_api, "GET", "/api/v1/namespaces/default/configmaps", **scheduler,
               expect=403)
    await call(rbac_api, "DELETE", f"{PODS}/web", **scheduler, expect=200)  # preemption
    # RBAC alone binds system:node to nobody (kube since 1.8): nodes need the Node authorizer
    node = {"user": "system:node:n1", "groups": "system:nodes"}
    await call(rbac_api, "GET", "/api/v1/nodes/n1", **node, expect=403)
    proxy = {"user": "system:kube-proxy"}
    await call(rbac_api, "GET", "/api/v1/services", **proxy, expect=200)
    await call(rbac_api, "GET", "/apis/discovery.k8s.io/v1/endpointslices", **proxy,
               expect=200)  # what km proxy (and kube-proxy) watches
    await call(rbac_api, "GET", PODS, **proxy, expect=403)


async def test_discovery_is_open_to_authenticated_users_only(rbac_api: Client) -> None:
    for path in ("/api", "/apis", "/api/v1", "/version", "/openapi/v3"):
        await call(rbac_api, "GET", path, user="alice", expect=200)
    await call(rbac_api, "GET", "/version", user="system:anonymous", expect=200)
    status = await call(rbac_api, "GET", "/api", user="system:anonymous", expect=403)
    assert status["message"] == 'forbidden: User "system:anonymous" cannot get path "/api"'


async def test_bootstrap_policy_is_listed_and_put_back_on_restart(rbac_api: Client) -> None:
    listed = await call(rbac_api, "GET", f"{RBAC}/clusterroles", expect=200)
    names = {item["metadata"]["name"] for item in listed["items"]}
    assert {"cluster-admin", "system:kube-scheduler", "system:node"} <= names
    crb = await call(rbac_api, "GET", f"{RBAC}/clusterrolebindings/cluster-admin", expect=200)
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                "name": "system:masters"}]
    await call(rbac_api, "PATCH", f"{RBAC}/clusterroles/system:kube-scheduler",
               {"rules": []}, ctype="application/merge-patch+json", expect=200)
    registry = rbac_api.app[apiserver.REGISTRY]
    await bootstrap.ensure(registry)
    again = await call(rbac_api, "GET", f"{RBAC}/clusterroles/system:kube-scheduler")
    assert again["rules"] == bootstrap.CLUSTER_ROLES["system:kube-scheduler"]


async def test_no_one_grants_what_they_do_not_hold(rbac_api: Client) -> None:
    await make_dev(rbac_api)
    delegated = [{"apiGroups": ["rbac.authorization.k8s.io"],
                  "resources": ["roles", "rolebindings"], "verbs": ["create", "patch"]},
                 {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role("delegate", delegated),
               expect=201)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/rolebindings",
               binding("alice-delegate", "Role", "delegate"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS), "alice may get dev pods",
                     WAIT, POLL)
    roles, bindings = f"{RBAC}/namespaces/dev/roles", f"{RBAC}/namespaces/dev/rolebindings"
    # binding herself (or anyone) to cluster-admin is escalation
    status = await call(rbac_api, "POST", bindings,
                        binding("root", "ClusterRole", "cluster-admin", "alice"),
                        user="alice", expect=403)
    assert status["message"].startswith(
        'rolebindings.rbac.authorization.k8s.io "root" is forbidden: user "alice" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
        'currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}')
    # a role with what she holds is fine, one with more is not, nor a patch that adds more
    readers = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    await call(rbac_api, "POST", roles, role("readers", readers), user="alice", expect=201)
    deleters = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}]
    status = await call(rbac_api, "POST", roles, role("deleters", deleters), user="alice",
                        expect=403)
    assert status["message"].endswith('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')
    await call(rbac_api, "PATCH", f"{roles}/readers", {"rules": deleters}, user="alice",
               ctype="application/merge-patch+json", expect=403)
    # the check reads roles from the policy cache, which follows a watch: retry until seen
    await eventually(lambda: _status_is(rbac_api, bindings, binding(
        "bob-reads", "Role", "readers", "bob"), 201), "alice may bind bob-reads", WAIT, POLL)
    await call(rbac_api, "POST", bindings, binding("ghost", "Role", "nothing", "bob"),
               user="alice", expect=403)
    await call(rbac_api, "GET", f"{roles}/deleters", expect=404)  # nothing was stored


async def test_bind_and_escalate_verbs_let_a_user_grant_more(rbac_api: Client) -> None:
    await make_dev(rbac_api)
    admin_role = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    await call(rbac_api, "POST", f"{RBAC}/clusterroles", role("everything", admin_role,
                                                              cluster=True), expect=201)
    binder = [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
               "verbs": ["create"]},
              {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
               "verbs": ["bind"], "resourceNames": ["everything"]},
              {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
               "verbs": ["create", "escalate"]}]
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role("binder", binder),
               expect=201)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/rolebindings",
               binding("alice-binder", "Role", "binder"), expect=201)
    bindings = f"{RBAC}/namespaces/dev/rolebindings"
    await eventually(lambda: _status_is(rbac_api, bindings, binding(
        "bob-everything", "ClusterRole", "everything", "bob"), 201),
        "alice may bind bob-everything", WAIT, POLL)
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role("big", admin_role),
               user="alice", expect=201)
    await call(rbac_api, "POST", bindings, binding("bob-admin", "ClusterRole",
                                                   "cluster-admin", "bob"),
               user="alice", expect=403)


async def _status_is(api: Client, path: str, body: dict[str, Any], status: int) -> bool:
    resp = await api.post(path, json=body, headers={"X-Test-User": "alice"})
    await resp.read()
    return resp.status == status


async def test_the_view_edit_and_admin_cluster_roles_bound_in_a_namespace(
        rbac_api: Client) -> None:
    await make_dev(rbac_api)
    bindings = f"{RBAC}/namespaces/dev/rolebindings"
    await call(rbac_api, "POST", bindings, binding("alice-edit", "ClusterRole", "edit"),
               expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS), "alice may get dev pods",
                     WAIT, POLL)
    await call(rbac_api, "POST", DEV_PODS, pod("web"), user="alice", expect=201)
    assert await allowed(rbac_api, "GET", f"{DEV_PODS}/web/log")
    await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role("r", []), user="alice",
               expect=403)
    await call(rbac_api, "POST", bindings, binding("bob-view", "ClusterRole", "view"),
               user="alice", expect=403)  # edit may not touch RBAC at all
    await call(rbac_api, "POST", bindings, binding("alice-admin", "ClusterRole", "admin"),
               expect=201)
    await eventually(lambda: _status_is(rbac_api, bindings, binding(
        "bob-view", "ClusterRole", "view", "bob"), 201),
        "alice may bind bob-view", WAIT, POLL)  # admin may hand out view
    await call(rbac_api, "POST", bindings, binding("bob-root", "ClusterRole", "cluster-admin",
                                                   "bob"), user="alice", expect=403)
    await call(rbac_api, "DELETE", f"{DEV_PODS}/web", user="bob", expect=403)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS, user="bob"),
                     "bob may get dev pods", WAIT, POLL)


async def test_local_subject_access_reviews_stay_in_their_namespace(rbac_api: Client) -> None:
    local = "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews"
    spec = {"resourceAttributes": {"verb": "create", "resource": "pods", "subresource": "binding",
                                   "namespace": "default"}, "user": "system:kube-scheduler"}
    answer = await call(rbac_api, "POST", local, {"spec": spec}, expect=201)
    assert answer["status"]["allowed"] is True
    assert answer["metadata"]["namespace"] == "default"
    elsewhere = {**spec, "resourceAttributes": {**spec["resourceAttributes"],
                                                "namespace": "kube-system"}}
    await call(rbac_api, "POST", local, {"spec": elsewhere}, expect=400)
    path = {"nonResourceAttributes": {"path": "/version", "verb": "get"}, "user": "bob"}
    await call(rbac_api, "POST", local, {"spec": path}, expect=422)


async def test_a_role_is_known_to_the_very_next_request(rbac_api: Client) -> None:
    await make_dev(rbac_api)
    bindings = f"{RBAC}/namespaces/dev/rolebindings"
    await call(rbac_api, "POST", bindings, binding("alice-admin", "ClusterRole", "admin"),
               expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", DEV_PODS), "alice may get dev pods",
                     WAIT, POLL)
    readers = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    for i in range(20):  # as kubectl create -f role-and-binding.yaml does, with no pause
        await call(rbac_api, "POST", f"{RBAC}/namespaces/dev/roles", role(f"r{i}", readers),
                   user="alice", expect=201)
        await call(rbac_api, "POST", bindings, binding(f"b{i}", "Role", f"r{i}", "bob"),
                   user="alice", expect=201)
    await call(rbac_api, "GET", f"{DEV_PODS}/web", user="bob", expect=404)  # get is granted
