"""The Node authorizer: what a kubelet needs, for identities ``system:node:<name>`` in group
``system:nodes`` (``--authorization-mode Node,RBAC``).

    reads          pods, nodes, services, endpoints, namespaces, configmaps (get, list, watch)
    nodes          create, update, patch (and nodes/status update, patch)
    pods           delete; pods/status update, patch
    events         create, update, patch
    leases         get, create, update, patch, delete — in kube-node-lease, its own name only

Anything else gets no opinion, so the next authorizer (RBAC) decides. Which node a write may
touch (its own Node, pods bound to it) is ``noderestriction``'s job at admission, where the
object is known; the lease rule checks the name here already, as kube does. Unlike kube there
is no graph of the pods bound to each node, so reads are not narrowed to them (kube narrows
secrets, configmaps and volumes; km has no secrets or volumes yet).
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/auth/authorizer/node/node_authorizer.go
"""

from __future__ import annotations

from typing import Any

from servers.apiserver.authz import Attributes, Decision, no_opinion
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
]


def node_identity(user: str, groups: tuple[str, ...]) -> tuple[str, bool]:
    """``(name, True)`` for a node's identity, ``("", False)`` otherwise (kube's
    ``NodeIdentity``; the name may be empty for a malformed ``system:node:``)."""
    if not user.startswith(NODE_USER_PREFIX) or NODES_GROUP not in groups:
        return "", False
    return user.removeprefix(NODE_USER_PREFIX), True


class NodeAuthorizer:
    """``--authorization-mode Node``: allows nodes their rules; no opinion on anything else."""

    def __init__(self) -> None:
        self.rules = tuple(Rule.from_dict(r) for r in NODE_RULES)

    def authorize(self, attrs: Attributes) -> Decision:
        node, is_node = node_identity(attrs.user, attrs.groups)
        if not is_node:
            return no_opinion()
        if not node:
            return no_opinion(f'unknown node for user "{attrs.user}"')
        if attrs.resource_request and (attrs.api_group, attrs.resource) == (COORDINATION,
                                                                            "leases"):
            return _lease(node, attrs)
        if any(rule.allows(attrs) for rule in self.rules):
            return Decision(True, f'Node: node "{node}"')
        return no_opinion()

    def rules_for(self, user: str, groups: tuple[str, ...]) -> list[Rule]:
        """A node's rules (for rules reviews); none for anyone else."""
        return list(self.rules) if node_identity(user, groups)[1] else []


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
