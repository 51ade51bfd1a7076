"""The cluster zone: Kubernetes DNS records kept in memory, looked up by name and type.

    zone = Zone("cluster.local")
    zone.set_service(service)               # core/v1 Service, as the informer holds it
    zone.set_endpoints(endpoints)           # core/v1 Endpoints (same name as the Service)
    zone.set_slice(slice_)                  # discovery.k8s.io/v1 EndpointSlice
    result = zone.lookup("web.default.svc.cluster.local.", dns.rdatatype.A)

The records are those of the Kubernetes DNS specification, schema 1.1.0
(https://github.com/kubernetes/dns/blob/master/docs/specification.md), with CoreDNS's
kubernetes plugin's answers where the specification leaves a choice
(https://github.com/coredns/coredns/tree/master/plugin/kubernetes):

* ``dns-version.<zone>`` TXT ``1.1.0``; the apex has SOA and NS (``ns.dns.<zone>``).
* ClusterIP Service: A/AAAA ``<svc>.<ns>.svc.<zone>`` → each ClusterIP; SRV
  ``_<port>._<proto>.<svc>.<ns>.svc.<zone>`` for each named port (target the Service name,
  its address in Additional); PTR for each ClusterIP.
* Headless Service: A/AAAA → each ready endpoint address (none ready: NXDOMAIN, spec 2.4.1);
  ``<hostname>.<svc>...`` → that endpoint, where hostname is the endpoint's ``hostname`` or,
  as CoreDNS, its address with dashes (``10-1-2-3``); SRV per ready endpoint and named port;
  PTR for each ready endpoint address.
* SRV asked of the Service name itself gets every named port's records (CoreDNS does too).
* ExternalName Service: CNAME ``<svc>.<ns>.svc.<zone>`` → ``spec.externalName``, whatever the
  type asked; a target in the zone is followed here, one outside is marked ``chase`` for the
  caller to resolve upstream (CoreDNS's kubernetes plugin does both).
* Pods: ``a-b-c-d.<ns>.pod.<zone>`` → A ``a.b.c.d`` (and dashed IPv6 → AAAA) for any
  namespace, unverified, as CoreDNS's ``pods insecure`` in kubeadm's Corefile.
* A name that exists with no record of the type asked is NODATA (NOERROR, empty answer, SOA
  in authority); a name that does not exist is NXDOMAIN. Names above records (``svc.<zone>``,
  ``<ns>.svc.<zone>``, ``_tcp.<svc>...``) exist (RFC 8020 empty non-terminals).

Endpoints come from a Service's EndpointSlices (label ``kubernetes.io/service-name``) when it
has any, as CoreDNS reads only slices; a Service without slices falls back to its core/v1
Endpoints, so a cluster whose controller writes only Endpoints still resolves.

The index is changed per Service: each change recomputes that Service's records and the
names they touch, nothing else. ``generation`` counts changes so callers can drop caches.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

if TYPE_CHECKING:
    from dns.rdata import Rdata

Obj = dict[str, Any]

__all__ = ["SCHEMA_VERSION", "TTL", "Lookup", "Zone", "reverse_name"]

IN = dns.rdataclass.IN
# The schema version the records follow (kubernetes/dns docs/specification.md, section 1).
SCHEMA_VERSION = "1.1.0"
# kubeadm's Corefile sets `ttl 30` in the kubernetes block (the plugin's own default is 5 s);
# kube-dns answered with 30 s too.
TTL = 30
# CoreDNS's SOA timers (plugin/kubernetes/kubernetes.go via plugin/backend_lookup.go).
SOA_TIMERS = (7200, 1800, 86400)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

_A, _AAAA, _CNAME, _SRV, _PTR = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME,
                                 dns.rdatatype.SRV, dns.rdatatype.PTR)

# One record: owner name (lower case, absolute text) and its data; data None marks a name
# that exists without records of its own.
Record = tuple[str, "Rdata | None"]


@dataclass
class Lookup:
    """What the zone says about one question.

    ``rcode`` is NOERROR or NXDOMAIN; ``answer`` holds (name, rdatas) pairs in order (a CNAME
    first); ``additional`` the addresses of SRV targets; ``forward`` says the name is outside the
    zone (ask upstream); ``chase`` names an ExternalName's target whose records upstream
    should add after the CNAME.
    """

    rcode: int = 0
    answer: list[tuple[str, list[Rdata]]] = field(default_factory=list)
    additional: list[tuple[str, list[Rdata]]] = field(default_factory=list)
    authority: list[tuple[str, list[Rdata]]] = field(default_factory=list)
    forward: bool = False
    chase: str | None = None  # an ExternalName's target outside the zone, to ask upstream


@dataclass
class _Endpoint:
    ip: str
    hostname: str


def reverse_name(ip: str) -> str:
    """``10.0.0.1`` → ``1.0.0.10.in-addr.arpa.`` (and ip6.arpa nibbles for IPv6)."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _dashed(ip: str) -> str:
    # CoreDNS's endpointHostname: the address with '.' or ':' turned into '-'.
    return ip.replace(".", "-").replace(":", "-")


@functools.lru_cache(maxsize=65536)  # rdatas are immutable: one object per address
def _address(ip: str) -> Rdata | None:
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if parsed.version == 4:
        return A(IN, _A, str(parsed))
    return AAAA(IN, _AAAA, str(parsed))


# Rdatas are immutable, so equal ones are shared: comparing and de-duplicating records is
# then by identity, not dnspython's canonical-wire comparison (the costly part of an update).
@functools.lru_cache(maxsize=65536)
def _ptr(target: str) -> Rdata:
    return PTR(IN, _PTR, _absolute(target))


@functools.lru_cache(maxsize=65536)
def _srv(weight: int, port: int, target: str) -> Rdata:
    return SRV(IN, _SRV, 0, weight, port, _absolute(target))


@functools.lru_cache(maxsize=65536)
def _absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name if name.endswith(".") else name + ".")


class Zone:
    """The records of one cluster domain, indexed by lower-case owner name."""

    def __init__(self, domain: str = "cluster.local", *, ttl: int = TTL) -> None:
        self.origin = domain.strip(".").lower() + "."
        self.ttl = ttl
        self.generation = 0
        self.serial = int(time.time())
        self._services: dict[str, Obj] = {}
        self._endpoints: dict[str, Obj] = {}
        self._slices: dict[str, dict[str, Obj]] = {}  # service key → slice name → slice
        self._slice_owner: dict[str, str] = {}  # slice key → service key
        self._records: dict[str, dict[str, list[Rdata]]] = {}  # service → owner → rdatas
        self._names: dict[str, dict[int, list[Rdata]]] = {}  # owner → type → rdatas
        self._owners: dict[str, set[str]] = {}  # owner name → service keys with records
        self._static: dict[str, dict[int, list[Rdata]]] = self._static_records()

    # -- the objects ---------------------------------------------------------------------------

    def set_service(self, service: Obj) -> None:
        """Add or replace a Service."""
        key = _key(service)
        self._services[key] = service
        self._refresh(key)

    def delete_service(self, service: Obj) -> None:
        """Forget a Service (its Endpoints and slices stay until deleted themselves)."""
        key = _key(service)
        self._services.pop(key, None)
        self._refresh(key)

    def set_endpoints(self, endpoints: Obj) -> None:
        """Add or replace the core/v1 Endpoints of the Service of the same name."""
        key = _key(endpoints)
        self._endpoints[key] = endpoints
        self._refresh(key)

    def delete_endpoints(self, endpoints: Obj) -> None:
        key = _key(endpoints)
        self._endpoints.pop(key, None)
        self._refresh(key)

    def set_slice(self, slice_: Obj) -> None:
        """Add or replace an EndpointSlice (its Service: label ``kubernetes.io/service-name``)."""
        slice_key = _key(slice_)
        previous = self._slice_owner.pop(slice_key, None)
        if previous is not None:
            self._drop_slice(previous, slice_key)
        metadata = slice_.get("metadata") or {}
        service = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:
            key = f"{metadata.get('namespace', '')}/{service}"
            self._slices.setdefault(key, {})[slice_key] = slice_
            self._slice_owner[slice_key] = key
            self._refresh(key)

    def delete_slice(self, slice_: Obj) -> None:
        slice_key = _key(slice_)
        owner = self._slice_owner.pop(slice_key, None)
        if owner is not None:
            self._drop_slice(owner, slice_key)

    def _drop_slice(self, owner: str, slice_key: str) -> None:
        slices = self._slices.get(owner, {})
        slices.pop(slice_key, None)
        if not slices:
            self._slices.pop(owner, None)
        self._refresh(owner)

    # -- the index -----------------------------------------------------------------------------

    def _refresh(self, key: str) -> None:
        """Recompute one Service's records; rebuild only the names whose records changed.

        An update that changes nothing DNS shows (a ClusterIP Service's Endpoints, a status)
        leaves ``generation`` alone, so the reply cache stays warm through pod churn.
        """
        old = self._records.pop(key, {})
        service = self._services.get(key)
        new = _group(self._service_records(service)) if service is not None else {}
        if new:
            self._records[key] = new
        changed = [name for name in old.keys() | new.keys() if old.get(name) != new.get(name)]
        if not changed:
            return
        for name in old.keys() - new.keys():
            self._owners.get(name, set()).discard(key)
        for name in new.keys() - old.keys():
            self._owners.setdefault(name, set()).add(key)
        for name in changed:
            if old.get(name) or new.get(name):
                self._rebuild_name(name)
            else:  # only whether the name exists moved (e.g. <ns>.svc: one more Service)
                self._mark_exists(name)
        self.generation += 1
        self.serial = max(self.serial + 1, int(time.time()))

    def _mark_exists(self, name: str) -> None:
        if self._owners.get(name):
            self._names.setdefault(name, {})
        else:
            self._owners.pop(name, None)
            self._names.pop(name, None)

    def _rebuild_name(self, name: str) -> None:
        owners = self._owners.get(name)
        if not owners:
            self._owners.pop(name, None)
            self._names.pop(name, None)
            return
        types: dict[int, dict[int, Rdata]] = {}  # ordered sets by identity: one record once
        for owner in sorted(owners):
            for rdata in self._records[owner].get(name, ()):
                types.setdefault(rdata.rdtype, {})[id(rdata)] = rdata
        self._names[name] = {rdtype: list(rdatas.values()) for rdtype, rdatas in types.items()}

    def _service_records(self, service: Obj) -> list[Record]:
        metadata, spec = service.get("metadata") or {}, service.get("spec") or {}
        svc = f"{metadata.get('name', '')}.{metadata.get('namespace', '')}.svc.{self.origin}"
        svc = svc.lower()
        records: list[Record] = self._parents(svc)
        if spec.get("type") == "ExternalName":
            target = spec.get("externalName")
            if target:
                records.append((svc, CNAME(IN, _CNAME, _absolute(str(target)))))
            return records
        cluster_ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
                       if ip and ip != "None"]
        if cluster_ips:
            records += self._cluster_ip_records(svc, cluster_ips, spec.get("ports") or [])
        else:
            headless = self._headless_records(svc, self._ready_endpoints(service))
            if not headless:  # spec 2.4.1: no ready endpoint, no name (NXDOMAIN)
                return records[1:]
            records += headless
        return records

    def _parents(self, svc: str) -> list[Record]:
        # <svc>.<ns>.svc.<zone> exists, and so do <ns>.svc.<zone> and svc.<zone> above it.
        namespace = svc.split(".", 1)[1]
        return [(svc, None), (namespace, None), (namespace.split(".", 1)[1], None)]

    def _cluster_ip_records(self, svc: str, ips: list[str], ports: list[Obj]) -> list[Record]:
        records: list[Record] = []
        for ip in ips:
            rdata = _address(ip)
            if rdata is not None:
                records.append((svc, rdata))
                records.append((reverse_name(ip), _ptr(svc)))
        records += self._srv_records(svc, ports, [svc])
        return records

    def _headless_records(self, svc: str, endpoints: list[tuple[_Endpoint, list[Obj]]]
                          ) -> list[Record]:
        records: list[Record] = []
        by_port: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for endpoint, ports in endpoints:
            rdata = _address(endpoint.ip)
            if rdata is None:
                continue
            host = f"{endpoint.hostname}.{svc}"
            records += [(svc, rdata), (host, rdata), (reverse_name(endpoint.ip), _ptr(host))]
            for port in ports:
                name = port.get("name")
                if name and port.get("port"):
                    proto = str(port.get("protocol") or "TCP").lower()
                    by_port.setdefault((name.lower(), proto), []).append(
                        (int(port["port"]), host))
        for (name, proto), targets in sorted(by_port.items()):
            records += self._srv_set(f"_{name}._{proto}.{svc}", svc, targets)
        return records

    def _srv_records(self, svc: str, ports: list[Obj], targets: list[str]) -> list[Record]:
        records: list[Record] = []
        for port in ports:
            name = port.get("name")
            if not name or not port.get("port"):
                continue  # unnamed ports have no SRV record (spec 2.3.2)
            proto = str(port.get("protocol") or "TCP").lower()
            records += self._srv_set(f"_{name.lower()}._{proto}.{svc}", svc,
                                     [(int(port["port"]), target) for target in targets])
        return records

    def _srv_set(self, owner: str, svc: str, targets: list[tuple[int, str]]) -> list[Record]:
        # CoreDNS gives every SRV of one answer priority 0 and weight 100 split between them.
        weight = max(1, 100 // len(targets))
        proto_name = owner.split(".", 1)[1]
        records: list[Record] = [(proto_name, None)]
        srvs = [_srv(weight, port, target) for port, target in targets]
        records += [(owner, srv) for srv in srvs]
        records += [(svc, srv) for srv in srvs]
        return records

    def _ready_endpoints(self, service: Obj) -> list[tuple[_Endpoint, list[Obj]]]:
        key = _key(service)
        slices = self._slices.get(key)
        if slices:
            return _slice_endpoints(slices.values())
        endpoints = self._endpoints.get(key)
        return _core_endpoints(endpoints) if endpoints is not None else []

    def _static_records(self) -> dict[str, dict[int, list[Rdata]]]:
        ns = _absolute("ns.dns." + self.origin)
        return {
            "dns-version." + self.origin: {
                dns.rdatatype.TXT: [TXT(IN, dns.rdatatype.TXT, [SCHEMA_VERSION])]},
            self.origin: {dns.rdatatype.NS: [NS(IN, dns.rdatatype.NS, ns)]},
            "pod." + self.origin: {},
        }

    def size(self) -> int:
        """How many names the Services make (for logs and tests)."""
        return len(self._names)

    def soa(self) -> Rdata:
        """The zone's SOA, its serial the time of the last change (as CoreDNS)."""
        return SOA(IN, dns.rdatatype.SOA, _absolute("ns.dns." + self.origin),
                   _absolute("hostmaster." + self.origin), self.serial & 0xFFFFFFFF,
                   *SOA_TIMERS, self.ttl)

    # -- questions -----------------------------------------------------------------------------

    def lookup(self, qname: str, qtype: int) -> Lookup:
        """Answer ``qname`` (absolute, any case) for ``qtype`` from the index; no I/O."""
        name = qname.lower()
        if not name.endswith(self.origin):
            return self._outside(name, qtype)
        types = self._names.get(name)
        if types is None:
            types = self._static.get(name)
        if types is None and name == self.origin:
            types = {}
        if types is None:
            types = self._pod(name)
        if types is None:
            return self._negative(dns.rcode.NXDOMAIN)
        return self._positive(name, qtype, types)

    def _outside(self, name: str, qtype: int) -> Lookup:
        # Reverse names of Services and endpoints are ours; every other name goes upstream.
        types = self._names.get(name)
        if types and (qtype in types or qtype == dns.rdatatype.ANY):
            return self._positive(name, qtype, types)
        return Lookup(forward=True)

    def _positive(self, name: str, qtype: int, types: dict[int, list[Rdata]]) -> Lookup:
        result = Lookup()
        if name == self.origin and qtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
            result.answer.append((name, [self.soa()]))
        cname = types.get(_CNAME)
        if cname and qtype != _CNAME:
            result.answer.append((name, cname))
            self._follow(name, cname[0].target.to_text().lower(), qtype,  # type: ignore[attr-defined]
                         result)
            return result
        if qtype == dns.rdatatype.ANY:
            result.answer += [(name, rdatas) for rdatas in types.values()]
        elif qtype in types:
            result.answer.append((name, types[qtype]))
        if not result.answer:
            return self._negative(dns.rcode.NOERROR)  # NODATA
        if qtype == _SRV:
            result.additional = self._targets(types[_SRV])
        return result

    def _follow(self, name: str, target: str, qtype: int, result: Lookup) -> None:
        """An ExternalName's target: answered here when in the zone, else ``chase`` it.

        CoreDNS's kubernetes plugin resolves an external target through its upstream and
        adds those records after the CNAME (the specification's example in 2.5); a target in
        the zone is looked up once here (no chains: a CNAME to a CNAME stops there).
        """
        if not target.endswith(self.origin):
            result.chase = target
            return
        if target == name or _CNAME in self._names.get(target, {}):
            return
        inner = self.lookup(target, qtype)
        result.answer += inner.answer
        result.additional += inner.additional

    def _targets(self, srvs: list[Rdata]) -> list[tuple[str, list[Rdata]]]:
        seen: list[tuple[str, list[Rdata]]] = []
        for srv in srvs:
            target = srv.target.to_text().lower()  # type: ignore[attr-defined]
            if any(name == target for name, _ in seen):
                continue
            for rdtype in (_A, _AAAA):
                rdatas = self._names.get(target, {}).get(rdtype)
                if rdatas:
                    seen.append((target, rdatas))
        return seen

    def _negative(self, rcode: int) -> Lookup:
        return Lookup(rcode=rcode, authority=[(self.origin, [self.soa()])])

    def _pod(self, name: str) -> dict[int, list[Rdata]] | None:
        """``a-b-c-d.<ns>.pod.<zone>``: the address the first label spells, else None."""
        labels = name[: -len(self.origin) - 1].split(".")
        if len(labels) != 3 or labels[2] != "pod":
            return {} if len(labels) == 2 and labels[1] == "pod" else None
        text = labels[0]
        # IPv4 a-b-c-d; IPv6 with every ':' written '-' (CoreDNS's podRecordsFromName).
        rdata = _address(text.replace("-", ".")) if text.count("-") == 3 else None
        rdata = rdata or _address(text.replace("-", ":"))
        if rdata is None:
            return None
        return {rdata.rdtype: [rdata]}


def _group(records: list[Record]) -> dict[str, list[Rdata]]:
    """Records by owner name, each once; a name without data maps to an empty list."""
    grouped: dict[str, dict[int, Rdata]] = {}
    for name, rdata in records:
        bucket = grouped.setdefault(name, {})
        if rdata is not None:
            bucket[id(rdata)] = rdata
    return {name: list(rdatas.values()) for name, rdatas in grouped.items()}


def _key(obj: Obj) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def _core_endpoints(endpoints: Obj) -> list[tuple[_Endpoint, list[Obj]]]:
    """The ready addresses of core/v1 Endpoints, each with its subset's ports."""
    ready: list[tuple[_Endpoint, list[Obj]]] = []
    for subset in endpoints.get("subsets") or []:
        ports = subset.get("ports") or []
        for address in subset.get("addresses") or []:
            ip = address.get("ip")
            if ip:
                hostname = address.get("hostname") or _dashed(ip)
                ready.append((_Endpoint(ip, hostname.lower()), ports))
    return ready


def _slice_endpoints(slices: Any) -> list[tuple[_Endpoint, list[Obj]]]:
    """The ready endpoints of EndpointSlices (``conditions.ready`` unset counts as ready)."""
    ready: list[tuple[_Endpoint, list[Obj]]] = []
    for slice_ in slices:
        ports = slice_.get("ports") or []
        for endpoint in slice_.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for ip in endpoint.get("addresses") or []:
                hostname = endpoint.get("hostname") or _dashed(ip)
                ready.append((_Endpoint(ip, hostname.lower()), ports))
    return ready
