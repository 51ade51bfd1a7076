"""The node bridge and one veth pair per pod (containernetworking's ``bridge`` plugin, by hand).

The bridge holds the podCIDR's first address (the pods' gateway); each pod gets a veth whose
host end is a port of the bridge and whose other end is ``eth0`` in the pod's namespace, with
the pod's address and a default route via the bridge. Every step is idempotent, like the
plugin's ADD/DEL (containernetworking/plugins ``plugins/main/bridge/bridge.go``).
"""

from __future__ import annotations

import ipaddress

from servers.kubelet.linux.command import find_program, run


def _ip() -> str:
    return find_program("ip", "iproute2")


async def exists(name: str) -> bool:
    """True when a link called ``name`` exists in this network namespace."""
    code, _, _ = await run([_ip(), "link", "show", "dev", name], check=False)
    return code == 0


async def ensure_bridge(name: str, cidr: str) -> str:
    """Bridge ``name`` up with the first address of ``cidr``; return that gateway address."""
    net = ipaddress.ip_network(cidr, strict=False)
    gateway = str(next(net.hosts()))
    ip = _ip()
    if not await exists(name):
        await run([ip, "link", "add", name, "type", "bridge"])
    await run([ip, "addr", "replace", f"{gateway}/{net.prefixlen}", "dev", name])
    await run([ip, "link", "set", name, "up"])
    return gateway


async def add_veth(host_if: str, netns: str, bridge: str, address: str, gateway: str) -> None:
    """A veth from ``bridge`` to ``eth0`` in ``netns`` with ``address`` (a/len), default via gw."""
    ip = _ip()
    await delete(host_if)  # a half-made pair from a crash: start over
    await run([ip, "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
               "netns", netns])
    await run([ip, "link", "set", host_if, "master", bridge, "up"])
    batch = (f"addr add {address} dev eth0\nlink set eth0 up\n"
             f"route add default via {gateway} dev eth0\n")
    await run([ip, "-n", netns, "-batch", "-"], stdin=batch.encode())


async def delete(name: str) -> None:
    """Remove link ``name`` if it is there (a veth takes its peer with it)."""
    if await exists(name):
        await run([_ip(), "link", "delete", name])
