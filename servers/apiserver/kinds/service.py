"""Service: defaults, validation, and what an update keeps from the stored object.

Kubernetes references (k8s.io/kubernetes at v1.32): ``SetDefaults_Service`` (type ClusterIP,
sessionAffinity None, protocol TCP, targetPort = port, traffic policies), the service
registry's handling of allocated values (an update without ``clusterIP`` keeps the allocated
one, as ``kubectl apply`` relies on), and ``ValidateService``/``ValidateServiceUpdate``.
Allocating cluster IPs and node ports is the HTTP layer's job, not this module's.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import (
    Obj,
    as_dict,
    dicts,
    one_of,
    port_num_or_name,
    port_number,
    protocol,
)

TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
AFFINITIES = ("ClientIP", "None")
_ALLOCATED = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")


def _keep_allocated(spec: Obj, old_spec: Obj) -> None:
    if spec.get("type", "ClusterIP") != old_spec.get("type", "ClusterIP"):
        return
    if not spec.get("clusterIP"):
        for member in _ALLOCATED:
            if member in old_spec:
                spec[member] = old_spec[member]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in dicts(old_spec.get("ports"))}
    for port in dicts(spec.get("ports")):
        before = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
        if before and before.get("nodePort") and not port.get("nodePort"):
            port["nodePort"] = before["nodePort"]


def default(svc: Obj, old: Obj | None = None) -> None:
    """Apply Service defaults in place; on update keep the allocated IPs and node ports."""
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if old is not None:
        _keep_allocated(spec, as_dict(old.get("spec")))
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        config.setdefault("timeoutSeconds", 10800)
    for port in dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if old is None:
        svc["status"] = {"loadBalancer": {}}


def _port(port: Obj, path: str, require_name: bool) -> list[Cause]:
    name = port.get("name")
    if require_name and not name:
        causes = [field.required(f"{path}.name")]
    else:
        causes = [field.invalid(f"{path}.name", name, m)
                  for m in (validation.is_dns1123_label(name) if name else [])]
    return [
        *causes,
        *port_number(f"{path}.port", port.get("port")),
        *protocol(f"{path}.protocol", port.get("protocol")),
        *port_num_or_name(f"{path}.targetPort", port.get("targetPort")),
    ]


def _ports(spec: Obj) -> list[Cause]:
    ports = dicts(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and spec.get("type") != "ExternalName":
        return [field.required("spec.ports")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        causes += _port(port, f"spec.ports[{i}]", len(ports) > 1)
        name = port.get("name")
        if name and name in seen:
            causes.append(field.duplicate(f"spec.ports[{i}].name", name))
        seen.add(name or "")
        if spec.get("type") == "ClusterIP" and port.get("nodePort"):
            causes.append(field.forbidden(f"spec.ports[{i}].nodePort",
                                          "may not be used when `type` is 'ClusterIP'"))
    return causes


def _cluster_ip(spec: Obj) -> list[Cause]:
    cluster_ip = spec.get("clusterIP")
    if spec.get("type") == "ExternalName":
        causes = [] if spec.get("externalName") else [field.required("spec.externalName")]
        if cluster_ip:
            causes.append(field.forbidden("spec.clusterIP",
                                          "may not be set for ExternalName services"))
        return causes
    if not cluster_ip or cluster_ip == "None":
        return []
    try:
        ipaddress.ip_address(cluster_ip)
    except ValueError:
        return [field.invalid("spec.clusterIP", cluster_ip,
                              "must be empty, 'None', or a valid IP address")]
    return []


def _update(spec: Obj, old_spec: Obj) -> list[Cause]:
    before, after = old_spec.get("clusterIP"), spec.get("clusterIP")
    if before and after != before and "ExternalName" not in (spec.get("type"),
                                                              old_spec.get("type")):
        return [field.invalid("spec.clusterIP", after, validation.FIELD_IMMUTABLE)]
    return []


def validate(svc: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateService`` (and the clusterIP rule of ``ValidateServiceUpdate``)."""
    spec: Any = as_dict(svc.get("spec"))
    causes = [
        *_ports(spec),
        *_cluster_ip(spec),
        *one_of("spec.type", spec.get("type"), TYPES),
        *one_of("spec.sessionAffinity", spec.get("sessionAffinity"), AFFINITIES),
        *validation.validate_labels(spec.get("selector"), "spec.selector"),
    ]
    if old is not None:
        causes += _update(spec, as_dict(old.get("spec")))
    return causes
