"""The nftables ruleset for a set of service ports, and the JSON transaction that installs it.

    want = Ruleset.build(table, ports, cluster_cidr="10.244.0.0/16")
    commands = want.transaction(previous)        # previous=None: take the table over

The layout is kube-proxy's nftables mode (``pkg/proxy/nftables/proxier.go`` and its README),
in one ``ip`` table of km's own:

- base chains ``nat-prerouting`` and ``nat-output`` (priority dstnat) jump to ``services``,
  which looks ``ip daddr . meta l4proto . th dport`` up in the verdict map ``service-ips``
  and, for packets to a local non-loopback address (or to ``nodeport-ips`` when
  --nodeport-addresses is given), ``meta l4proto . th dport`` in ``service-nodeports``;
- a ``service-…`` chain per service port marks ClusterIP traffic from outside --cluster-cidr
  for masquerade, marks hairpin traffic (an endpoint reaching its own service), and DNATs
  with ``dnat to numgen random mod N map {i : ip . port}``; NodePorts go through an
  ``external-…`` chain that always marks;
- with sessionAffinity ClientIP, kube's own shape instead: the service chain first sends a
  client found in an endpoint's affinity set to that ``endpoint-…`` chain, else picks one
  with ``numgen random mod N vmap {…}``; the endpoint chain records the client and DNATs;
- ``filter-input|forward|output`` (priority dstnat-10) send new connections to a service port
  without endpoints to ``reject-chain`` (refused at once) through ``no-endpoint-services`` and
  ``no-endpoint-nodeports``;
- ``nat-postrouting`` masquerades what was marked (bit 0x4000, as kube).

A transaction is a list of libnftables JSON commands for ``nft -j -f -``, applied atomically.
Taking the table over (first sync, or after a failure) deletes and recreates it in the same
transaction, so whatever a killed proxy left is replaced without a moment of no rules and
without duplicates. Later transactions rewrite only the chains whose rules changed (all of
them on a full sync), refill the maps and drop chains and affinity sets no longer wanted.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from servers.proxy.model import ServicePort

__all__ = ["Ruleset", "table_name"]

Json = dict[str, Any]
FAMILY = "ip"
MASQUERADE_BIT = 0x4000  # kube's mark-for-masquerade bit
DSTNAT, SRCNAT = -100, 100
TABLE_PREFIX = "km-proxy"

_DADDR = {"payload": {"protocol": "ip", "field": "daddr"}}
_SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}
_L4PROTO = {"meta": {"key": "l4proto"}}
_DPORT = {"payload": {"protocol": "th", "field": "dport"}}
_MARK = {"meta": {"key": "mark"}}

# name: (type, hook, priority); every base chain accepts by default.
BASE_CHAINS = {
    "filter-input": ("filter", "input", DSTNAT - 10),
    "filter-forward": ("filter", "forward", DSTNAT - 10),
    "filter-output": ("filter", "output", DSTNAT - 10),
    "nat-prerouting": ("nat", "prerouting", DSTNAT),
    "nat-output": ("nat", "output", DSTNAT),
    "nat-postrouting": ("nat", "postrouting", SRCNAT),
}
MAPS = {
    "service-ips": ["ipv4_addr", "inet_proto", "inet_service"],
    "service-nodeports": ["inet_proto", "inet_service"],
    "no-endpoint-services": ["ipv4_addr", "inet_proto", "inet_service"],
    "no-endpoint-nodeports": ["inet_proto", "inet_service"],
}
NODEPORT_IPS = "nodeport-ips"


def table_name(hostname: str) -> str:
    """km's table for this node: two proxies on one host (two node names) never share one."""
    clean = re.sub(r"[^a-z0-9.-]", "_", hostname.lower())[:48]
    if clean != hostname.lower():  # changed, so keep distinct names distinct
        clean += "-" + hashlib.sha256(hostname.encode()).hexdigest()[:6]
    return f"{TABLE_PREFIX}-{clean}" if clean else TABLE_PREFIX


# -- expressions ------------------------------------------------------------------------------

def _match(left: Any, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _jump(chain: str) -> Json:
    return {"jump": {"target": chain}}


def _goto(chain: str) -> Json:
    return {"goto": {"target": chain}}


def _prefix(cidr: str) -> Json:
    address, _, length = cidr.partition("/")
    return {"prefix": {"addr": address, "len": int(length or 32)}}


def _local_destination(nodeport_ips: bool) -> list[Json]:
    """Packets for this node's NodePort addresses (never 127/8: DNAT there is martian)."""
    if nodeport_ips:
        return [_match(_DADDR, f"@{NODEPORT_IPS}")]
    return [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"),
            _match(_DADDR, _prefix("127.0.0.0/8"), "!=")]


def _concat(*parts: Any) -> Json:
    return {"concat": list(parts)}


# -- one service port's share --------------------------------------------------------------

Fragment = tuple[dict[str, list[list[Json]]], list[tuple[str, list[Any]]], dict[str, int]]


@functools.lru_cache(maxsize=1 << 16)
def _fragment(port: ServicePort, cluster_cidr: str) -> Fragment:
    """The chains, map elements and affinity sets of one service port.

    Cached: a sync rebuilds the whole ruleset from the informers, and an unchanged service
    port (a frozen, hashable value) then costs a lookup; unchanged chains are the same
    objects, so the transaction's comparison is an identity check.
    """
    proto = port.protocol.lower()
    vip = _concat(port.cluster_ip, proto, port.port)
    chains: dict[str, list[list[Json]]] = {}
    elements: list[tuple[str, list[Any]]] = []
    affinity: dict[str, int] = {}
    if not port.endpoints:
        elements.append(("no-endpoint-services", [vip, _goto("reject-chain")]))
        if port.node_port:
            elements.append(("no-endpoint-nodeports",
                             [_concat(proto, port.node_port), _goto("reject-chain")]))
        return chains, elements, affinity
    service = f"service-{port.hash()}-{port.id}"
    elements.append(("service-ips", [vip, _goto(service)]))
    rules: list[list[Json]] = []
    if cluster_cidr:
        rules.append([_match(_DADDR, port.cluster_ip),
                      _match(_SADDR, _prefix(cluster_cidr), "!="), _jump("mark-for-masquerade")])
    if port.affinity_seconds:
        rules += _endpoint_chains(port, chains, affinity)
    else:
        rules += _direct_dnat(port)
    chains[service] = rules
    if port.node_port:
        external = f"external-{port.hash()}-{port.id}"
        chains[external] = [[_jump("mark-for-masquerade")], [_goto(service)]]
        elements.append(("service-nodeports", [_concat(proto, port.node_port),
                                               _goto(external)]))
    return chains, elements, affinity


def _direct_dnat(port: ServicePort) -> list[list[Json]]:
    """Without affinity no endpoint chains: a hairpin check over the endpoints' addresses,
    then ``dnat to numgen random mod N map {i : ip . port}`` (one rule where kube writes a
    chain per endpoint; the number of kernel objects is what makes large syncs slow). The
    hairpin check marks any endpoint of the service reaching it, a superset of kube's
    same-endpoint rule: masquerading those too is harmless."""
    ips = sorted({e.ip for e in port.endpoints})
    clients: Any = ips[0] if len(ips) == 1 else {"set": ips}
    rules = [[_match(_SADDR, clients), _jump("mark-for-masquerade")]]
    if len(port.endpoints) == 1:
        (only,) = port.endpoints
        dnat: Json = {"dnat": {"addr": only.ip, "port": only.port}}
    else:
        dnat = {"dnat": {"family": "ip", "addr": {"map": {
            "key": {"numgen": {"mode": "random", "mod": len(port.endpoints), "offset": 0}},
            "data": {"set": [[i, _concat(e.ip, e.port)]
                             for i, e in enumerate(port.endpoints)]}}}}}
    rules.append([_match(_L4PROTO, port.protocol.lower()), dnat])
    return rules


def _endpoint_chains(port: ServicePort, chains: dict[str, list[list[Json]]],
                     affinity: dict[str, int]) -> list[list[Json]]:
    """With ClientIP affinity, kube's layout: a chain per endpoint that records the client
    in the endpoint's affinity set; the service chain checks the sets, then picks."""
    rules: list[list[Json]] = []
    targets = []
    for endpoint in port.endpoints:
        digest = port.hash(f"__{endpoint}")
        chain = f"endpoint-{digest}-{port.id}__{endpoint.ip}/{endpoint.port}"
        # the timeout is in the set's name: a set's timeout cannot change in place
        name = f"affinity-{port.hash(f'__{endpoint}/{port.affinity_seconds}')}"
        affinity[name] = port.affinity_seconds
        chains[chain] = [
            [_match(_SADDR, endpoint.ip), _jump("mark-for-masquerade")],
            [{"set": {"op": "update", "elem": _SADDR, "set": f"@{name}"}}],
            [_match(_L4PROTO, port.protocol.lower()),
             {"dnat": {"addr": endpoint.ip, "port": endpoint.port}}]]
        targets.append(chain)
        rules.append([_match(_SADDR, f"@{name}"), _goto(chain)])
    rules.append([{"vmap": {
        "key": {"numgen": {"mode": "random", "mod": len(targets), "offset": 0}},
        "data": {"set": [[i, _goto(chain)] for i, chain in enumerate(targets)]}}}])
    return rules


# -- the desired state ------------------------------------------------------------------------

@dataclass
class Ruleset:
    """Everything the table should hold; ``transaction`` turns it into nft commands."""

    table: str
    fixed: dict[str, list[list[Json]]] = field(default_factory=dict)  # always rewritten
    chains: dict[str, list[list[Json]]] = field(default_factory=dict)  # per service port
    elements: dict[str, list[list[Any]]] = field(default_factory=dict)  # map -> [key, verdict]
    affinity: dict[str, int] = field(default_factory=dict)  # set name -> timeout seconds
    nodeport_ips: list[str] | None = None

    @classmethod
    def build(cls, table: str, ports: Iterable[ServicePort], *, cluster_cidr: str = "",
              nodeport_ips: list[str] | None = None) -> Ruleset:
        """The ruleset for ``ports`` (``nodeport_ips``: --nodeport-addresses resolved)."""
        rules = cls(table, nodeport_ips=nodeport_ips)
        rules.elements = {name: [] for name in MAPS}
        rules._fixed_chains()
        for port in ports:
            rules._service_port(port, cluster_cidr)
        return rules

    def _fixed_chains(self) -> None:
        by_ips = self.nodeport_ips is not None
        new = _match({"ct": {"key": "state"}}, "new", "in")
        self.fixed = {
            "filter-input": [[new, _jump("endpoints-check")]],
            "filter-forward": [[new, _jump("endpoints-check")]],
            "filter-output": [[new, _jump("endpoints-check")]],
            "nat-prerouting": [[_jump("services")]],
            "nat-output": [[_jump("services")]],
            "nat-postrouting": [[_jump("masquerading")]],
            "services": [
                [{"vmap": {"key": _concat(_DADDR, _L4PROTO, _DPORT), "data": "@service-ips"}}],
                [*_local_destination(by_ips),
                 {"vmap": {"key": _concat(_L4PROTO, _DPORT), "data": "@service-nodeports"}}],
            ],
            "endpoints-check": [
                [{"vmap": {"key": _concat(_DADDR, _L4PROTO, _DPORT),
                           "data": "@no-endpoint-services"}}],
                [*_local_destination(by_ips),
                 {"vmap": {"key": _concat(_L4PROTO, _DPORT),
                           "data": "@no-endpoint-nodeports"}}],
            ],
            "reject-chain": [[{"reject": None}]],
            "mark-for-masquerade": [[{"mangle": {"key": _MARK, "value": {
                "|": [_MARK, MASQUERADE_BIT]}}}]],
            "masquerading": [
                [_match({"&": [_MARK, MASQUERADE_BIT]}, 0), {"return": None}],
                [{"mangle": {"key": _MARK, "value": {"^": [_MARK, MASQUERADE_BIT]}}},
                 {"masquerade": {"flags": ["fully-random"]}}],
            ],
        }

    def _service_port(self, port: ServicePort, cluster_cidr: str) -> None:
        chains, elements, affinity = _fragment(port, cluster_cidr)
        self.chains.update(chains)
        for name, element in elements:
            self.elements[name].append(element)
        self.affinity.update(affinity)

    # -- the transaction ---------------------------------------------------------------------

    def _obj(self, **values: Any) -> Json:
        return {"family": FAMILY, "table": self.table, **values}

    def _rules(self, chain: str, rules: list[list[Json]]) -> list[Json]:
        return [{"add": {"rule": self._obj(chain=chain, expr=expr)}} for expr in rules]

    def _skeleton(self) -> list[Json]:
        commands: list[Json] = []
        for name, (kind, hook, prio) in BASE_CHAINS.items():
            commands.append({"add": {"chain": self._obj(
                name=name, type=kind, hook=hook, prio=prio, policy="accept")}})
        for name in self.fixed:
            if name not in BASE_CHAINS:
                commands.append({"add": {"chain": self._obj(name=name)}})
        for name, key in MAPS.items():
            commands.append({"add": {"map": self._obj(name=name, type=key, map="verdict")}})
            commands.append({"flush": {"map": self._obj(name=name)}})
        if self.nodeport_ips is not None:
            commands.append({"add": {"set": self._obj(name=NODEPORT_IPS, type="ipv4_addr")}})
            commands.append({"flush": {"set": self._obj(name=NODEPORT_IPS)}})
            if self.nodeport_ips:
                commands.append({"add": {"element": self._obj(
                    name=NODEPORT_IPS, elem=list(self.nodeport_ips))}})
        for name in self.fixed:
            commands.append({"flush": {"chain": self._obj(name=name)}})
        return commands

    def transaction(self, previous: Ruleset | None, *, full: bool = False) -> list[Json]:
        """The commands that turn ``previous`` (what the last transaction made) into this.

        ``previous=None`` takes the table over: deleted and made anew in the same batch.
        """
        commands: list[Json] = [{"add": {"table": {"family": FAMILY, "name": self.table}}}]
        if previous is None:
            commands += [{"delete": {"table": {"family": FAMILY, "name": self.table}}},
                         {"add": {"table": {"family": FAMILY, "name": self.table}}}]
            previous, full = None, True
        commands += self._skeleton()
        for name, timeout in self.affinity.items():
            if previous is None or name not in previous.affinity:
                commands.append({"add": {"set": self._obj(
                    name=name, type="ipv4_addr", flags=["timeout"],
                    timeout=timeout)}})
        commands += self._changed_chains(previous, full)
        for name, rules in self.fixed.items():
            commands += self._rules(name, rules)
        for name, elements in self.elements.items():
            if elements:
                commands.append({"add": {"element": self._obj(name=name, elem=elements)}})
        if previous is not None:
            commands += self._garbage(previous)
        return commands

    def _changed_chains(self, previous: Ruleset | None, full: bool) -> list[Json]:
        """Service and endpoint chains that are new or changed (all of them when ``full``)."""
        commands: list[Json] = []
        for name, rules in self.chains.items():
            before = None if previous is None else previous.chains.get(name)
            if before is None:
                commands.append({"add": {"chain": self._obj(name=name)}})
            elif (before is rules or before == rules) and not full:
                continue
            else:
                commands.append({"flush": {"chain": self._obj(name=name)}})
            commands += self._rules(name, rules)
        return commands

    def _garbage(self, previous: Ruleset) -> list[Json]:
        """Delete the chains and affinity sets ``previous`` had and this has not."""
        gone = [name for name in previous.chains if name not in self.chains]
        # flush them all first: a chain may jump to another that goes in the same batch
        commands = [{"flush": {"chain": self._obj(name=name)}} for name in gone]
        commands += [{"delete": {"chain": self._obj(name=name)}} for name in gone]
        commands += [{"delete": {"set": self._obj(name=name)}}
                     for name in previous.affinity if name not in self.affinity]
        return commands

    def document(self, commands: list[Json]) -> Json:
        """The JSON document ``nft -j -f -`` reads."""
        return {"nftables": [{"metainfo": {"json_schema_version": 1}}, *commands]}
