"""A network namespace of the test's own, for e2e tests whose pods get their own addresses.

    with network_namespace("km-aio") as ns:       # lo up, no route out (DESIGN.md "Safety")
        inside(ns, "ip", "-4", "route")           # a command run in it
        subprocess.run([*enter(ns), "kubectl", ...])

Everything the cluster under test makes on the network (the node bridge, veths, 10.x
addresses, nftables tables) lives only in there and goes with it; the pods' own namespaces
are the kubelet's to remove before this one is deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator

import pytest

__all__ = ["enter", "inside", "network_namespace"]


def enter(ns: str) -> list[str]:
    """Run in the namespace ``ns`` (nsenter, not ``ip netns exec``: that one remounts /sys,
    and runc then finds no cgroup mounts)."""
    return ["nsenter", f"--net=/run/netns/{ns}"]


def inside(ns: str, *cmd: str, check: bool = True,
           timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``cmd`` run in ``ns``, its output as text."""
    return subprocess.run([*enter(ns), *cmd], capture_output=True, text=True,
                          check=check, timeout=timeout)


@contextlib.contextmanager
def network_namespace(prefix: str) -> Iterator[str]:
    """A new named namespace ``PREFIX-XXXXXX`` with loopback up and no route out; deleted
    after, whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("a network namespace of the test's own needs root")
    name = f"{prefix}-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        inside(name, "ip", "link", "set", "lo", "up")
        routes = inside(name, "ip", "-4", "route").stdout
        assert "default" not in routes, "the test namespace must have no route out"
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)
