"""The nftables tests' network: a fresh namespace per test, endpoints in further namespaces.

Safety (DESIGN.md "Safety"): ``private_netns`` (the kubelet tests' fixture) moves the test's
main thread into a new network namespace with no route out, where the apiserver, the proxy
and the test's own sockets live; nftables tables are per namespace, so the proxy's table
exists only there. Each endpoint is a real process (echo.py) in a namespace of its own,
joined to a bridge in the test namespace by a veth; the pod range (10.244.0.0/24) and the
service range (routed to the bridge, so host connections find a route before nftables' output
hook DNATs them) exist only inside. At the end the endpoint processes are killed and their
namespaces deleted; the rest goes with the test namespace.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.kubelet.conftest import in_private_netns, private_netns
from tests.integration.proxy.lab import ECHO, Api
from tests.support.apiserver import start_apiserver

__all__ = ["private_netns"]

BRIDGE, GATEWAY = "kmpx0", "10.244.0.1"
CLUSTER_CIDR, SERVICE_CIDR = "10.244.0.0/16", "10.96.0.0/12"
ECHO_PORT = 8080


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class NetLab:
    """The test's namespace, its bridge and the endpoint processes in their namespaces."""

    netns: int
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    endpoints: dict[str, str] = field(default_factory=dict)  # name -> ip
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def setup(self) -> None:
        in_private_netns(self.netns)
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        ip("route", "add", SERVICE_CIDR, "dev", BRIDGE)

    def endpoint(self, name: str) -> str:
        """A new endpoint process called ``name`` in its own namespace; its IP."""
        index = len(self.namespaces)
        netns, host_if, address = f"kmpx-{self.token}-{index}", f"kmpxh{index}", \
            f"10.244.0.{10 + index}"
        ip("netns", "add", netns)
        self.namespaces.append(netns)
        ip("link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("link", "set", host_if, "master", BRIDGE, "up")
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "route", "add", "default", "via", GATEWAY)
        proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, str(ECHO), name,
                                 address, str(ECHO_PORT)], stdout=subprocess.PIPE)
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        self.endpoints[name] = address
        return address

    def teardown(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        for netns in self.namespaces:
            subprocess.run(["ip", "netns", "del", netns], check=False, timeout=10)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                              check=False).stdout
        assert f"kmpx-{self.token}" not in left


@pytest.fixture
def netlab(private_netns: int) -> Iterator[NetLab]:
    lab = NetLab(private_netns)
    try:
        lab.setup()
        yield lab
    finally:
        lab.teardown()


@pytest.fixture
def api_in_netns(netlab: NetLab, tmp_path: Path) -> Iterator[Api]:
    """A real apiserver subprocess inside the test's namespace."""
    with start_apiserver(tmp_path / "data") as server:
        yield Api(server.url)
