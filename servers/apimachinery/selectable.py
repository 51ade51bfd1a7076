"""Selectable fields: what ``fieldSelector`` can name for each resource, and their values.

``field_labels(resource)`` is the set a resource accepts (its field label conversion func in
Kubernetes); ``fields_for(obj, resource)`` extracts those fields from an object as strings,
like the resource's ``ToSelectableFields`` (``pkg/registry/core/pod/strategy.go`` and
friends): missing members are ``""``, booleans ``"true"``/``"false"``, numbers decimal.
Resources without an entry get ``metadata.name`` and ``metadata.namespace``, the default
every kind has.

Keyed by resource plural; this is data about core/v1 and apps/v1, not a registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servers.apimachinery.meta import Obj

__all__ = ["field_labels", "fields_for"]

_METADATA = ("metadata.name", "metadata.namespace")
_POD = (*_METADATA, "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
        "status.nominatedNodeName")
_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_EVENT = (*_METADATA, *(f"involvedObject.{member}" for member in _INVOLVED),
          "reason", "reportingComponent", "source", "type")


def _get(obj: Any, *path: str) -> Any:
    for member in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(member)
    return obj


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return ""


def _metadata(obj: Obj) -> dict[str, str]:
    return {"metadata.name": _text(_get(obj, "metadata", "name")),
            "metadata.namespace": _text(_get(obj, "metadata", "namespace"))}


def _pod(obj: Obj) -> dict[str, str]:
    pod_ips = _get(obj, "status", "podIPs")
    first_ip = _get(pod_ips[0], "ip") if isinstance(pod_ips, list) and pod_ips else None
    return {
        **_metadata(obj),
        "spec.nodeName": _text(_get(obj, "spec", "nodeName")),
        "spec.restartPolicy": _text(_get(obj, "spec", "restartPolicy")),
        "spec.schedulerName": _text(_get(obj, "spec", "schedulerName")),
        "spec.serviceAccountName": _text(_get(obj, "spec", "serviceAccountName")),
        "spec.hostNetwork": _text(_get(obj, "spec", "hostNetwork") is True),
        "status.phase": _text(_get(obj, "status", "phase")),
        "status.podIP": _text(first_ip or _get(obj, "status", "podIP")),
        "status.nominatedNodeName": _text(_get(obj, "status", "nominatedNodeName")),
    }


def _event(obj: Obj) -> dict[str, str]:
    involved = {f"involvedObject.{member}": _text(_get(obj, "involvedObject", member))
                for member in _INVOLVED}
    reporting = _text(_get(obj, "reportingComponent"))
    return {
        **_metadata(obj), **involved,
        "reason": _text(_get(obj, "reason")),
        "reportingComponent": reporting,
        "source": _text(_get(obj, "source", "component")) or reporting,
        "type": _text(_get(obj, "type")),
    }


def _node(obj: Obj) -> dict[str, str]:
    return {"metadata.name": _text(_get(obj, "metadata", "name")),
            "spec.unschedulable": _text(_get(obj, "spec", "unschedulable") is True)}


def _namespace(obj: Obj) -> dict[str, str]:
    return {"metadata.name": _text(_get(obj, "metadata", "name")),
            "status.phase": _text(_get(obj, "status", "phase"))}


def _replicas(obj: Obj) -> dict[str, str]:
    replicas = _get(obj, "status", "replicas")
    return {**_metadata(obj), "status.replicas": _text(replicas if replicas else 0)}


def _secret(obj: Obj) -> dict[str, str]:
    return {**_metadata(obj), "type": _text(_get(obj, "type"))}


_Extract = Callable[[Obj], dict[str, str]]
_TABLE: dict[str, tuple[frozenset[str], _Extract]] = {
    "pods": (frozenset(_POD), _pod),
    "events": (frozenset(_EVENT), _event),
    "nodes": (frozenset({"metadata.name", "spec.unschedulable"}), _node),
    "namespaces": (frozenset({"metadata.name", "status.phase"}), _namespace),
    "replicationcontrollers": (frozenset({*_METADATA, "status.replicas"}), _replicas),
    "replicasets": (frozenset({*_METADATA, "status.replicas"}), _replicas),
    "secrets": (frozenset({*_METADATA, "type"}), _secret),
}
_DEFAULT: tuple[frozenset[str], _Extract] = (frozenset(_METADATA), _metadata)


def field_labels(resource: str) -> frozenset[str]:
    """The field names ``fieldSelector`` may use on ``resource`` (a plural: ``pods``)."""
    return _TABLE.get(resource, _DEFAULT)[0]


def fields_for(obj: Obj, resource: str) -> dict[str, str]:
    """The selectable fields of ``obj`` (a ``resource`` object) as strings, for matching."""
    return _TABLE.get(resource, _DEFAULT)[1](obj)
