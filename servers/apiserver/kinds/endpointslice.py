"""discovery.k8s.io/v1 EndpointSlice: validation (kubectl 1.32's ``describe service`` reads
slices; the endpointslice controller writes them).

Kubernetes references (k8s.io/kubernetes at v1.32): pkg/apis/discovery/validation/
validation.go (``ValidateEndpointSlice``: an addressType of IPv4, IPv6 or FQDN that is
immutable, 1 to 100 addresses per endpoint, at most 1000 endpoints and 100 ports, port names
unique and valid, protocols TCP/UDP/SCTP).
"""

from __future__ import annotations

import ipaddress

from servers.apimachinery import field
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import (
    Obj,
    as_list,
    dicts,
    duplicates,
    one_of,
    port_name_messages,
    protocol,
)
from servers.apiserver.kinds.workload import immutable

GROUP = "discovery.k8s.io"
ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
MAX_ADDRESSES = 100
MAX_ENDPOINTS = 1000
MAX_PORTS = 100


def _address(kind: object, address: object, path: str) -> list[Cause]:
    text = str(address)
    if kind in ("IPv4", "IPv6"):
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return [field.invalid(path, address, "must be a valid IP address")]
        if (ip.version == 4) != (kind == "IPv4"):
            return [field.invalid(path, address, f"must be an {kind} address")]
    return []


def _endpoints(slice_: Obj) -> list[Cause]:
    kind = slice_.get("addressType")
    endpoints = dicts(slice_.get("endpoints"))
    causes = ([field.too_many("endpoints", len(endpoints), MAX_ENDPOINTS)]
              if len(endpoints) > MAX_ENDPOINTS else [])
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}].addresses"
        addresses = as_list(endpoint.get("addresses"))
        if not addresses:
            causes.append(field.required(path, "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            causes.append(field.too_many(path, len(addresses), MAX_ADDRESSES))
        for j, address in enumerate(addresses):
            causes += _address(kind, address, f"{path}[{j}]")
    return causes


def _ports(slice_: Obj) -> list[Cause]:
    ports = dicts(slice_.get("ports"))
    causes = [field.too_many("ports", len(ports), MAX_PORTS)] if len(ports) > MAX_PORTS else []
    for i, port in enumerate(ports):
        name = port.get("name")
        if name:
            causes += [field.invalid(f"ports[{i}].name", name, m)
                       for m in port_name_messages(str(name))]
        if port.get("protocol") is not None:
            causes += protocol(f"ports[{i}].protocol", port.get("protocol"))
    return causes + duplicates(ports, "name", "ports")


def default(slice_: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_EndpointPort``: ports default to TCP; endpoints and ports lists exist."""
    for port in dicts(slice_.get("ports")):
        port.setdefault("protocol", "TCP")
    if slice_.get("endpoints") is None:
        slice_["endpoints"] = []


def validate(slice_: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateEndpointSlice`` (and ``...Update``: the addressType is immutable)."""
    causes = one_of("addressType", slice_.get("addressType"), ADDRESS_TYPES)
    causes += _endpoints(slice_) + _ports(slice_)
    if old is not None:
        causes += immutable("addressType", slice_.get("addressType"), old.get("addressType"))
    return causes
