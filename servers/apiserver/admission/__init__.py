"""Admission: what happens to an object between decoding and storage — defaults, validation.

The registry calls these four functions for every write. Metadata rules (names, labels,
annotations, finalizers) are the same for every kind and live here; each kind's own defaults
and rules live in `servers.apiserver.kinds`; under RBAC, writes of roles and bindings also pass
`servers.apiserver.authz.escalation` (no granting what one does not hold), and under the Node
authorizer every write and delete by a node passes `servers.apiserver.authz.noderestriction`
(its own Node, pods bound to it, its own Lease).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from servers.apimachinery import field, validation
from servers.apimachinery.meta import Obj
from servers.apiserver import kinds
from servers.apiserver.authz import escalation, noderestriction
from servers.apiserver.resources import Resource

SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/24")



def service_ips() -> Iterator[str]:
    """Cluster IPs in allocation order (the first host address is kept, as Kubernetes does)."""
    hosts = SERVICE_CIDR.hosts()
    next(hosts)
    return (str(ip) for ip in hosts)


def prepare_create(resource: Resource, obj: Obj) -> None:
    kinds.default(resource, obj)


def prepare_update(resource: Resource, new: Obj, old: Obj) -> None:
    kinds.default(resource, new, old)


def validate_create(resource: Resource, obj: Obj) -> list[field.Cause]:
    noderestriction.check(resource, "CREATE", obj, None)  # 403s come before any 422
    escalation.check(resource, obj)  # RBAC objects under RBAC
    return validate_meta(resource, obj["metadata"]) + kinds.validate(resource, obj)


def validate_update(resource: Resource, new: Obj, old: Obj, subresource: str = ""
                    ) -> list[field.Cause]:
    noderestriction.check(resource, "UPDATE", new, old, subresource)
    escalation.check(resource, new)
    return validate_meta(resource, new["metadata"]) + kinds.validate(resource, new, old)


def validate_delete(resource: Resource, obj: Obj) -> None:
    """Raise Forbidden when the requester may not delete the stored ``obj``."""
    noderestriction.check(resource, "DELETE", None, obj)


def validate_meta(resource: Resource, meta: Obj) -> list[field.Cause]:
    causes: list[field.Cause] = []
    rule = kinds.name_rule(resource)
    name, prefix = meta.get("name"), meta.get("generateName")
    if not isinstance(name, str) or not name:
        if name is not None and not isinstance(name, str):
            causes.append(field.invalid("metadata.name", name, "must be a string"))
    else:
        causes += [field.invalid("metadata.name", name, m) for m in rule(name, False)]
    if prefix is not None and not isinstance(prefix, str):
        causes.append(field.invalid("metadata.generateName", prefix, "must be a string"))
    elif prefix and not name:
        causes += [field.invalid("metadata.generateName", prefix, m) for m in rule(prefix, True)]
    causes += validation.validate_labels(meta.get("labels"))
    causes += validation.validate_annotations(meta.get("annotations"))
    causes += validation.validate_finalizers(meta.get("finalizers"))
    return causes
