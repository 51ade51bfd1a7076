"""Every name a runtime makes on the host, derived from its node name.

Several kubelets on one machine never touch each other's pods because each one's bridge,
veths, network namespaces, cgroups and namespace pins carry a key made from its node name
(link names are cut to the kernel's 15 characters, so they carry a hash of it instead).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

IFNAMSIZ = 15  # the kernel's limit on a link name, without the NUL
BRIDGE_PREFIX = "kmb"


@dataclass(frozen=True)
class NodeNames:
    """Names for one node; ``key`` is the node name made safe for paths."""

    key: str
    digest: str
    cgroup_parent: str = ""  # the kubelet's --cgroup-root; "" is the hierarchy's root

    @property
    def bridge(self) -> str:
        """The node bridge, e.g. ``kmb1f3a9c02d4``."""
        return f"{BRIDGE_PREFIX}{self.digest[:10]}"

    @property
    def netns_prefix(self) -> str:
        """Prefix of the node's network namespaces under /run/netns."""
        return f"km-{self.key}-"

    @property
    def cgroup_root(self) -> str:
        """The node's cgroup, under which sandboxes and containers sit."""
        return f"{self.cgroup_parent.rstrip('/')}/km-{self.key}"

    @property
    def pins_dir(self) -> str:
        """Where the pods' ipc/uts pins are mounted (never bound into a container)."""
        return f"/run/km/{self.key}"

    @property
    def lock(self) -> str:
        """The file its kubelet holds an flock on while it runs (one kubelet per node name)."""
        return f"/run/km/{self.key}.lock"

    def netns(self, sandbox_id: str) -> str:
        """The network namespace of one sandbox."""
        return f"{self.netns_prefix}{sandbox_id[:12]}"

    def veth(self, sandbox_id: str) -> str:
        """The host end of one sandbox's veth (15 characters at most)."""
        return f"kmv{self.digest[:4]}{sandbox_id[:8]}"[:IFNAMSIZ]

    def cgroup(self, sandbox_id: str, container_id: str = "") -> str:
        """cgroupsPath of a sandbox, or of one container in it."""
        path = f"{self.cgroup_root}/{sandbox_id}"
        return f"{path}/{container_id}" if container_id else path

    def loopback_cidr(self) -> str:
        """This node's /24 of 127.0.0.0/8 for ``--isolation none`` pods (never 127.0.0.x)."""
        a = 1 + int(self.digest[:4], 16) % 254
        b = int(self.digest[4:6], 16)
        return str(ipaddress.ip_network(f"127.{a}.{b}.0/24"))


def for_node(node_name: str) -> NodeNames:
    """The names of node ``node_name`` (a DNS subdomain; anything else is hashed)."""
    digest = hashlib.sha256(node_name.encode()).hexdigest()
    key = node_name if re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,39}", node_name) else digest[:16]
    return NodeNames(key=key, digest=digest)
