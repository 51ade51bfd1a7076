"""The small core/v1 kinds: Namespace, Node, Endpoints, Event, ConfigMap, and the Binding and
Scale bodies of subresources.

Rules and messages follow k8s.io/kubernetes pkg/apis/core/validation/validation.go and the
registry strategies at v1.32, with one deliberate difference: Endpoints may hold loopback
addresses, because km's kubelets give each node a loopback IP (127.0.0.2, ...) on one host.
"""

from __future__ import annotations

import ipaddress
import re

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import (
    Obj,
    as_dict,
    dicts,
    duplicates,
    nonnegative,
    one_of,
    port_number,
    protocol,
)
from servers.apiserver.kinds.podspec import TAINT_EFFECTS

CONFIG_KEY_FORMAT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY = re.compile(CONFIG_KEY_FORMAT)
_CONFIG_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    f"'{CONFIG_KEY_FORMAT}')")
MAX_CONFIG_SIZE = 1024 * 1024
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
_IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


# -- Namespace ---------------------------------------------------------------------------------

def default_namespace(ns: Obj, old: Obj | None = None) -> None:
    """A new namespace starts ``Active`` with the ``kubernetes`` finalizer in spec, which the
    namespace controller removes once it has emptied the namespace (namespace strategy.go
    PrepareForCreate)."""
    if old is None:
        ns["status"] = {"phase": "Active"}
        spec = ns.setdefault("spec", {})
        if isinstance(spec, dict):
            names = spec.get("finalizers")
            if not isinstance(names, list):
                spec["finalizers"] = ["kubernetes"]
            elif "kubernetes" not in names:
                names.append("kubernetes")


# -- Node --------------------------------------------------------------------------------------

def default_node(node: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_NodeStatus``: allocatable defaults to capacity."""
    status = node.get("status")
    if isinstance(status, dict) and status.get("capacity") and not status.get("allocatable"):
        status["allocatable"] = dict(status["capacity"])


def _taints(spec: Obj) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(dicts(spec.get("taints"))):
        path, key = f"spec.taints[{i}]", taint.get("key") or ""
        causes += [field.invalid(f"{path}.key", key, m) for m in validation.is_qualified_name(key)]
        causes += one_of(f"{path}.effect", taint.get("effect"), TAINT_EFFECTS)
        if (key, taint.get("effect", "")) in seen:
            causes.append(field.duplicate(path, taint))
        seen.add((key, taint.get("effect", "")))
    return causes


def validate_node(node: Obj, old: Obj | None = None) -> list[Cause]:
    """Taints are well formed; ``podCIDR`` and ``providerID`` may only be set once."""
    spec = as_dict(node.get("spec"))
    causes = _taints(spec)
    if old is not None:
        before = as_dict(old.get("spec"))
        for member in ("podCIDR", "providerID"):
            if before.get(member) and spec.get(member) != before[member]:
                causes.append(field.forbidden(
                    f"spec.{member}", f"node updates may not change {member} except from \"\" "
                    "to valid"))
    return causes


# -- Endpoints ---------------------------------------------------------------------------------

def default_endpoints(ep: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_EndpointPort``: protocol TCP."""
    for subset in dicts(ep.get("subsets")):
        for port in dicts(subset.get("ports")):
            port.setdefault("protocol", "TCP")


def _address(address: Obj, path: str) -> list[Cause]:
    try:
        ipaddress.ip_address(str(address.get("ip") or ""))
    except ValueError:
        return [field.invalid(f"{path}.ip", address.get("ip", ""), _IP_MESSAGE)]
    node = address.get("nodeName")
    return [field.invalid(f"{path}.nodeName", node, m)
            for m in (validation.is_dns1123_subdomain(node) if node else [])]


def _subset(subset: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not subset.get("addresses") and not subset.get("notReadyAddresses"):
        causes.append(field.required(path, "must specify `addresses` or `notReadyAddresses`"))
    for kind in ("addresses", "notReadyAddresses"):
        for i, address in enumerate(dicts(subset.get(kind))):
            causes += _address(address, f"{path}.{kind}[{i}]")
    ports = dicts(subset.get("ports"))
    for i, port in enumerate(ports):
        at, name = f"{path}.ports[{i}]", port.get("name")
        if len(ports) > 1 and not name:
            causes.append(field.required(f"{at}.name"))
        elif name:
            causes += [field.invalid(f"{at}.name", name, m)
                       for m in validation.is_dns1123_label(name)]
        causes += port_number(f"{at}.port", port.get("port"))
        causes += protocol(f"{at}.protocol", port.get("protocol"))
    return causes + duplicates(ports, "name", f"{path}.ports")


def validate_endpoints(ep: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateEndpoints`` (loopback addresses allowed, see the module docstring)."""
    return [c for i, s in enumerate(dicts(ep.get("subsets")))
            for c in _subset(s, f"subsets[{i}]")]


# -- Event -------------------------------------------------------------------------------------

def validate_event(event: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateEvent`` for core/v1: the involved object's namespace must match the event's;
    events with ``eventTime`` need reportingComponent, reportingInstance, action and reason."""
    namespace = as_dict(event.get("metadata")).get("namespace") or ""
    involved = as_dict(event.get("involvedObject")).get("namespace") or ""
    mismatch = field.invalid("involvedObject.namespace", involved, "does not match event.namespace")
    if not event.get("eventTime"):
        ok = namespace in ("", "default") if not involved else namespace == involved
        return [] if ok else [mismatch]
    causes = [] if involved or namespace in ("default", "kube-system") else [mismatch]
    for member in ("reportingComponent", "reportingInstance", "action", "reason"):
        if not event.get(member):
            causes.append(field.required(member))
    return causes


# -- ConfigMap ---------------------------------------------------------------------------------

def config_key_messages(key: str) -> list[str]:
    """``IsConfigMapKey``: what is wrong with ``key`` as a ConfigMap (or Secret) key."""
    messages = []
    if len(key) > 253:
        messages.append("must be no more than 253 characters")
    if not _CONFIG_KEY.fullmatch(key):
        messages.append(_CONFIG_KEY_MESSAGE)
    if key in (".", ".."):
        messages.append(f"must not be '{key}'")
    elif key.startswith(".."):
        messages.append("must not start with '..'")
    return messages


def _immutable(cm: Obj, old: Obj) -> list[Cause]:
    if not old.get("immutable"):
        return []
    causes = [] if cm.get("immutable") else [field.forbidden("immutable", IMMUTABLE_WHEN_SET)]
    return causes + [field.forbidden(member, IMMUTABLE_WHEN_SET)
                     for member in ("data", "binaryData")
                     if (cm.get(member) or {}) != (old.get(member) or {})]


def validate_configmap(cm: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateConfigMap`` (+ ``ValidateConfigMapUpdate``): keys, duplicates, 1 MiB total."""
    data, binary = as_dict(cm.get("data")), as_dict(cm.get("binaryData"))
    causes: list[Cause] = []
    for member, values in (("data", data), ("binaryData", binary)):
        for key in values:
            causes += [field.invalid(f"{member}[{key}]", key, m) for m in config_key_messages(key)]
    causes += [field.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
               for key in data if key in binary]
    size = sum(len(str(v).encode()) for v in data.values()) + sum(
        len(str(v)) * 3 // 4 for v in binary.values())
    if size > MAX_CONFIG_SIZE:
        causes.append(field.too_long("", MAX_CONFIG_SIZE))
    return causes + (_immutable(cm, old) if old is not None else [])


# -- Binding and Scale -------------------------------------------------------------------------

def validate_binding(binding: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidatePodBinding``: the target is a Node with a name."""
    target = as_dict(binding.get("target"))
    causes = [] if target.get("name") else [field.required("target.name")]
    kind = target.get("kind")
    if kind and kind != "Node":
        causes.append(field.not_supported("target.kind", kind, ["Node", "<empty>"]))
    return causes


def validate_scale(scale: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateScale``: replicas may not be negative."""
    return nonnegative("spec.replicas", as_dict(scale.get("spec")).get("replicas"))
