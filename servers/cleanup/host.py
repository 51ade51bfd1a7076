"""What km left on this host, found by km's own names, and how each thing is removed.

Per node (its name gives every name, servers/kubelet/runtime/names.py):
    mounts      under the kubelet's root dir, the node's /run/km/KEY pins, /run/netns/km-KEY-*
    netns       /run/netns/km-KEY-*                       (host-wide)
    cgroups     km-KEY in every hierarchy; processes still in them are km's pods, SIGKILLed
    pins        /run/km/KEY, and the kubelet's /run/km/KEY.lock  (host-wide)
    nftables    ip km-proxy-NAME (km proxy), ip km-hostports-KEY (the kubelet's hostPorts)
    bridge      kmbDIGEST with its routes                 (this network namespace)
In this network namespace, whatever node made them (k3s-killall deletes cni0 and flannel.1):
    links       km's bridges (kmb*) and veths (kmv*)
    nftables    ip tables named km-proxy* and km-hostports*
    routes      the routes to other nodes' podCIDRs (protocol 75), and the ``unreachable``
                route over a recorded cluster CIDR once no km bridge is left

Each ``find_*`` returns Steps for what exists now, so a second run finds nothing and
``--dry-run`` lists exactly what a run would do.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from servers.cleanup import processes
from servers.kubelet.linux import cgroups
from servers.kubelet.linux.command import run as _run
from servers.kubelet.runtime.names import BRIDGE_PREFIX, NodeNames

VETH_PREFIX = "kmv"
_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"
TABLE_PREFIXES = ("km-proxy", "km-hostports")
NFT_FAMILY = "ip"
HOSTGW_PROTO = "75"  # servers/minion/hostgw.py's PROTO (not imported: that one needs aiohttp)


@dataclass(frozen=True)
class Step:
    """One thing to remove: what it is (one line) and how."""

    what: str
    do: Callable[[], Awaitable[object]]


def mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    """Mount points starting with one of ``prefixes``, deepest first."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f]
    found = [p for p in dict.fromkeys(points) if p.startswith(prefixes)]
    return sorted(found, key=lambda p: -p.count("/"))


def find_node(names: NodeNames, kubelet_root: str, node: str) -> list[Step]:
    """The node's host-wide leftovers (after its runtime removed what it knew)."""
    root = os.path.abspath(kubelet_root).rstrip("/") + "/"
    netns_dir = f"/run/netns/{names.netns_prefix}"
    steps = [Step(f"mount {p}", _umount(p))
             for p in mounts_under((root, names.pins_dir + "/", netns_dir))]
    steps += [Step(f"network namespace {n}", _ip("netns", "delete", n))
              for n in _netns(names.netns_prefix)]
    stray = _cgroup_procs(names.cgroup_root)
    if stray:
        steps.append(Step(f"pod processes in cgroup {names.cgroup_root}: "
                          f"{', '.join(map(str, stray))}", _kill(stray)))
    tops = _cgroup_dirs(names.cgroup_root)
    if tops:
        steps.append(Step(f"cgroup {names.cgroup_root} (in {len(tops)} hierarchies)",
                          _rmtree_cgroup(names.cgroup_root)))
    if os.path.isdir(names.pins_dir):
        steps.append(Step(f"folder {names.pins_dir}", _rmtree(names.pins_dir)))
    if os.path.exists(names.lock):  # a kubelet killed outright leaves it
        steps.append(Step(f"file {names.lock}", _remove(names.lock)))
    return steps


async def find_tables(wanted: list[str] | None) -> list[Step]:
    """km's nftables tables in this network namespace (only ``wanted`` names, if given)."""
    code, out, _ = await run(["nft", "-j", "list", "tables", NFT_FAMILY], check=False)
    if code != 0:
        return []
    names = [t["table"]["name"] for t in json.loads(out).get("nftables", []) if "table" in t]
    keep = [n for n in names if (n in wanted if wanted is not None else
                                 n.startswith(TABLE_PREFIXES))]
    return [Step(f"nftables table {NFT_FAMILY} {n}", _nft_delete(n)) for n in keep]


async def find_links(prefixes: tuple[str, ...]) -> list[Step]:
    """Links of this network namespace whose names start with ``prefixes`` (veths first)."""
    _, out, _ = await run(["ip", "-o", "link", "show"], check=False)
    found = []
    for line in out.decode().splitlines():
        parts = line.split(":", 2)
        name = parts[1].strip().split("@")[0] if len(parts) > 2 else ""
        if name.startswith(prefixes):
            found.append(name)
    found.sort(key=lambda n: not n.startswith(VETH_PREFIX))
    return [Step(f"link {n}", _ip("link", "delete", n)) for n in found]


async def find_routes(cluster_cidrs: list[str], links_left: bool) -> list[Step]:
    """km's routes to other nodes' pods (protocol 75, servers/minion/hostgw.py), and the
    ``unreachable`` routes km put over cluster CIDRs, once no km bridge needs them."""
    _, out, _ = await run(["ip", "-4", "-o", "route", "show", "proto", HOSTGW_PROTO],
                          check=False)
    steps = [Step(f"route {line.split()[0]} {' '.join(line.split()[1:3])}",
                  _ip("route", "delete", line.split()[0], "proto", HOSTGW_PROTO))
             for line in out.decode().splitlines() if line.split()]
    if links_left:
        return steps
    for cidr in dict.fromkeys(c for c in cluster_cidrs if c):
        _, out, _ = await run(["ip", "route", "show", "type", "unreachable", cidr], check=False)
        if out.strip():
            steps.append(Step(f"route unreachable {cidr}",
                              _ip("route", "delete", "unreachable", cidr)))
    return steps


async def run(argv: list[str], *, check: bool = True) -> tuple[int, bytes, bytes]:
    """``argv`` run to its end; a program this host lacks (no nft: no tables) answers 127."""
    program = shutil.which(argv[0]) or shutil.which(argv[0], path=_PATH)
    if program is None:
        if check:
            msg = f"{argv[0]} not found"
            raise OSError(msg)
        return 127, b"", b""
    return await _run([program, *argv[1:]], check=check)


def _netns(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
    except FileNotFoundError:
        return []


def _cgroup_dirs(relpath: str) -> list[str]:
    tops = [os.path.join(h, relpath.strip("/")) for h in cgroups.hierarchies()]
    return [t for t in tops if os.path.isdir(t)]


def _cgroup_procs(relpath: str) -> list[int]:
    """Processes in the node's cgroups: km's pods (nothing else is put there)."""
    pids: set[int] = set()
    for top in _cgroup_dirs(relpath):
        for dirpath, _, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(dirpath, "cgroup.procs"), encoding="utf-8") as f:
                        pids.update(int(x) for x in f.read().split())
                except OSError:
                    continue
    pids.discard(os.getpid())
    return sorted(pids)


def _umount(point: str) -> Callable[[], Awaitable[object]]:
    return lambda: run(["umount", "--lazy", point], check=False)


def _ip(*args: str) -> Callable[[], Awaitable[object]]:
    return lambda: run(["ip", *args])


def _nft_delete(table: str) -> Callable[[], Awaitable[object]]:
    return lambda: run(["nft", "delete", "table", NFT_FAMILY, table])


def _kill(pids: list[int]) -> Callable[[], Awaitable[object]]:
    async def kill() -> None:
        processes.kill_all(pids)

    return kill


def _rmtree_cgroup(relpath: str) -> Callable[[], Awaitable[object]]:
    async def remove() -> None:
        import asyncio

        for _ in range(20):  # killed processes leave their cgroup a moment later
            if not cgroups.remove(relpath):
                return
            await asyncio.sleep(0.05)
        stayed = cgroups.remove(relpath)
        if stayed:
            msg = f"cgroup {stayed[0]} stays (busy)"
            raise OSError(msg)

    return remove


def _remove(path: str) -> Callable[[], Awaitable[object]]:
    async def remove() -> None:
        os.remove(path)

    return remove


def _rmtree(path: str) -> Callable[[], Awaitable[object]]:
    async def remove() -> None:
        shutil.rmtree(path)

    return remove


__all__ = ["BRIDGE_PREFIX", "Step", "find_links", "find_node", "find_routes", "find_tables",
           "mounts_under"]
