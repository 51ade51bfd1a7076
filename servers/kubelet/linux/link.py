"""The node bridge and one veth pair per pod (containernetworking's ``bridge`` plugin, by hand).

The bridge holds the podCIDR's first address (the pods' gateway); each pod gets a veth whose
host end is a port of the bridge and whose other end is ``eth0`` in the pod's namespace, with
the pod's address and a default route via the bridge. Every step is idempotent, like the
plugin's ADD/DEL (containernetworking/plugins ``plugins/main/bridge/bridge.go``).
"""

from __future__ import annotations

import ipaddress

from servers.kubelet.linux.command import failure_line, find_program, run
from servers.kubelet.runtime.errors import CommandFailed


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
        code, _, err = await run([ip, "link", "add", name, "type", "bridge"], check=False)
        if code != 0 and not await exists(name):  # made meanwhile by another kubelet is fine
            raise CommandFailed(failure_line([ip, "link", "add"], code, err))
    await run([ip, "addr", "replace", f"{gateway}/{net.prefixlen}", "dev", name])
    await run([ip, "link", "set", name, "up"])
    route_for_pods(name)
    return gateway


def route_for_pods(bridge: str) -> None:
    """Make the node the pods' router.

    Forwarding on: a packet DNATed from a ClusterIP or a hostPort to a pod is forwarded,
    bridge to bridge (the bridge plugin's ``isGateway`` does the same; a fresh network
    namespace starts with it off). ICMP redirects off (on the bridge and ``all``: the kernel
    sends them if either says so): forwarded back out of the bridge it came in by, a pod's
    packet to a ClusterIP would draw a redirect, which is wrong for a DNATed address and uses
    up the per-peer ICMP allowance, so the proxy's reject of a Service without endpoints
    (ICMP port unreachable) was dropped and the pod's connection hung instead of being
    refused at once (measured in tests/e2e/test_cluster_network.py).
    """
    _sysctl("ipv4/ip_forward", "1")
    _sysctl("ipv4/conf/all/send_redirects", "0")
    _sysctl(f"ipv4/conf/{bridge}/send_redirects", "0")


def _sysctl(key: str, value: str) -> None:
    """Write ``value`` to /proc/sys/net/KEY unless it holds it (this network namespace's)."""
    path = f"/proc/sys/net/{key}"
    with open(path) as current:
        if current.read().strip() == value:
            return
    with open(path, "w") as switch:
        switch.write(value)


async def add_veth(host_if: str, netns: str, bridge: str, address: str, gateway: str) -> None:
    """A veth from ``bridge`` to ``eth0`` in ``netns`` with ``address`` (a/len), default via gw."""
    ip = _ip()
    await run([ip, "link", "delete", host_if], check=False)  # a half-made pair: start over
    # hairpin: a pod reaching itself through a Service or its hostPort is DNATed back out of
    # the port it came in by (the bridge plugin's hairpinMode). The neighbour flush: the
    # address may be a removed pod's, whose MAC the node would otherwise keep sending to
    # for up to a minute (the bridge plugin sends a gratuitous ARP instead).
    host = (f"link add {host_if} type veth peer name eth0 netns {netns}\n"
            f"link set {host_if} master {bridge} up\n"
            f"link set {host_if} type bridge_slave hairpin on\n"
            f"neigh flush to {address.split('/')[0]} dev {bridge}\n")
    await run([ip, "-batch", "-"], stdin=host.encode())
    batch = (f"link set lo up\naddr add {address} dev eth0\nlink set eth0 up\n"
             f"route add default via {gateway} dev eth0\n")
    await run([ip, "-n", netns, "-batch", "-"], stdin=batch.encode())


async def delete(name: str) -> None:
    """Remove link ``name`` if it is there (a veth takes its peer with it)."""
    argv = [_ip(), "link", "delete", name]
    code, _, err = await run(argv, check=False)
    # gone already (or going: a veth whose namespace was deleted dies asynchronously) is fine
    if code != 0 and await exists(name):
        raise CommandFailed(failure_line(argv, code, err))


async def ensure_cluster_routes(bridge: str, cluster_cidr: str, service_cidr: str) -> None:
    """Keep cluster addresses off the default route (DESIGN.md "Safety").

    The cluster CIDR beyond the podCIDRs this node knows is ``unreachable`` (the podCIDR's
    own route on the bridge is more specific); the service range goes to the bridge, since
    a host process's packet to a ClusterIP needs a route before nftables can DNAT it.
    """
    ip = _ip()
    if cluster_cidr:
        await run([ip, "route", "replace", "unreachable", cluster_cidr])
    if service_cidr:
        await run([ip, "route", "replace", service_cidr, "dev", bridge])


async def delete_unreachable(cluster_cidr: str) -> None:
    """Remove the cluster CIDR's ``unreachable`` route if it is there."""
    code, out, _ = await run([_ip(), "route", "show", "type", "unreachable", cluster_cidr],
                             check=False)
    if code == 0 and out.strip():
        await run([_ip(), "route", "del", "unreachable", cluster_cidr])


async def bridges_with(prefix: str) -> list[str]:
    """Names of the bridges in this namespace that start with ``prefix``."""
    _, out, _ = await run([_ip(), "-o", "link", "show", "type", "bridge"], check=False)
    found = []
    for line in out.decode().splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(prefix):
            found.append(name)
    return found
