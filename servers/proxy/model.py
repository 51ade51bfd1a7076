"""What the proxy programs: Services and EndpointSlices reduced to service ports with endpoints.

    ports = service_ports(services, slices)     # [ServicePort], sorted, ready endpoints only

This is kube-proxy's ``ServicePortMap`` and ``EndpointsMap`` in one pure step
(``pkg/proxy/servicechangetracker.go``, ``endpointschangetracker.go``, ``topology.go``):

- headless Services (clusterIP None) and ExternalName Services program nothing;
- a Service port takes the EndpointSlice ports of the same name and protocol (the slice has
  the number: named targetPorts were resolved per pod by whoever wrote it);
- an endpoint receives new connections only when ready (``conditions.ready`` absent counts
  as ready, as in kube); when none is ready, serving-and-terminating ones are used instead
  (kube's terminating fallback); ``publishNotReadyAddresses`` makes every address ready;
- ``sessionAffinity: ClientIP`` carries its timeout (default 10800 s).

The slices are read by ``endpoints_by_service`` alone: that one function is the seam where
core/v1 Endpoints could stand in for EndpointSlices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Endpoint", "ServicePort", "endpoints_by_service", "service_ports"]

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_SECONDS = 10800  # core/v1 DefaultClientIPServiceAffinitySeconds
PROTOCOLS = ("TCP", "UDP")  # SCTP is left out: nftables' th dport covers it, tests do not


@dataclass(frozen=True, order=True)
class Endpoint:
    """One address and port that a service port's connections may go to."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with the endpoints that take new connections."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    cluster_ip: str
    port: int
    node_port: int = 0
    affinity_seconds: int = 0  # 0: no sessionAffinity
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def id(self) -> str:
        """kube's ``ServicePortName`` as chain names spell it: ns/name/tcp/portname."""
        return f"{self.namespace}/{self.name}/{self.protocol.lower()}/{self.port_name}"

    @property
    def service(self) -> tuple[str, str]:
        return self.namespace, self.name

    def hash(self, extra: str = "") -> str:
        """A short stable digest of this port's identity (and ``extra``), as kube's chains."""
        digest = hashlib.sha256((self.id + extra).encode()).digest()
        return digest[:5].hex()


def _ready(endpoint: Obj, publish_not_ready: bool) -> tuple[bool, bool]:
    """(ready, serving-and-terminating) of one slice endpoint."""
    conditions = endpoint.get("conditions") or {}
    if publish_not_ready:
        return True, False
    ready = conditions.get("ready") is not False
    serving = conditions.get("serving", ready) is not False
    return ready, serving and conditions.get("terminating") is True


def endpoints_by_service(slices: Iterable[Obj]) -> dict[tuple[str, str], list[Obj]]:
    """The EndpointSlices of each (namespace, service) (the Endpoints seam)."""
    found: dict[tuple[str, str], list[Obj]] = {}
    for eps in slices:
        meta = eps.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service or eps.get("addressType", "IPv4") != "IPv4":
            continue
        found.setdefault((meta.get("namespace") or "default", service), []).append(eps)
    return found


def _port_endpoints(slices: list[Obj], port_name: str, protocol: str,
                    publish_not_ready: bool) -> tuple[Endpoint, ...]:
    ready: set[Endpoint] = set()
    terminating: set[Endpoint] = set()
    for eps in slices:
        numbers = [p.get("port") for p in eps.get("ports") or []
                   if (p.get("name") or "") == port_name
                   and (p.get("protocol") or "TCP") == protocol and p.get("port")]
        if not numbers:
            continue
        for endpoint in eps.get("endpoints") or []:
            is_ready, is_terminating = _ready(endpoint, publish_not_ready)
            target = ready if is_ready else terminating if is_terminating else None
            if target is None:
                continue
            for address in (endpoint.get("addresses") or [])[:1]:  # kube uses the first
                target.add(Endpoint(str(address), int(numbers[0])))
    return tuple(sorted(ready or terminating))


def _affinity(spec: Obj) -> int:
    if spec.get("sessionAffinity") != "ClientIP":
        return 0
    config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    return int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)


def service_ports(services: Iterable[Obj], slices: Iterable[Obj]) -> list[ServicePort]:
    """Every service port to program, sorted by id (see the module docstring)."""
    by_service = endpoints_by_service(slices)
    found: list[ServicePort] = []
    for svc in services:
        spec = svc.get("spec") or {}
        cluster_ip = spec.get("clusterIP")
        if spec.get("type") == "ExternalName" or not cluster_ip or cluster_ip == "None":
            continue
        meta = svc.get("metadata") or {}
        namespace, name = meta.get("namespace") or "default", meta.get("name") or ""
        mine = by_service.get((namespace, name), [])
        publish = bool(spec.get("publishNotReadyAddresses"))
        node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
        for port in spec.get("ports") or []:
            protocol = port.get("protocol") or "TCP"
            if protocol not in PROTOCOLS:
                continue
            port_name = port.get("name") or ""
            found.append(ServicePort(
                namespace, name, port_name, protocol, cluster_ip, int(port["port"]),
                int(port.get("nodePort") or 0) if node_ports else 0, _affinity(spec),
                _port_endpoints(mine, port_name, protocol, publish)))
    found.sort(key=lambda sp: sp.id)
    return found
