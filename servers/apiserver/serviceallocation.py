"""Cluster IPs and node ports of Services: the ranges, and allocation against stored Services.

    ranges = ServiceRanges.parse("10.96.0.0/12", "30000-32767")      # the two apiserver flags
    ranges.allocate(svc, stored_services)                            # fills spec, or 422

kube-apiserver keeps its allocations in bitmaps that a repair loop reconciles with the stored
Services (``pkg/registry/core/service/ipallocator``, ``portallocator``, ``storage/alloc.go``).
km has no second copy to drift: the stored Services *are* the allocation. The registry calls
``allocate`` under one lock with the Services it just listed, so concurrent creates cannot take
the same value, a restart rebuilds nothing (the store is read at every create), and a delete
frees at once. The messages are kube's (``alloc.go``: "failed to allocate IP %v: %v";
``ipallocator.ErrNotInRange``; ``portallocator.ErrAllocated`` and ``ErrNotInRange``).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from dataclasses import dataclass

from servers.apimachinery import errors, field
from servers.apimachinery.meta import Obj
from servers.apiserver.options import (
    DEFAULT_NODE_PORT_RANGE,
    DEFAULT_SERVICE_CIDR,
    node_port_range,
    service_cidr,
)

__all__ = ["ServiceRanges"]

# How many random node ports to try before walking the range (kube's portallocator picks at
# random too; a walk finds the last free port of a nearly full range).
_RANDOM_TRIES = 32
_ALLOCATED = "provided IP is already allocated"
_PORT_ALLOCATED = "provided port is already allocated"


@dataclass(frozen=True)
class ServiceRanges:
    """The service IP range and the node port range of one apiserver."""

    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    node_ports: range

    @classmethod
    def parse(cls, cidr: str = DEFAULT_SERVICE_CIDR,
              node_ports: str = DEFAULT_NODE_PORT_RANGE) -> ServiceRanges:
        """Ranges from the flags' text (``argparse.ArgumentTypeError`` when malformed)."""
        return cls(service_cidr(cidr), node_port_range(node_ports))

    @property
    def port_range_text(self) -> str:
        return f"{self.node_ports.start}-{self.node_ports.stop - 1}"

    def first_ip(self) -> str:
        """The first host address: the default/kubernetes Service's, never given dynamically."""
        return str(self.cidr.network_address + 1)

    def allocate(self, svc: Obj, stored: Iterable[Obj]) -> None:
        """Fill ``svc``'s clusterIP and node ports, or raise Invalid (422) as kube does.

        ``stored`` is every Service in storage (the new one is not among them).
        """
        spec = svc.setdefault("spec", {})
        name = str(svc.get("metadata", {}).get("name") or "")
        kind = spec.get("type", "ClusterIP")
        if kind == "ExternalName":
            return
        ips, ports = _taken(stored)
        if spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        else:
            ip = self._cluster_ip(name, spec.get("clusterIP"), ips)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        if kind in ("NodePort", "LoadBalancer"):
            self._node_ports(name, spec, ports)

    def allocate_update(self, svc: Obj, old: Obj, others: Iterable[Obj]) -> None:
        """On an update: a clusterIP for a Service that had none (say ExternalName turned
        ClusterIP) and node ports for ports that lack one (ClusterIP turned NodePort); a
        node port the Service did not hold before is checked as on create."""
        spec = svc.setdefault("spec", {})
        old_spec = old.get("spec") or {}
        name = str(svc.get("metadata", {}).get("name") or "")
        kind = spec.get("type", "ClusterIP")
        if kind == "ExternalName":
            return
        ips, ports = _taken(others)
        if not spec.get("clusterIP"):
            ip = self._cluster_ip(name, None, ips)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        elif spec.get("clusterIP") not in ("None", old_spec.get("clusterIP")):
            wanted = spec["clusterIP"]
            self._cluster_ip(name, wanted, ips)
            spec["clusterIPs"] = [wanted]
        if kind in ("NodePort", "LoadBalancer"):
            held = {int(p["nodePort"]) for p in old_spec.get("ports") or []
                    if isinstance(p, dict) and p.get("nodePort")}
            self._node_ports(name, spec, ports, held)

    def _cluster_ip(self, name: str, wanted: object, taken: set[str]) -> str:
        if wanted:
            text = str(wanted)
            if ipaddress.ip_address(text) not in self.cidr or text in self._unusable():
                raise _invalid(name, "spec.clusterIPs", [text],
                               f"failed to allocate IP {text}: the provided IP ({text}) is not "
                               f"in the valid range. The range of valid IPs is {self.cidr}")
            if text in taken:
                raise _invalid(name, "spec.clusterIPs", [text],
                               f"failed to allocate IP {text}: {_ALLOCATED}")
            return text
        hosts = self.cidr.hosts()
        next(hosts, None)  # the first address is kept for default/kubernetes
        for candidate in hosts:
            address = str(candidate)
            if address not in taken:
                return address
        raise errors.InternalError("failed to allocate a serviceIP: range is full")

    def _unusable(self) -> tuple[str, str]:
        return str(self.cidr.network_address), str(self.cidr.broadcast_address)

    def _node_ports(self, name: str, spec: Obj, taken: set[int],
                    held: set[int] | None = None) -> None:
        """Fill missing node ports; check the others unless the Service ``held`` them."""
        mine: set[int] = set()  # one Service may use a port for TCP and UDP alike
        for i, port in enumerate(p for p in spec.get("ports") or [] if isinstance(p, dict)):
            wanted = port.get("nodePort")
            if wanted and held and wanted in held:
                pass
            elif wanted:
                path = f"spec.ports[{i}].nodePort"
                if wanted not in self.node_ports:
                    raise _invalid(name, path, wanted,
                                   "provided port is not in the valid range. The range of valid "
                                   f"ports is {self.port_range_text}")
                if wanted in taken and wanted not in mine:
                    raise _invalid(name, path, wanted, _PORT_ALLOCATED)
            else:
                wanted = self._free_port(taken)
                port["nodePort"] = wanted
            taken.add(wanted)
            mine.add(wanted)

    def _free_port(self, taken: set[int]) -> int:
        for _ in range(_RANDOM_TRIES):
            port = random.choice(self.node_ports)
            if port not in taken:
                return port
        for port in self.node_ports:
            if port not in taken:
                return port
        raise errors.InternalError("failed to allocate a nodePort: range is full")


def _taken(stored: Iterable[Obj]) -> tuple[set[str], set[int]]:
    ips: set[str] = set()
    ports: set[int] = set()
    for svc in stored:
        spec = svc.get("spec") or {}
        for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
            if ip and ip != "None":
                ips.add(ip)
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort"):
                ports.add(int(port["nodePort"]))
    return ips, ports


def _invalid(name: str, path: str, value: object, message: str) -> errors.Invalid:
    return errors.Invalid("Service", name, [field.invalid(path, value, message)])
