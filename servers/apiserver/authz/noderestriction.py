"""NodeRestriction admission: a node writes only what is its own.

The Node authorizer lets every node write nodes, pod statuses and leases; which ones is known
only once the object is (the stored one for updates and deletes), so it is decided here, in
admission, against the very object the write is conditional on:

    nodes            create/update/patch/delete only its own Node (any subresource); may not
                     change its taints, nor labels under node-restriction.kubernetes.io/,
                     nor labels under kubernetes.io/ or k8s.io/ (or a subdomain) other than
                     those a kubelet sets (``KUBELET_LABELS``, ``KUBELET_LABEL_DOMAINS``)
    pods             delete only pods bound to it (spec.nodeName); no other pod write except
                     the status of pods bound to it, labels unchanged; create: mirror pods
                     bound to it only
    leases           only its own (name = node) in kube-node-lease

Refusals are 403 Forbidden naming the node (the label allow list is kube's, from
staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go). The authorization middleware
records which node is asking (``requester``) when ``--authorization-mode`` includes Node;
writes by anyone else, and writes nobody asked for over HTTP, are not checked. Not done (no
such kinds in km yet): evictions, PVCs, service account tokens, CSINodes.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/admission/noderestriction/admission.go
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from servers.apimachinery import errors
from servers.apiserver.authz.node import COORDINATION, NODE_LEASE_NAMESPACE

if TYPE_CHECKING:
    from servers.apiserver.resources import Resource

Obj = dict[str, Any]
RESTRICTED_LABELS = "node-restriction.kubernetes.io"
#: Labels under kubernetes.io/k8s.io a kubelet may set on its own Node (kube's kubeletLabels).
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"})
#: ... and any label in these domains or their subdomains (kube's kubeletLabelNamespaces).
KUBELET_LABEL_DOMAINS = ("kubelet.kubernetes.io", "node.kubernetes.io")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_NODE: contextvars.ContextVar[str | None] = contextvars.ContextVar("km_node_restriction",
                                                                   default=None)


def requester(node: str) -> contextvars.Token[str | None]:
    """Record that node ``node`` makes the request being served (reset with the token)."""
    return _NODE.set(node)


def reset(token: contextvars.Token[str | None]) -> None:
    _NODE.reset(token)


def _meta(obj: Obj | None) -> Obj:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Obj | None) -> Obj:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _refuse(resource: Resource, name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(resource.plural, name, why, group=resource.group)


def check(resource: Resource, operation: str, new: Obj | None, old: Obj | None,
          subresource: str = "") -> None:
    """Raise Forbidden when the requesting node may not do ``operation`` (CREATE, UPDATE or
    DELETE) to this object; ``new`` is the object written, ``old`` the stored one."""
    node = _NODE.get()
    if node is None:
        return
    name = str(_meta(new if new is not None else old).get("name") or "")
    if not node:
        raise _refuse(resource, name, "could not determine node from user")
    key = (resource.group, resource.plural)
    if key == ("", "nodes"):
        _node(resource, node, operation, name, new, old)
    elif key == ("", "pods"):
        _pod(resource, node, operation, name, new, old, subresource)
    elif key == (COORDINATION, "leases"):
        _lease(resource, node, name, new if new is not None else old)


def _in_domain(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def forbidden_label(key: str) -> bool:
    """May a node not set, change or remove label ``key`` on its own Node? (kube's
    ``getForbiddenLabels``): node-restriction.kubernetes.io/, and kubernetes.io/ or k8s.io/
    labels outside the kubelet's own."""
    domain = key.split("/", 1)[0] if "/" in key else ""
    if _in_domain(domain, RESTRICTED_LABELS):
        return True
    if not (_in_domain(domain, "kubernetes.io") or _in_domain(domain, "k8s.io")):
        return False
    return key not in KUBELET_LABELS and not any(_in_domain(domain, allowed)
                                                 for allowed in KUBELET_LABEL_DOMAINS)


def _labels(obj: Obj | None) -> dict[str, Any]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, dict) else {}


def _node(resource: Resource, node: str, operation: str, name: str, new: Obj | None,
          old: Obj | None) -> None:
    if name != node:
        raise _refuse(resource, name, f'node "{node}" is not allowed to modify node "{name}"')
    if new is None:
        return
    before, after = _labels(old), _labels(new)
    changed = sorted(k for k in before.keys() | after.keys()
                     if (k not in before or k not in after or before[k] != after[k])
                     and forbidden_label(k))
    if changed and operation == "CREATE":
        raise _refuse(resource, name, f'node "{node}" is not allowed to set the following '
                      f"labels: {', '.join(changed)}")
    if old is not None and _spec(new).get("taints") != _spec(old).get("taints"):
        raise _refuse(resource, name, f'node "{node}" is not allowed to modify taints')
    if changed:  # kube's words, without the node's name
        raise _refuse(resource, name, f"is not allowed to modify labels: {', '.join(changed)}")


def _pod(resource: Resource, node: str, operation: str, name: str, new: Obj | None,
         old: Obj | None, subresource: str) -> None:
    if operation == "CREATE":
        if MIRROR_ANNOTATION not in (_meta(new).get("annotations") or {}):
            raise _refuse(resource, name, f'pod does not have "{MIRROR_ANNOTATION}" '
                          f'annotation, node "{node}" can only create mirror pods')
        if _spec(new).get("nodeName") != node:
            raise _refuse(resource, name, f'node "{node}" can only create pods with '
                          "spec.nodeName set to itself")
        return
    bound = _spec(old).get("nodeName")
    if operation == "DELETE":
        if bound != node:
            raise _refuse(resource, name, f'node "{node}" can only delete pods with '
                          "spec.nodeName set to itself")
        return
    if subresource != "status":
        raise _refuse(resource, name, f'unexpected operation "{operation}", node "{node}" can '
                      "only create and delete mirror pods")
    if bound != node:
        raise _refuse(resource, name, f'node "{node}" can only update pod status for pods '
                      "with spec.nodeName set to itself")
    if (_meta(new).get("labels") or {}) != (_meta(old).get("labels") or {}):
        raise _refuse(resource, name, f'node "{node}" cannot update labels through pod status')


def _lease(resource: Resource, node: str, name: str, obj: Obj | None) -> None:
    if _meta(obj).get("namespace") != NODE_LEASE_NAMESPACE:
        raise _refuse(resource, name, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" '
                      "system namespace")
    if name != node:
        raise _refuse(resource, name, "can only access node lease with the same name as the "
                      "requesting node")
