"""Pods' hostPorts: DNAT from the node's addresses to podIP:containerPort (CNI portmap's job).

    ports = HostPorts("node1")                  # table ip km-hostports-node1
    pods.add_handler(on_add=..., ...)           # any pod event: ports.changed()
    await ports.run(pods, halt)                 # level-triggered, one nft transaction a change

Why the kubelet and not the proxy: in Kubernetes the container runtime calls CNI's
``portmap`` plugin when it sets the sandbox's network up and again when it tears it down
(containernetworking/plugins ``plugins/meta/portmap``); kube-proxy never looks at pods. The
kubelet already watches exactly this node's pods and wrote their IPs, so it needs nothing
more, and hostPorts keep working on a node whose proxy is down.

The mappings are a pure function of the node's pods as the kubelet's informer has them: every
pod with ``status.podIP``, not hostNetwork (that pod binds the port itself) and not finished
(Succeeded or Failed), gives for each ``containers[].ports[]`` with a ``hostPort`` one
``(hostIP, protocol, hostPort) -> podIP:containerPort``. A pod that goes from the API takes
its mappings with it. Under ``--isolation none`` pods are processes without an address of
their own: a hostPort there is the port the process binds itself, as with hostNetwork, and
this module is not used; the scheduler's NodePorts filter keeps two pods of a node from
asking for the same port either way.

One ``ip`` table of km's own, written whole in one atomic ``nft -j -f -`` transaction that
deletes and recreates it (so the first write after a kubelet restart takes over what an
earlier kubelet left, without duplicates) and only when the mappings changed (plus a full
rewrite every ``RESYNC`` seconds, repairing a table changed by hand). Layout, after portmap's
``CNI-HOSTPORT-DNAT``/``CNI-HOSTPORT-MASQ`` chains:

- ``prerouting`` and ``output`` (nat, priority dstnat) jump to ``hostports``, which looks
  ``ip daddr . meta l4proto . th dport`` up in the verdict map ``host-ip-ports`` (hostIP
  given) and then, for packets to a local non-loopback address, ``meta l4proto . th dport``
  in ``host-ports`` (hostIP empty or 0.0.0.0);
- each mapping's chain ``hostport-…`` marks a pod reaching its own hostPort (hairpin) for
  masquerade and DNATs to the pod;
- ``postrouting`` (nat, priority srcnat) masquerades what was marked (bit 0x2000, portmap's
  default mark bit; kube-proxy's is 0x4000, so the two never clear each other's).

After a write, UDP conntrack entries that would bypass the new table are deleted (see
``stale_udp``), with Debian's ``conntrack`` as the proxy does.

Loopback addresses are left out, as for km's NodePorts: DNAT from 127.0.0.1 to a pod needs
``route_localnet`` on the bridge, which would let pods reach the node's loopback-only
services (kube's CVE-2020-8558).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.kubelet.runtime.names import for_node

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.apimachinery.meta import Obj
    from servers.client.informer import Informer

__all__ = ["HostPort", "HostPorts", "mappings", "stale_udp", "table_name"]

log = logging.getLogger(__name__)

Json = dict[str, Any]
FAMILY = "ip"
MASQUERADE_BIT = 0x2000  # portmap's default masquerade mark bit
DSTNAT, SRCNAT = -100, 100
RESYNC = 60.0  # seconds between full rewrites while nothing changes
RETRY = 2.0  # seconds before a failed transaction is tried again
PROTOCOLS = ("TCP", "UDP")  # SCTP hostPorts are not mapped (km's proxy carries no SCTP either)
WILDCARDS = ("", "0.0.0.0")
FINISHED = ("Succeeded", "Failed")

_DADDR = {"payload": {"protocol": "ip", "field": "daddr"}}
_SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}
_L4PROTO = {"meta": {"key": "l4proto"}}
_DPORT = {"payload": {"protocol": "th", "field": "dport"}}
_MARK = {"meta": {"key": "mark"}}


def table_name(node_name: str) -> str:
    """This node's table: two kubelets on one host never share one."""
    return f"km-hostports-{for_node(node_name).key}"


@dataclass(frozen=True, order=True)
class HostPort:
    """One mapping: ``host_ip`` ("" for every address) ``protocol`` ``host_port`` to the pod."""

    protocol: str  # lower case, as nft names it
    host_port: int
    host_ip: str
    pod_ip: str
    container_port: int
    pod: str = ""  # namespace/name, for the log

    @property
    def chain(self) -> str:
        where = f"-{self.host_ip}" if self.host_ip else ""
        return f"hostport-{self.protocol}-{self.host_port}{where}"


def mappings(pods: list[Obj]) -> list[HostPort]:
    """The hostPort mappings of ``pods`` (see the module docstring), sorted; when two pods
    ask for the same (hostIP, protocol, port) the older pod keeps it."""
    taken: dict[tuple[str, str, int], HostPort] = {}
    for pod in sorted(pods, key=_age):
        for mapping in _pod_mappings(pod):
            key = (mapping.host_ip, mapping.protocol, mapping.host_port)
            if key in taken:
                log.warning("hostPort %s/%d of pod %s is already pod %s's", mapping.protocol,
                            mapping.host_port, mapping.pod, taken[key].pod)
                continue
            taken[key] = mapping
    return sorted(taken.values())


def _age(pod: Obj) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("uid") or "")


def _pod_mappings(pod: Obj) -> list[HostPort]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    pod_ip = status.get("podIP") or ""
    if not pod_ip or ":" in pod_ip or spec.get("hostNetwork") or status.get("phase") in FINISHED:
        return []
    meta = pod.get("metadata") or {}
    name = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
    found = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            host_port = int(port.get("hostPort") or 0)
            protocol = str(port.get("protocol") or "TCP").upper()
            host_ip = str(port.get("hostIP") or "")
            if host_port <= 0 or protocol not in PROTOCOLS or not _mappable(host_ip):
                continue
            found.append(HostPort(protocol.lower(), host_port,
                                  "" if host_ip in WILDCARDS else host_ip, pod_ip,
                                  int(port.get("containerPort") or host_port), name))
    return found


def _mappable(host_ip: str) -> bool:
    """An IPv4 address other than loopback, or a wildcard (see the module docstring)."""
    if host_ip in WILDCARDS:
        return True
    try:
        address = ipaddress.ip_address(host_ip)
    except ValueError:
        return False
    return address.version == 4 and not address.is_loopback


# -- the nftables document ----------------------------------------------------------------------

def _match(left: Any, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _concat(*parts: Any) -> Json:
    return {"concat": list(parts)}


def transaction(table: str, ports: list[HostPort]) -> Json:
    """The ``nft -j`` document that replaces ``table`` by one holding ``ports`` (none: the
    table is only deleted)."""

    def obj(**values: Any) -> Json:
        return {"family": FAMILY, "table": table, **values}

    commands: list[Json] = [{"add": {"table": {"family": FAMILY, "name": table}}},
                {"delete": {"table": {"family": FAMILY, "name": table}}}]
    if ports:
        commands.append({"add": {"table": {"family": FAMILY, "name": table}}})
        commands += _skeleton(obj)
        commands += _mapping_chains(obj, ports)
        commands += _elements(obj, ports)
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}, *commands]}


def _skeleton(obj: Callable[..., Json]) -> list[Json]:
    base = {"prerouting": ("nat", "prerouting", DSTNAT), "output": ("nat", "output", DSTNAT),
            "postrouting": ("nat", "postrouting", SRCNAT)}
    commands: list[Json] = [
        {"add": {"chain": obj(name=name, type=kind, hook=hook, prio=prio, policy="accept")}}
        for name, (kind, hook, prio) in base.items()]
    commands.append({"add": {"chain": obj(name="hostports")}})
    commands.append({"add": {"map": obj(name="host-ip-ports", map="verdict",
                                        type=["ipv4_addr", "inet_proto", "inet_service"])}})
    commands.append({"add": {"map": obj(name="host-ports", map="verdict",
                                        type=["inet_proto", "inet_service"])}})
    local = [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"),
             _match(_DADDR, {"prefix": {"addr": "127.0.0.0", "len": 8}}, "!=")]
    rules: dict[str, list[list[Json]]] = {
        "prerouting": [[{"jump": {"target": "hostports"}}]],
        "output": [[{"jump": {"target": "hostports"}}]],
        "hostports": [
            [{"vmap": {"key": _concat(_DADDR, _L4PROTO, _DPORT), "data": "@host-ip-ports"}}],
            [*local, {"vmap": {"key": _concat(_L4PROTO, _DPORT), "data": "@host-ports"}}]],
        "postrouting": [
            [_match({"&": [_MARK, MASQUERADE_BIT]}, 0), {"return": None}],
            [{"mangle": {"key": _MARK, "value": {"^": [_MARK, MASQUERADE_BIT]}}},
             {"masquerade": None}]],
    }
    for chain, exprs in rules.items():
        commands += [{"add": {"rule": obj(chain=chain, expr=expr)}} for expr in exprs]
    return commands


def _mapping_chains(obj: Callable[..., Json], ports: list[HostPort]) -> list[Json]:
    commands: list[Json] = []
    for port in ports:
        commands.append({"add": {"chain": obj(name=port.chain)}})
        hairpin = [_match(_SADDR, port.pod_ip), {"mangle": {"key": _MARK, "value": {
            "|": [_MARK, MASQUERADE_BIT]}}}]
        dnat = [_match(_L4PROTO, port.protocol),
                {"dnat": {"addr": port.pod_ip, "port": port.container_port}}]
        commands += [{"add": {"rule": obj(chain=port.chain, expr=hairpin)}},
                     {"add": {"rule": obj(chain=port.chain, expr=dnat)}}]
    return commands


def _elements(obj: Callable[..., Json], ports: list[HostPort]) -> list[Json]:
    by_ip = [[_concat(p.host_ip, p.protocol, p.host_port), {"goto": {"target": p.chain}}]
             for p in ports if p.host_ip]
    anywhere = [[_concat(p.protocol, p.host_port), {"goto": {"target": p.chain}}]
                for p in ports if not p.host_ip]
    commands: list[Json] = []
    if by_ip:
        commands.append({"add": {"element": obj(name="host-ip-ports", elem=by_ip)}})
    if anywhere:
        commands.append({"add": {"element": obj(name="host-ports", elem=anywhere)}})
    return commands


def stale_udp(before: list[HostPort] | None, after: list[HostPort]) -> list[list[str]]:
    """``conntrack -D -p udp`` filters for UDP flows the new table would not DNAT as their
    conntrack entries do: a UDP flow keeps the translation of its first packet until it
    idles out. A new mapping's port drops whatever was tracked to it before (portmap does the
    same on ADD); a mapping that went drops the flows DNATed to its pod."""
    old = {p for p in before or () if p.protocol == "udp"}
    new = {p for p in after if p.protocol == "udp"}
    filters = [["--orig-port-dst", str(p.host_port)] for p in sorted(new - old)]
    filters += [["--orig-port-dst", str(p.host_port), "--dst-nat", p.pod_ip]
                for p in sorted(old - new)]
    return filters


async def _flush_udp(before: list[HostPort] | None, after: list[HostPort]) -> None:
    from servers.proxy.nftables import conntrack

    await conntrack.flush(stale_udp(before, after))


# -- the loop -------------------------------------------------------------------------------------

class HostPorts:
    """Keeps this node's hostPort table equal to its pods' mappings."""

    def __init__(self, node_name: str) -> None:
        self.table = table_name(node_name)
        self.applied: list[HostPort] | None = None  # None: unknown (the next write takes over)
        self._wake = asyncio.Event()

    def changed(self, *_: Obj) -> None:
        """A pod of this node changed (an informer handler)."""
        self._wake.set()

    async def sync(self, pods: list[Obj], full: bool = False) -> None:
        """Write the table if ``pods``' mappings differ from what was written (or ``full``)."""
        want = mappings(pods)
        if want == self.applied and not full:
            return
        if not want and self.applied == []:
            return  # nothing to map, and no table of ours left
        from servers.proxy.nftables import nft

        before, self.applied = self.applied, None
        try:
            await nft.apply(transaction(self.table, want))
        except nft.NftError:
            if want or before:
                raise
            # Only clearing what an earlier kubelet may have left, at start: a node without
            # nft (or hostPorts) is not told so every few seconds; the first mapping retries.
            log.debug("hostPorts: no table removed", exc_info=True)
            self.applied = []
            return
        self.applied = want
        await _flush_udp(before, want)
        if want or before:
            log.info("hostPorts: %s", ", ".join(
                f"{p.host_ip or '*'}:{p.host_port}/{p.protocol} -> {p.pod_ip}:{p.container_port}"
                for p in want) or "none")

    async def run(self, pods: Informer, halt: asyncio.Event) -> None:
        """Sync on every pod event of ``pods`` (once it has listed) until ``halt``."""
        from servers.proxy.nftables.nft import NftError

        synced = asyncio.ensure_future(pods.wait_synced(timeout=None))
        halted = asyncio.ensure_future(halt.wait())
        await asyncio.wait({synced, halted}, return_when=asyncio.FIRST_COMPLETED)
        synced.cancel()
        halted.cancel()
        loop = asyncio.get_running_loop()
        last_full = loop.time()
        failed = ""
        while not halt.is_set():
            self._wake.clear()
            full = loop.time() - last_full >= RESYNC
            wait = RESYNC
            try:
                await self.sync(pods.list(), full=full)
                if full:
                    last_full = loop.time()
            except NftError as exc:  # the next pass takes the table over again
                if str(exc) != failed:  # said once, not every RETRY seconds
                    log.warning("hostPorts: %s", exc)
                failed, wait = str(exc), RETRY
            else:
                failed = ""
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_either(self._wake, halt), wait)


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


def start(pods: Informer, node_name: str, isolation: str,
          halt: asyncio.Event) -> list[asyncio.Future[None]]:
    """The kubelet's hook: under ``--isolation namespaces`` keep the hostPort table following
    ``pods`` until ``halt`` (the returned task); nothing otherwise (see the module docstring)."""
    if isolation != "namespaces":
        return []
    ports = HostPorts(node_name)
    pods.add_handler(on_add=ports.changed, on_update=ports.changed, on_delete=ports.changed)
    return [asyncio.ensure_future(ports.run(pods, halt))]
