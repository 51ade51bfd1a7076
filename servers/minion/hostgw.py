"""Routes to the other nodes' pods: each node's podCIDR via its InternalIP (flannel's host-gw
backend, flannel-io/flannel ``pkg/backend/hostgw``; k3s runs flannel inside its agent, km runs
this inside km minion and km all-in-one).

    await keep_routes(client, "n1", stop)     # until stop, as the Nodes change

A route per other Node that has a podCIDR and an InternalIP, ``ip route replace CIDR via IP
proto 75``; the protocol number marks km's routes, so a route whose node went away (or moved)
is found and removed without touching anyone else's. The more specific routes override the
``unreachable`` route the kubelet keeps over the whole cluster CIDR (DESIGN.md "Safety"), so
only the podCIDRs of known nodes become reachable. The nodes must share a link (host-gw's one
requirement): a next hop that is not on-link is refused by the kernel and logged.

The Nodes are read through an informer (list and watch; the proxy's identity may, kube's
``system:node-proxier``); every change, and a resync every 30 s, makes the routes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from servers.client.informer import Informer
from servers.client.resources import NODES
from servers.kubelet.linux.command import find_program, run
from servers.kubelet.runtime.errors import CommandFailed

if TYPE_CHECKING:
    from servers.client.rest import Client

log = logging.getLogger(__name__)

PROTO = "75"  # iproute2's rt_protos names none of 75; km's routes carry it
RESYNC = 30.0
Obj = dict[str, Any]


def desired(nodes: list[Obj], self_name: str) -> dict[str, str]:
    """podCIDR -> InternalIP of every other node that has both (IPv4)."""
    routes = {}
    for node in nodes:
        if (node.get("metadata") or {}).get("name") == self_name:
            continue
        spec = node.get("spec") or {}
        cidr = spec.get("podCIDR") or next(iter(spec.get("podCIDRs") or []), "")
        address = next((a.get("address") for a in (node.get("status") or {}).get(
            "addresses") or [] if a.get("type") == "InternalIP"), "")
        if cidr and address and _v4(cidr) and _v4(address):
            routes[str(ipaddress.ip_network(cidr, strict=False))] = address
    return routes


def parse_routes(text: str) -> dict[str, str]:
    """``ip -o route show proto 75`` lines as CIDR -> next hop."""
    found = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "via":
            cidr = words[0] if "/" in words[0] else f"{words[0]}/32"
            found[cidr] = words[2]
    return found


def others(text: str) -> set[str]:
    """The destinations of ``ip -o route show`` lines that are not km's (no ``proto 75``):
    a node bridge's own podCIDR, say, which a route via some node must never replace."""
    found = set()
    for line in text.splitlines():
        words = line.split()
        if not words or ("proto" in words and words[words.index("proto") + 1:][:1] == [PROTO]):
            continue
        first = words[1] if words[0] in ("unreachable", "blackhole", "prohibit") else words[0]
        if first != "default":
            found.add(first if "/" in first else f"{first}/32")
    return found


async def sync(want: dict[str, str]) -> None:
    """Make km's routes exactly ``want``; a route the kernel refuses is logged, not fatal.
    A destination routed otherwise already (this host's own pods: two nodes of one host, as
    tests run them) and a next hop that is this host are left alone."""
    ip = find_program("ip", "iproute2")
    _, out, _ = await run([ip, "-4", "-o", "route", "show", "proto", PROTO], check=False)
    have = parse_routes(out.decode())
    _, out, _ = await run([ip, "-4", "-o", "route", "show"], check=False)
    theirs = others(out.decode())
    want = {c: v for c, v in want.items() if c not in theirs and not _local(v)}
    for cidr, via in sorted(want.items()):
        if have.get(cidr) == via:
            continue
        try:
            await run([ip, "route", "replace", cidr, "via", via, "proto", PROTO])
        except CommandFailed as exc:
            log.warning("no route to pods %s via %s: %s", cidr, via, exc)
            continue
        log.info("pods %s via %s", cidr, via)
    for cidr in sorted(set(have) - set(want)):
        await run([ip, "route", "delete", cidr, "proto", PROTO], check=False)
        log.info("pods %s: route removed (no such node now)", cidr)


async def keep_routes(client: Client, self_name: str, stop: asyncio.Event) -> None:
    """Keep the routes in step with the Nodes until ``stop``."""
    informer = Informer(client, NODES)
    changed = asyncio.Event()
    informer.add_handler(on_add=lambda _: changed.set(),
                         on_update=lambda _old, _new: changed.set(),
                         on_delete=lambda _: changed.set())
    task = asyncio.ensure_future(informer.run(stop))
    try:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_first(changed, stop), RESYNC)
            changed.clear()
            if stop.is_set():
                break
            try:
                await sync(desired(informer.list(), self_name))
            except (CommandFailed, OSError) as exc:  # the next change or resync tries again
                log.warning("pod routes: %s", exc)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _first(event: asyncio.Event, stop: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _local(address: str) -> bool:
    """Whether ``address`` is this host's (a socket can bind it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def _v4(text: str) -> bool:
    try:
        return ipaddress.ip_network(text, strict=False).version == 4
    except ValueError:
        return False
