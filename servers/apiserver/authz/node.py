"""The Node authorizer: what a kubelet needs, for identities ``system:node:<name>`` in group
``system:nodes`` (``--authorization-mode Node,RBAC``).

    pods           get: only pods bound to it; list, watch: only with fieldSelector
                   spec.nodeName=<itself> (or one pod bound to it, by name); create, delete;
                   pods/status update, patch
    nodes          get, list, watch: only its own Node; create, update, patch;
                   nodes/status update, patch
    configmaps     get, list, watch of one object a pod bound to it uses (the graph)
    secrets        likewise (km serves no secrets yet: the rule is ready for them)
    services, endpoints, namespaces   get, list, watch
    serviceaccounts/token   create, for an account a pod bound to it runs as (the token's
                   binding to such a pod is checked by TokenRequest: servers.apiserver.tokenrequest)
    events         create, update, patch
    leases         get, create, update, patch, delete — in kube-node-lease, its own name only

Which objects a pod bound to the node uses comes from ``nodegraph.NodeGraph``, kept current
from the pod watch; anything with no path to the node is refused with kube's reason ("no
relationship found between node 'n1' and this object"). Anything else gets no opinion, so the
next authorizer (RBAC) decides. Which node a write may touch (its own Node, pods bound to it)
is ``noderestriction``'s job at admission, where the object is known; the lease rule checks
the name here already, as kube does. Pods and nodes are narrowed as kube 1.32 does with its
AuthorizeNodeWithSelectors feature (on by default).
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/auth/authorizer/node/node_authorizer.go
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servers.apiserver.authz import Attributes, Decision, no_opinion
from servers.apiserver.authz.nodegraph import CONFIGMAP, SECRET, SERVICEACCOUNT, NodeGraph
from servers.apiserver.authz.requestinfo import field_equals
from servers.apiserver.authz.rules import Rule

Obj = dict[str, Any]
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
COORDINATION = "coordination.k8s.io"
READ = ("get", "list", "watch")
LEASE_VERBS = ("create", "delete", "get", "patch", "update")


def _rule(verbs: tuple[str, ...], *resources: str, groups: tuple[str, ...] = ("",)) -> Obj:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


#: The rules of a node, as the ``system:node`` ClusterRole publishes them (kube's NodeRules).
NODE_RULES: list[Obj] = [
    _rule(READ, "pods", "nodes", "services", "endpoints", "namespaces", "configmaps"),
    _rule(("create", "patch", "update"), "nodes"),
    _rule(("patch", "update"), "nodes/status"),
    _rule(("delete",), "pods"),
    _rule(("patch", "update"), "pods/status"),
    _rule(("create", "patch", "update"), "events", groups=("", "events.k8s.io")),
    _rule(LEASE_VERBS, "leases", groups=(COORDINATION,)),
    # client certificate rotation: a node asks for its next certificate itself
    _rule(("create", "get", "list", "watch"), "certificatesigningrequests",
          groups=("certificates.k8s.io",)),
]


def node_identity(user: str, groups: tuple[str, ...]) -> tuple[str, bool]:
    """``(name, True)`` for a node's identity, ``("", False)`` otherwise (kube's
    ``NodeIdentity``; the name may be empty for a malformed ``system:node:``)."""
    if not user.startswith(NODE_USER_PREFIX) or NODES_GROUP not in groups:
        return "", False
    return user.removeprefix(NODE_USER_PREFIX), True


class NodeAuthorizer:
    """``--authorization-mode Node``: allows nodes their rules; no opinion on anything else."""

    def __init__(self, graph: NodeGraph | None = None) -> None:
        self.rules = tuple(Rule.from_dict(r) for r in NODE_RULES)
        self.graph = graph if graph is not None else NodeGraph()
        self._deciders: dict[tuple[str, str], Callable[[str, Attributes], Decision]] = {
            (COORDINATION, "leases"): _lease,
            ("", "secrets"): lambda node, attrs: self._read_used(node, SECRET, attrs),
            ("", "configmaps"): lambda node, attrs: self._read_used(node, CONFIGMAP, attrs),
            ("", "pods"): self._pod,
            ("", "nodes"): _node,
            ("", "serviceaccounts"): self._token,
        }

    def authorize(self, attrs: Attributes) -> Decision:
        node, is_node = node_identity(attrs.user, attrs.groups)
        if not is_node:
            return no_opinion()
        if not node:
            return no_opinion(f'unknown node for user "{attrs.user}"')
        if attrs.resource_request:
            decide = self._deciders.get((attrs.api_group, attrs.resource))
            if decide is not None:
                return decide(node, attrs)
        if any(rule.allows(attrs) for rule in self.rules):
            return _allow(node)
        return no_opinion()

    def rules_for(self, user: str, groups: tuple[str, ...]) -> list[Rule]:
        """A node's rules (for rules reviews); none for anyone else."""
        return list(self.rules) if node_identity(user, groups)[1] else []

    def _read_used(self, node: str, kind: str, attrs: Attributes) -> Decision:
        """kube's ``authorizeReadNamespacedObject``: one object a pod of the node uses."""
        if attrs.verb not in READ:
            return no_opinion("can only read resources of this type")
        if attrs.subresource:
            return no_opinion("cannot read subresource")
        if not attrs.namespace:
            return no_opinion("can only read namespaced object of this type")
        return self._related(node, kind, attrs)

    def _related(self, node: str, kind: str, attrs: Attributes) -> Decision:
        if not attrs.name:
            return no_opinion("No Object name found")
        if not self.graph.related(node, kind, attrs.namespace, attrs.name):
            return no_opinion(f"no relationship found between node '{node}' and this object")
        return _allow(node)

    def _token(self, node: str, attrs: Attributes) -> Decision:
        """kube's ``authorizeCreateToken``: tokens of accounts its pods run as."""
        if attrs.verb != "create" or attrs.subresource != "token":
            return no_opinion("can only create tokens for individual service accounts")
        return self._related(node, SERVICEACCOUNT, attrs)

    def _pod(self, node: str, attrs: Attributes) -> Decision:
        """kube's ``authorizePod``: its own pods only; writes narrowed by NodeRestriction."""
        if attrs.subresource == "status":
            return _allow(node) if attrs.verb in ("update", "patch") else no_opinion()
        if attrs.subresource:
            return no_opinion()
        if attrs.verb == "get":
            return self._related(node, "pod", attrs)
        if attrs.verb in ("list", "watch"):
            if node in field_equals(attrs.field_selector, "spec.nodeName"):
                return _allow(node)
            if attrs.name:
                return self._related(node, "pod", attrs)
            return no_opinion("can only list/watch pods with spec.nodeName field selector")
        if attrs.verb in ("create", "delete"):  # mirror pods; NodeRestriction says which
            return _allow(node)
        return no_opinion()


def _allow(node: str) -> Decision:
    return Decision(True, f'Node: node "{node}"')


def _node(node: str, attrs: Attributes) -> Decision:
    """kube's ``authorizeNode``: read only its own Node (by name, so before it exists too);
    create, update and patch any (NodeRestriction narrows them to its own)."""
    if attrs.subresource == "status":
        return _allow(node) if attrs.verb in ("update", "patch") else no_opinion()
    if attrs.subresource:
        return no_opinion()
    if attrs.verb in ("create", "update", "patch"):
        return _allow(node)
    if attrs.verb in READ:
        if attrs.name == node:
            return _allow(node)
        if not attrs.name:
            return no_opinion(f"node '{node}' cannot read all nodes, only its own Node object")
        return no_opinion(f"node '{node}' cannot read '{attrs.name}', only its own Node "
                          "object")
    return no_opinion()


def _lease(node: str, attrs: Attributes) -> Decision:
    """kube's ``authorizeLease``: its own lease in kube-node-lease (any name on create: the
    name is not known yet, NodeRestriction checks it)."""
    if attrs.verb not in LEASE_VERBS:
        return no_opinion("can only get, create, update, patch, or delete a node lease")
    if attrs.namespace != NODE_LEASE_NAMESPACE:
        return no_opinion(f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system '
                          "namespace")
    if attrs.verb != "create" and attrs.name != node:
        return no_opinion("can only access node lease with the same name as the requesting "
                          "node")
    return Decision(True, f'Node: node "{node}" lease')
