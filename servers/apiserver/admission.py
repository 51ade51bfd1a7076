"""Admission: what happens to an object between decoding and storage — defaults, validation.

The registry calls these four functions for every write. Metadata rules (names, labels,
annotations, finalizers) are the same for every kind and live here; each kind's own defaults
and rules live in `servers.apiserver.kinds`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from servers.apimachinery import field, validation
from servers.apimachinery.meta import Obj
from servers.apiserver import kinds
from servers.apiserver.resources import Resource

SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/24")

# Which name rule each kind's metadata.name follows (Kubernetes' ValidateXName functions).
NameRule = Callable[[str, bool], list[str]]
_NAME_RULES: dict[str, NameRule] = {
    "Namespace": validation.name_is_dns_label,
    "Service": validation.name_is_dns1035_label,
}


def service_ips() -> Iterator[str]:
    """Cluster IPs in allocation order (the first host address is kept, as Kubernetes does)."""
    hosts = SERVICE_CIDR.hosts()
    next(hosts)
    return (str(ip) for ip in hosts)


def prepare_create(resource: Resource, obj: Obj) -> None:
    _TEMP_default(resource, obj)


def prepare_update(resource: Resource, new: Obj, old: Obj) -> None:
    _TEMP_default(resource, new, old)


def validate_create(resource: Resource, obj: Obj) -> list[field.Cause]:
    return validate_meta(resource, obj["metadata"]) + _TEMP_validate(resource, obj)


def validate_update(resource: Resource, new: Obj, old: Obj) -> list[field.Cause]:
    return validate_meta(resource, new["metadata"]) + _TEMP_validate(resource, new, old)


def _TEMP_default(resource, obj, old=None):  # TEMP until kinds lands
    f = getattr(kinds, "default", None)
    if f:
        f(resource, obj, old)


def _TEMP_validate(resource, obj, old=None):  # TEMP until kinds lands
    f = getattr(kinds, "validate", None)
    return f(resource, obj, old) if f else []


def validate_meta(resource: Resource, meta: Obj) -> list[field.Cause]:
    causes: list[field.Cause] = []
    rule = _NAME_RULES.get(resource.kind, validation.name_is_dns_subdomain)
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
