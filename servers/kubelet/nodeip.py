"""The node's IP when no --node-ip is given, picked as k3s picks it.

k3s (pkg/util/net.go) and kube's ``ChooseHostInterface`` (k8s.io/apimachinery/pkg/util/net/
interface.go) take the address of the interface that holds the default route, else the first
global address of an up interface. Not the host name's address: Debian's /etc/hosts maps the
host name to 127.0.x.1, and a node on loopback leaves pods' in-cluster clients (which dial the
``kubernetes`` Service, DNAT'd to the advertised address) with nothing to reach. Only when no
interface but loopback has an address (a network namespace with no route out) is the host
name's address taken, if it is a loopback one, else 127.0.0.1; ``Choice.fallback`` says so.

IPv4 only (km's cluster and service ranges are IPv4). Reads /proc/net/route and asks the
kernel per interface (SIOCGIFFLAGS, SIOCGIFADDR); stdlib only, no packet sent.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from servers.kubelet.runtime.names import BRIDGE_PREFIX

__all__ = ["Choice", "Link", "choose", "default_route_interfaces", "host_links", "node_ip"]

ROUTE_TABLE = "/proc/net/route"
RTF_UP, RTF_GATEWAY = 0x1, 0x2
SIOCGIFFLAGS, SIOCGIFADDR = 0x8913, 0x8915  # linux/sockios.h
IFF_UP, IFF_LOOPBACK = 0x1, 0x8  # linux/if.h
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Link:
    """One interface as the choice needs it."""

    name: str
    up: bool
    loopback: bool
    address: str  # its IPv4 address, "" when it has none


@dataclass(frozen=True)
class Choice:
    """The node IP and how it was found (for the log line)."""

    ip: str
    how: str
    fallback: bool = False  # no interface but loopback had an address


def node_ip(hostname: str) -> Choice:
    """This host's node IP (see the module docstring)."""
    try:
        with open(ROUTE_TABLE, encoding="ascii") as f:
            routes = f.read()
    except OSError:
        routes = ""
    return choose(hostname, routes, host_links(), _resolve)


def choose(hostname: str, routes: str, links: list[Link],
           resolve: Callable[[str], str]) -> Choice:
    """The choice from a route table's text, the interfaces in index order, and a resolver."""
    by_name = {link.name: link for link in links}
    for name in default_route_interfaces(routes):
        link = by_name.get(name)
        if link and link.up and _global(link.address):
            return Choice(link.address, f"the default route's interface {name}")
    for link in links:
        # the kubelet's own pod bridge is no host interface (a restart finds it up)
        if link.up and not link.loopback and not link.name.startswith(BRIDGE_PREFIX) \
                and _global(link.address):
            return Choice(link.address, f"interface {link.name}, no default route")
    named = resolve(hostname)
    if named and ipaddress.ip_address(named).is_loopback:
        return Choice(named, f"the host name {hostname}'s address", fallback=True)
    return Choice(LOOPBACK, "loopback", fallback=True)


def default_route_interfaces(routes: str) -> list[str]:
    """The interfaces of the up IPv4 default routes in /proc/net/route's text, lowest metric
    first (the route the kernel would take)."""
    found: list[tuple[int, str]] = []
    for line in routes.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest, flags, metric, mask = (int(fields[1], 16), int(fields[3], 16),
                                         int(fields[6]), int(fields[7], 16))
        except ValueError:
            continue
        if dest == 0 and mask == 0 and flags & RTF_UP and flags & RTF_GATEWAY:
            found.append((metric, fields[0]))
    return [name for _, name in sorted(found)]


def host_links() -> list[Link]:
    """This host's interfaces in index order, each with its flags and primary IPv4 address."""
    links = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in sorted(socket.if_nameindex()):
            request = struct.pack("16s24x", name.encode()[:15])
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(sock, SIOCGIFFLAGS, request), 16)[0]
            except OSError:
                continue  # gone meanwhile
            address = ""
            with contextlib.suppress(OSError):  # EADDRNOTAVAIL: no IPv4 address
                address = socket.inet_ntoa(fcntl.ioctl(sock, SIOCGIFADDR, request)[20:24])
            links.append(Link(name, bool(flags & IFF_UP), bool(flags & IFF_LOOPBACK), address))
    return links


def _global(address: str) -> bool:
    if not address:
        return False
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def _resolve(hostname: str) -> str:
    try:
        return socket.gethostbyname(hostname)
    except OSError:
        return ""
