"""The RBAC rule matcher and the policy it reads: verbs, groups, resources, subresources,
resourceNames, namespaces, wildcards, and several bindings adding up."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver.authz import Attributes, forbidden, forbidden_message
from servers.apiserver.authz.rbac import Policy, RBACAuthorizer
from servers.apiserver.authz.rules import Rule

Obj = dict[str, Any]


def attrs(verb: str = "get", resource: str = "pods", *, group: str = "", sub: str = "",
          ns: str = "default", name: str = "", user: str = "alice",
          groups: tuple[str, ...] = ()) -> Attributes:
    return Attributes(user, groups, verb, api_group=group, resource=resource, subresource=sub,
                      namespace=ns, name=name)


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None,
         names: list[str] | None = None) -> Rule:
    return Rule.from_dict({"verbs": verbs, "resources": resources,
                           "apiGroups": [""] if groups is None else groups,
                           "resourceNames": names or []})


@pytest.mark.parametrize(("r", "request_", "allowed"), [
    (rule(["get"], ["pods"]), attrs("get"), True),
    (rule(["get"], ["pods"]), attrs("list"), False),
    (rule(["*"], ["pods"]), attrs("deletecollection"), True),
    (rule(["get"], ["pods"]), attrs("get", "services"), False),
    (rule(["get"], ["*"]), attrs("get", "services"), True),
    (rule(["get"], ["pods"]), attrs("get", group="apps"), False),
    (rule(["get"], ["pods"], ["*"]), attrs("get", group="apps"), True),
    (rule(["get"], ["pods"]), attrs("get", sub="status"), False),
    (rule(["get"], ["pods/status"]), attrs("get", sub="status"), True),
    (rule(["get"], ["pods/status"]), attrs("get"), False),
    (rule(["get"], ["*/status"]), attrs("get", "replicationcontrollers", sub="status"), True),
    (rule(["get"], ["*/status"]), attrs("get", "replicationcontrollers", sub="scale"), False),
    (rule(["get"], ["*/status"]), attrs("get"), False),
    (rule(["create"], ["pods/binding"]), attrs("create", sub="binding", name="web"), True),
    (rule(["get"], ["pods"], names=["web"]), attrs("get", name="web"), True),
    (rule(["get"], ["pods"], names=["web"]), attrs("get", name="db"), False),
    (rule(["list"], ["pods"], names=["web"]), attrs("list"), False),
    (rule(["get"], ["*"], ["*"]), attrs("get", "anything", group="x.io", sub="y"), True),
], ids=repr)
def test_rule_matches_like_rbac_v1(r: Rule, request_: Attributes, allowed: bool) -> None:
    assert r.allows(request_) is allowed


@pytest.mark.parametrize(("urls", "path", "allowed"), [
    (["/healthz"], "/healthz", True),
    (["/healthz"], "/healthz/etcd", False),
    (["/healthz/*"], "/healthz/etcd", True),
    (["/apis/*"], "/apis", False),
    (["*"], "/anything", True),
])
def test_non_resource_urls_match_exactly_or_by_star_prefix(urls: list[str], path: str,
                                                          allowed: bool) -> None:
    r = Rule.from_dict({"verbs": ["get"], "nonResourceURLs": urls})
    request_ = Attributes("alice", (), "get", resource_request=False, path=path)
    assert r.allows(request_) is allowed
    assert not r.allows(Attributes("alice", (), "post", resource_request=False, path=path))


def test_a_resource_rule_never_matches_a_path() -> None:
    assert not rule(["*"], ["*"], ["*"]).allows(
        Attributes("alice", (), "get", resource_request=False, path="/version"))


def role(kind: str, name: str, rules: list[Obj], ns: str = "") -> Obj:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta, "rules": rules}


def binding(name: str, role_kind: str, role_name: str, subjects: list[tuple[str, str]],
            ns: str = "") -> Obj:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"metadata": meta, "roleRef": {"kind": role_kind, "name": role_name},
            "subjects": [{"kind": k, "name": n} for k, n in subjects]}


READ_PODS = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]


@pytest.fixture
def policy() -> Policy:
    p = Policy()
    p.put("roles", role("Role", "pod-reader", READ_PODS, "dev"))
    p.put("clusterroles", role("ClusterRole", "svc-reader", [
        {"verbs": ["get"], "apiGroups": [""], "resources": ["services"]}]))
    p.put("clusterroles", role("ClusterRole", "node-reader", [
        {"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]))
    p.put("rolebindings", binding("alice-pods", "Role", "pod-reader", [("User", "alice")], "dev"))
    p.put("rolebindings", binding("team-svc", "ClusterRole", "svc-reader",
                                  [("Group", "team")], "dev"))
    p.put("clusterrolebindings", binding("ops-nodes", "ClusterRole", "node-reader",
                                         [("Group", "ops")]))
    return p


def test_a_role_binding_grants_only_in_its_namespace(policy: Policy) -> None:
    rbac = RBACAuthorizer(policy)
    assert rbac.authorize(attrs("list", ns="dev")).allowed
    assert not rbac.authorize(attrs("list", ns="default")).allowed
    assert not rbac.authorize(attrs("list", ns="")).allowed  # all namespaces
    assert not rbac.authorize(attrs("delete", ns="dev", name="web")).allowed


def test_a_role_binding_to_a_cluster_role_is_limited_to_its_namespace(policy: Policy) -> None:
    rbac = RBACAuthorizer(policy)
    assert rbac.authorize(attrs("get", "services", ns="dev", groups=("team",))).allowed
    assert not rbac.authorize(attrs("get", "services", ns="prod", groups=("team",))).allowed


def test_cluster_role_bindings_grant_everywhere_and_bindings_add_up(policy: Policy) -> None:
    rbac = RBACAuthorizer(policy)
    both = ("team", "ops")
    assert rbac.authorize(attrs("get", "nodes", ns="", groups=both)).allowed
    assert rbac.authorize(attrs("get", "services", ns="dev", groups=both)).allowed
    assert rbac.authorize(attrs("list", ns="dev", groups=both)).allowed  # as user alice
    assert not rbac.authorize(attrs("get", "nodes", ns="", user="bob")).allowed
    assert len(rbac.rules_for("alice", both, "dev")) == 3


def test_system_masters_may_do_everything() -> None:
    decision = RBACAuthorizer(Policy()).authorize(
        attrs("delete", "nodes", ns="", user="root", groups=("system:masters",)))
    assert decision.allowed


def test_a_binding_to_a_missing_role_grants_nothing_until_the_role_appears() -> None:
    p = Policy()
    p.put("rolebindings", binding("b", "Role", "later", [("User", "alice")], "dev"))
    rbac = RBACAuthorizer(p)
    assert not rbac.authorize(attrs("get", ns="dev")).allowed
    p.put("roles", role("Role", "later", READ_PODS, "dev"))
    assert rbac.authorize(attrs("get", ns="dev")).allowed
    p.remove("roles", role("Role", "later", [], "dev"))
    assert not rbac.authorize(attrs("get", ns="dev")).allowed


def test_replace_drops_what_a_new_list_no_longer_has(policy: Policy) -> None:
    policy.replace("rolebindings", [])
    rbac = RBACAuthorizer(policy)
    assert not rbac.authorize(attrs("list", ns="dev")).allowed
    assert rbac.authorize(attrs("get", "nodes", ns="", groups=("ops",))).allowed


def test_service_account_subjects_match_their_user_name() -> None:
    p = Policy()
    p.put("roles", role("Role", "r", READ_PODS, "dev"))
    p.put("rolebindings", {"metadata": {"name": "b", "namespace": "dev"},
                           "roleRef": {"kind": "Role", "name": "r"},
                           "subjects": [{"kind": "ServiceAccount", "name": "builder"}]})
    rbac = RBACAuthorizer(p)
    assert rbac.authorize(attrs(ns="dev", user="system:serviceaccount:dev:builder")).allowed
    assert not rbac.authorize(attrs(ns="dev", user="system:serviceaccount:other:builder")).allowed


def test_forbidden_messages_are_kubernetes_own() -> None:
    err = forbidden(attrs("list", ns="default"))
    assert isinstance(err, errors.Forbidden) and err.code == 403
    assert str(err) == ('pods is forbidden: User "alice" cannot list resource "pods" in API '
                        'group "" in the namespace "default"')
    assert str(forbidden(attrs("delete", "nodes", ns="", name="n1"))) == (
        'nodes "n1" is forbidden: User "alice" cannot delete resource "nodes" in API group "" '
        'at the cluster scope')
    assert forbidden_message(attrs("update", sub="status", ns="a")).startswith(
        'User "alice" cannot update resource "pods/status"')
    path = Attributes("bob", (), "get", resource_request=False, path="/version")
    assert str(forbidden(path)) == 'forbidden: User "bob" cannot get path "/version"'


def test_covering_breaks_rules_down_and_keeps_wildcards_literal() -> None:
    from servers.apiserver.authz.escalation import uncovered

    owner = [rule(["get", "list"], ["pods", "pods/status"]), rule(["*"], ["services"])]
    assert uncovered(owner, (rule(["get"], ["pods"]), rule(["delete"], ["services"]))) == []
    missing = uncovered(owner, (rule(["get", "delete"], ["pods"]),))
    assert [(a.verb, a.resource) for a in missing] == [("delete", "pods")]
    assert uncovered(owner, (rule(["get"], ["pods/log"]),))[0].subresource == "log"
    assert uncovered(owner, (rule(["*"], ["pods"]),))  # "*" is only covered by "*"
    assert uncovered(owner, (rule(["get"], ["*"]),))
    assert uncovered(owner, (rule(["get"], ["pods"], ["*"]),))
    named = [rule(["get"], ["pods"], names=["web"])]
    assert uncovered(named, (rule(["get"], ["pods"], names=["web"]),)) == []
    assert uncovered(named, (rule(["get"], ["pods"]),))  # every name is more than one
    urls = Rule.from_dict({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]})
    wanted = Rule.from_dict({"verbs": ["get"], "nonResourceURLs": ["/healthz/etcd"]})
    assert uncovered([urls], (wanted,)) == []


def test_an_aggregated_cluster_role_has_the_rules_of_the_roles_it_selects() -> None:
    p = Policy()
    p.put("clusterroles", {"metadata": {"name": "monitoring"},
                           "aggregationRule": {"clusterRoleSelectors": [
                               {"matchLabels": {"aggregate-to-monitoring": "true"}}]},
                           "rules": READ_PODS})  # replaced by the aggregation, as in kube
    p.put("clusterrolebindings", binding("mon", "ClusterRole", "monitoring", [("User", "alice")]))
    rbac = RBACAuthorizer(p)
    assert not rbac.authorize(attrs("get", ns="dev")).allowed
    nodes = {"metadata": {"name": "nodes", "labels": {"aggregate-to-monitoring": "true"}},
             "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]}
    p.put("clusterroles", nodes)
    assert rbac.authorize(attrs("get", "nodes", ns="")).allowed
    p.put("clusterroles", {**nodes, "metadata": {"name": "nodes"}})  # label removed
    assert not rbac.authorize(attrs("get", "nodes", ns="")).allowed
    p.put("clusterroles", nodes)
    p.remove("clusterroles", nodes)
    assert not rbac.authorize(attrs("get", "nodes", ns="")).allowed


def test_an_older_version_never_overwrites_a_newer_one() -> None:
    p = Policy()
    new = role("Role", "r", READ_PODS, "dev")
    new["metadata"]["resourceVersion"] = "5"
    old = role("Role", "r", [], "dev")
    old["metadata"]["resourceVersion"] = "3"
    p.put("roles", new)
    p.put("roles", old)  # a late write-through
    assert p.roles["dev", "r"]
    p.remove("roles", {**old, "metadata": {**old["metadata"], "resourceVersion": "6"}})
    p.put("roles", new)
    assert ("dev", "r") not in p.roles


def test_a_remembered_decision_follows_the_policy() -> None:
    policy = Policy()
    authorizer = RBACAuthorizer(policy)
    attrs = Attributes("alice", (), "list", resource="pods", namespace="dev")
    assert not authorizer.authorize(attrs).allowed
    role = {"metadata": {"name": "reader", "namespace": "dev", "resourceVersion": "1"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}
    binding = {"metadata": {"name": "b", "namespace": "dev", "resourceVersion": "2"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": "reader"},
               "subjects": [{"kind": "User", "name": "alice"}]}
    policy.put("roles", role)
    policy.put("rolebindings", binding)
    assert authorizer.authorize(attrs).allowed
    assert authorizer.authorize(attrs).allowed  # remembered
    policy.remove("rolebindings", {**binding, "metadata": {**binding["metadata"],
                                                           "resourceVersion": "3"}})
    assert not authorizer.authorize(attrs).allowed
    policy.replace("rolebindings", [binding | {"metadata": {**binding["metadata"],
                                                            "resourceVersion": "4"}}])
    assert authorizer.authorize(attrs).allowed
