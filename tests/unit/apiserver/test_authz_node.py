"""The Node authorizer's decision table, the union of authorizers, ``--authorization-mode``
lists, and NodeRestriction's refusals (pure: no HTTP, no storage)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver import resources
from servers.apiserver.authz import (
    AlwaysAllow,
    Attributes,
    Decision,
    Privileged,
    Union,
    bootstrap,
    no_opinion,
    noderestriction,
    parse_modes,
)
from servers.apiserver.authz.node import NODE_RULES, NodeAuthorizer, node_identity
from servers.apiserver.authz.rbac import RBACAuthorizer

Obj = dict[str, Any]
NODE = ("system:node:n1", ("system:nodes", "system:authenticated"))
COORD = "coordination.k8s.io"


def ask(verb: str, resource: str, *, sub: str = "", ns: str = "", name: str = "",
        group: str = "", who: tuple[str, tuple[str, ...]] = NODE) -> Attributes:
    user, groups = who
    return Attributes(user, groups, verb, api_group=group, resource=resource, subresource=sub,
                      namespace=ns, name=name)


@pytest.mark.parametrize(("request_", "allowed"), [
    # reads
    (ask("get", "pods", ns="default", name="web"), True),
    (ask("watch", "pods"), True),
    (ask("list", "nodes"), True),
    (ask("get", "services", ns="default"), True),
    (ask("list", "endpoints"), True),
    (ask("get", "namespaces", name="default"), True),
    (ask("get", "configmaps", ns="default", name="cm"), True),
    # its work
    (ask("create", "nodes"), True),
    (ask("update", "nodes", name="n2"), True),  # which node: NodeRestriction's job
    (ask("patch", "nodes", sub="status", name="n1"), True),
    (ask("update", "pods", sub="status", ns="default", name="web"), True),
    (ask("delete", "pods", ns="default", name="web"), True),
    (ask("create", "events", ns="default"), True),
    (ask("patch", "events", ns="default", group="events.k8s.io"), True),
    # not its work
    (ask("delete", "nodes", name="n1"), False),
    (ask("update", "pods", ns="default", name="web"), False),
    (ask("create", "pods", ns="default"), False),
    (ask("create", "pods", sub="binding", ns="default", name="web"), False),
    (ask("deletecollection", "pods", ns="default"), False),
    (ask("list", "roles", group="rbac.authorization.k8s.io"), False),
    (ask("create", "configmaps", ns="default"), False),
    # leases: its own, in kube-node-lease
    (ask("get", "leases", group=COORD, ns="kube-node-lease", name="n1"), True),
    (ask("update", "leases", group=COORD, ns="kube-node-lease", name="n1"), True),
    (ask("create", "leases", group=COORD, ns="kube-node-lease"), True),
    (ask("delete", "leases", group=COORD, ns="kube-node-lease", name="n1"), True),
    (ask("get", "leases", group=COORD, ns="kube-node-lease", name="n2"), False),
    (ask("get", "leases", group=COORD, ns="kube-system", name="n1"), False),
    (ask("list", "leases", group=COORD, ns="kube-node-lease"), False),
])
def test_node_authorizer_decisions(request_: Attributes, allowed: bool) -> None:
    decision = NodeAuthorizer().authorize(request_)
    assert decision.allowed is allowed
    assert decision.decided is allowed  # allow, or no opinion: never a deny


@pytest.mark.parametrize(("who", "reason"), [
    (("alice", ("system:nodes",)), ""),
    (("system:node:n1", ("system:authenticated",)), ""),  # not in system:nodes
    (("system:node:", ("system:nodes",)), 'unknown node for user "system:node:"'),
])
def test_anyone_else_gets_no_opinion(who: tuple[str, tuple[str, ...]], reason: str) -> None:
    decision = NodeAuthorizer().authorize(ask("get", "pods", who=who))
    assert decision == Decision(False, reason, decided=False)


def test_lease_refusals_say_why() -> None:
    node = NodeAuthorizer()
    other = node.authorize(ask("get", "leases", group=COORD, ns="kube-node-lease", name="n2"))
    assert other.reason == ("can only access node lease with the same name as the requesting "
                            "node")
    elsewhere = node.authorize(ask("get", "leases", group=COORD, ns="default", name="n1"))
    assert elsewhere.reason == 'can only access leases in the "kube-node-lease" system namespace'


def test_node_identity() -> None:
    assert node_identity("system:node:n1", ("system:nodes",)) == ("n1", True)
    assert node_identity("system:node:n1", ()) == ("", False)
    assert node_identity("n1", ("system:nodes",)) == ("", False)


def test_the_system_node_cluster_role_publishes_the_node_rules_bound_to_nobody() -> None:
    assert bootstrap.CLUSTER_ROLES["system:node"] == NODE_RULES
    assert bootstrap.CLUSTER_ROLE_BINDINGS["system:node"] == []
    [binding] = [o for p, o in bootstrap.policy()
                 if p == "clusterrolebindings" and o["metadata"]["name"] == "system:node"]
    assert binding["subjects"] == []


class _Says:
    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.asked = 0

    def authorize(self, attrs: Attributes) -> Decision:
        self.asked += 1
        return self.decision


def test_union_first_opinion_decides_and_reasons_add_up() -> None:
    request_ = ask("get", "pods")
    later = _Says(Decision(True, "later"))
    assert Union(_Says(Decision(True, "first")), later).authorize(request_).reason == "first"
    assert later.asked == 0
    denied = Union(_Says(no_opinion("not mine")), _Says(Decision(False, "no")), later)
    assert denied.authorize(request_) == Decision(False, "not mine\nno")
    assert later.asked == 0
    assert Union(_Says(no_opinion()), later).authorize(request_).allowed
    assert Union(_Says(no_opinion("a")), _Says(no_opinion())).authorize(request_) == Decision(
        False, "a")


def test_system_masters_pass_whatever_the_modes() -> None:
    admin = ("admin", ("system:masters",))
    chain = Union(Privileged(), NodeAuthorizer(), RBACAuthorizer())
    assert chain.authorize(ask("delete", "nodes", name="n1", who=admin)).allowed
    assert not chain.authorize(ask("delete", "nodes", name="n1")).allowed
    assert Union(Privileged(), AlwaysAllow()).authorize(ask("delete", "nodes")).allowed


@pytest.mark.parametrize(("text", "modes"), [
    ("AlwaysAllow", ("AlwaysAllow",)), ("RBAC", ("RBAC",)), ("Node,RBAC", ("Node", "RBAC")),
    ("Node, RBAC", ("Node", "RBAC")), ("RBAC,Node", ("RBAC", "Node")),
])
def test_modes_are_a_comma_separated_list(text: str, modes: tuple[str, ...]) -> None:
    assert parse_modes(text) == modes


@pytest.mark.parametrize(("text", "message"), [
    ("Webhook", "'Webhook' is not a valid mode"),
    ("rbac", "'rbac' is not a valid mode"),
    ("Node,,RBAC", "'' is not a valid mode"),
    ("RBAC,RBAC", "'RBAC' has mode specified more than once"),
])
def test_bad_mode_lists_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_modes(text)


# -- NodeRestriction ------------------------------------------------------------------------

def res(plural: str, group: str = "") -> resources.Resource:
    found = resources.by_plural(group, "v1", plural)
    assert found is not None
    return found


@pytest.fixture
def as_n1() -> Iterator[None]:
    token = noderestriction.requester("n1")
    try:
        yield
    finally:
        noderestriction.reset(token)


def node(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": dict(labels)}, "spec": {}}


def pod(name: str, on: str) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": on}}


def lease(name: str, namespace: str = "kube-node-lease") -> Obj:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {}}


def refused(operation: str, plural: str, new: Obj | None, old: Obj | None, *,
            sub: str = "", group: str = "") -> str:
    with pytest.raises(errors.Forbidden) as caught:
        noderestriction.check(res(plural, group), operation, new, old, sub)
    return caught.value.message


def test_nobody_but_a_node_is_checked() -> None:
    noderestriction.check(res("nodes"), "DELETE", None, node("n2"))


@pytest.mark.usefixtures("as_n1")
def test_a_node_writes_its_own_node_only() -> None:
    noderestriction.check(res("nodes"), "CREATE", node("n1"), None)
    noderestriction.check(res("nodes"), "UPDATE", node("n1", a="b"), node("n1"), "status")
    assert refused("UPDATE", "nodes", node("n2"), node("n2"), sub="status") == (
        'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')
    assert refused("CREATE", "nodes", node("n2"), None).startswith('nodes "n2" is forbidden')
    assert refused("DELETE", "nodes", None, node("n2")).startswith('nodes "n2" is forbidden')


@pytest.mark.usefixtures("as_n1")
def test_a_node_may_not_set_restricted_labels_or_change_taints() -> None:
    key = "node-restriction.kubernetes.io/tier"
    assert refused("CREATE", "nodes", node("n1", **{key: "gold"}), None) == (
        'nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: '
        f"{key}")
    sub = "team.node-restriction.kubernetes.io/x"
    assert "modify the following labels: " + sub in refused(
        "UPDATE", "nodes", node("n1"), node("n1", **{sub: "a"}))
    noderestriction.check(res("nodes"), "UPDATE", node("n1", **{key: "gold", "a": "b"}),
                          node("n1", **{key: "gold"}))
    tainted = copy.deepcopy(node("n1"))
    tainted["spec"]["taints"] = [{"key": "k", "effect": "NoSchedule"}]
    assert refused("UPDATE", "nodes", node("n1"), tainted).endswith(
        'node "n1" is not allowed to modify taints')


@pytest.mark.usefixtures("as_n1")
def test_a_node_touches_only_pods_bound_to_it() -> None:
    mine, theirs = pod("a", "n1"), pod("b", "n2")
    noderestriction.check(res("pods"), "UPDATE", mine, mine, "status")
    noderestriction.check(res("pods"), "DELETE", None, mine)
    assert refused("UPDATE", "pods", theirs, theirs, sub="status") == (
        'pods "b" is forbidden: node "n1" can only update pod status for pods with '
        "spec.nodeName set to itself")
    assert refused("DELETE", "pods", None, theirs) == (
        'pods "b" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself')
    assert "can only create and delete mirror pods" in refused("UPDATE", "pods", mine, mine)
    relabelled = copy.deepcopy(mine)
    relabelled["metadata"]["labels"] = {"app": "other"}
    assert "cannot update labels through pod status" in refused(
        "UPDATE", "pods", relabelled, mine, sub="status")
    assert "can only create mirror pods" in refused("CREATE", "pods", mine, None)


@pytest.mark.usefixtures("as_n1")
def test_a_node_holds_its_own_lease_only() -> None:
    leases = res("leases", COORD)
    noderestriction.check(leases, "CREATE", lease("n1"), None)
    noderestriction.check(leases, "UPDATE", lease("n1"), lease("n1"))
    assert refused("UPDATE", "leases", lease("n2"), lease("n2"), group=COORD) == (
        'leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the '
        "same name as the requesting node")
    assert "kube-node-lease" in refused("CREATE", "leases", lease("n1", "default"), None,
                                        group=COORD)
    noderestriction.check(res("services"), "CREATE", {"metadata": {"name": "x"}}, None)
