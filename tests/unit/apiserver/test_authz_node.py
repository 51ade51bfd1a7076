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
from servers.apiserver.authz.nodegraph import NodeGraph, pod_references
from servers.apiserver.authz.rbac import RBACAuthorizer

Obj = dict[str, Any]
NODE = ("system:node:n1", ("system:nodes", "system:authenticated"))
COORD = "coordination.k8s.io"


def ask(verb: str, resource: str, *, sub: str = "", ns: str = "", name: str = "",
        group: str = "", sel: str = "", who: tuple[str, tuple[str, ...]] = NODE) -> Attributes:
    user, groups = who
    return Attributes(user, groups, verb, api_group=group, resource=resource, subresource=sub,
                      namespace=ns, name=name, field_selector=sel)


def graph() -> NodeGraph:
    """Pod web on n1 uses configmap cm and secret s; pod other on n2 uses configmap cm2."""
    g = NodeGraph()
    g.put({"metadata": {"name": "web", "namespace": "default"},
           "spec": {"nodeName": "n1", "volumes": [{"name": "v", "configMap": {"name": "cm"}},
                                                  {"name": "s", "secret": {"secretName": "s"}}],
                    "containers": [{"name": "c"}]}})
    g.put({"metadata": {"name": "other", "namespace": "default"},
           "spec": {"nodeName": "n2", "volumes": [{"name": "v", "configMap": {"name": "cm2"}}],
                    "containers": [{"name": "c"}]}})
    return g


@pytest.mark.parametrize(("request_", "allowed"), [
    # reads: what its pods use, its own pods and Node
    (ask("get", "pods", ns="default", name="web"), True),
    (ask("get", "pods", ns="default", name="other"), False),
    (ask("watch", "pods", sel="spec.nodeName=n1"), True),
    (ask("list", "pods", sel="spec.nodeName==n1,status.phase=Running"), True),
    (ask("list", "pods", sel="spec.nodeName=n2"), False),
    (ask("list", "pods", sel="spec.nodeName!=n1"), False),
    (ask("watch", "pods"), False),
    (ask("list", "pods", ns="default", name="web"), True),  # metadata.name=web
    (ask("get", "nodes", name="n1"), True),
    (ask("watch", "nodes", name="n1"), True),
    (ask("get", "nodes", name="n2"), False),
    (ask("list", "nodes"), False),
    (ask("get", "services", ns="default"), True),
    (ask("list", "endpoints"), True),
    (ask("get", "namespaces", name="default"), True),
    (ask("get", "configmaps", ns="default", name="cm"), True),
    (ask("watch", "configmaps", ns="default", name="cm"), True),
    (ask("get", "configmaps", ns="default", name="cm2"), False),
    (ask("get", "configmaps", ns="kube-system", name="cm"), False),
    (ask("list", "configmaps", ns="default"), False),
    (ask("get", "secrets", ns="default", name="s"), True),
    (ask("get", "secrets", ns="default", name="cm"), False),
    (ask("list", "secrets"), False),
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
    (ask("create", "pods", ns="default"), True),  # mirror pods: NodeRestriction checks
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
    decision = NodeAuthorizer(graph()).authorize(request_)
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


def test_refusals_give_kube_reasons() -> None:
    node = NodeAuthorizer(graph())
    reasons = [node.authorize(a).reason for a in (
        ask("get", "configmaps", ns="default", name="cm2"), ask("list", "pods"),
        ask("list", "nodes"), ask("get", "nodes", name="n2"),
        ask("create", "configmaps", ns="default"), ask("list", "configmaps", ns="default"))]
    assert reasons == ["no relationship found between node 'n1' and this object",
                       "can only list/watch pods with spec.nodeName field selector",
                       "node 'n1' cannot read all nodes, only its own Node object",
                       "node 'n1' cannot read 'n2', only its own Node object",
                       "can only read resources of this type", "No Object name found"]


def test_the_graph_follows_pods_as_they_are_bound_changed_and_deleted() -> None:
    g = graph()
    web = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"nodeName": "n1", "volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}
    assert g.related("n1", "configmap", "default", "cm")
    g.remove(web)
    assert not g.related("n1", "configmap", "default", "cm")
    assert not g.related("n1", "pod", "default", "web")
    web["spec"]["nodeName"] = "n2"  # bound elsewhere now
    g.put(web)
    assert g.related("n2", "configmap", "default", "cm")
    assert not g.related("n1", "configmap", "default", "cm")
    del web["spec"]["nodeName"]  # an unbound pod relates to no node
    g.put(web)
    assert not g.related("n2", "pod", "default", "web") and len(g) == 1


def test_every_way_a_pod_names_a_secret_or_configmap_counts() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {
        "serviceAccountName": "sa",
        "imagePullSecrets": [{"name": "pull"}],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
        "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cm-env"}}],
                        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "key"}}},
                                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "b"}}},
                                {"name": "C", "value": "plain"}]}],
        "ephemeralContainers": [{"name": "e", "envFrom": [{"secretRef": {"name": "eph"}}]}],
        "volumes": [{"name": "v1", "secret": {"secretName": "vol"}},
                    {"name": "v2", "configMap": {"name": "cm-vol"}},
                    {"name": "v3", "projected": {"sources": [{"secret": {"name": "proj"}},
                                                             {"configMap": {"name": "cm-proj"}},
                                                             {"serviceAccountToken": {}}]}},
                    {"name": "v4", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi"}}},
                    {"name": "v5", "rbd": {"secretRef": {"name": "rbd"}}},
                    {"name": "v6", "azureFile": {"secretName": "az"}},
                    {"name": "v7", "persistentVolumeClaim": {"claimName": "claim"}},
                    {"name": "v8", "ephemeral": {"volumeClaimTemplate": {}}},
                    {"name": "v9", "emptyDir": {}}]}}
    refs = set(pod_references(pod, "ns"))
    assert {(k, n) for k, _, n in refs} == {
        ("serviceaccount", "sa"), ("secret", "pull"), ("secret", "init-env"),
        ("configmap", "cm-env"), ("secret", "key"), ("configmap", "b"), ("secret", "eph"),
        ("secret", "vol"), ("configmap", "cm-vol"), ("secret", "proj"),
        ("configmap", "cm-proj"), ("secret", "csi"), ("secret", "rbd"), ("secret", "az"),
        ("persistentvolumeclaim", "claim"), ("persistentvolumeclaim", "p-v8")}
    assert {ns for _, ns, _ in refs} == {"ns"}


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
@pytest.mark.parametrize("key", [
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region", "kubelet.kubernetes.io/anything",
    "x.kubelet.kubernetes.io/y", "node.kubernetes.io/exclude-from-external-load-balancers",
    "example.com/role", "plain", "kubernetes.io.example.com/ok"])
def test_a_node_may_set_the_kubelet_labels(key: str) -> None:
    noderestriction.check(res("nodes"), "CREATE", node("n1", **{key: "v"}), None)
    noderestriction.check(res("nodes"), "UPDATE", node("n1", **{key: "w"}),
                          node("n1", **{key: "v"}))
    noderestriction.check(res("nodes"), "UPDATE", node("n1"), node("n1", **{key: "v"}))


@pytest.mark.usefixtures("as_n1")
@pytest.mark.parametrize("key", [
    "node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/worker",
    "kubernetes.io/role", "k8s.io/x", "sub.k8s.io/x", "other.kubernetes.io/foo",
    "beta.kubernetes.io/fluentd-ds-ready", "node-restriction.kubernetes.io/tier"])
def test_a_node_may_not_set_other_kubernetes_labels(key: str) -> None:
    assert refused("CREATE", "nodes", node("n1", **{key: ""}), None) == (
        f'nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: {key}')
    modified = f'nodes "n1" is forbidden: is not allowed to modify labels: {key}'
    assert refused("UPDATE", "nodes", node("n1", **{key: ""}), node("n1")) == modified
    assert refused("UPDATE", "nodes", node("n1"), node("n1", **{key: ""})) == modified
    noderestriction.check(res("nodes"), "UPDATE", node("n1", **{key: ""}),
                          node("n1", **{key: ""}))  # kept as the admin set it: fine


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
    assert refused("UPDATE", "nodes", node("n1"), node("n1", **{sub: "a"})) == (
        f'nodes "n1" is forbidden: is not allowed to modify labels: {sub}')
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
