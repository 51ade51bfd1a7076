"""Named network namespaces (``ip netns``): one per pod sandbox, under /run/netns.

A named namespace is a bind mount of the namespace onto ``/run/netns/NAME`` (ip-netns(8)),
so it outlives the processes in it, as a pod's network must outlive its containers.
"""

from __future__ import annotations

import os

from servers.kubelet.linux.command import find_program, run

RUN_DIR = "/run/netns"


def path(name: str) -> str:
    """The file that pins namespace ``name`` (what runc's spec joins)."""
    return os.path.join(RUN_DIR, name)


def exists(name: str) -> bool:
    """True when namespace ``name`` is pinned."""
    return os.path.exists(path(name))


def names(prefix: str) -> list[str]:
    """The pinned namespaces whose name starts with ``prefix``."""
    try:
        return sorted(n for n in os.listdir(RUN_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


async def add(name: str) -> None:
    """Create namespace ``name`` (idempotent); its loopback is still down."""
    if not exists(name):
        await run([find_program("ip", "iproute2"), "netns", "add", name])


async def delete(name: str) -> None:
    """Remove namespace ``name`` (idempotent); its veth ends go with it."""
    if exists(name):
        await run([find_program("ip", "iproute2"), "netns", "delete", name])
