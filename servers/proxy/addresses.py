"""This node's IPv4 addresses, from ``ip -j address`` (JSON, never parsed text)."""

from __future__ import annotations

import ipaddress
import json

from servers.kubelet.linux import command

__all__ = ["local_ipv4", "nodeport_addresses"]


async def local_ipv4() -> list[str]:
    """Every IPv4 address on this network namespace's links."""
    _, out, _ = await command.run([command.find_program("ip", "iproute2"), "-j", "-4",
                                   "address", "show"])
    found: list[str] = []
    for link in json.loads(out or b"[]"):
        for info in link.get("addr_info") or []:
            if info.get("family") == "inet" and info.get("local"):
                found.append(str(info["local"]))
    return found


async def nodeport_addresses(cidrs: list[ipaddress.IPv4Network]) -> list[str]:
    """The local addresses inside --nodeport-addresses' ranges, sorted."""
    return sorted({ip for ip in await local_ipv4()
                   if any(ipaddress.ip_address(ip) in cidr for cidr in cidrs)},
                  key=ipaddress.ip_address)
