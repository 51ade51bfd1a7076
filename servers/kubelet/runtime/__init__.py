"""The node's container runtime, behind one CRI-shaped seam (STYLE.md R19).

``interface.Runtime`` is the seam the kubelet drives. Two implementations, chosen from this
table by ``--isolation`` and imported only when chosen (as storage backends are, R9):

- ``namespaces`` (the default as root): runc + conmon, each pod in its own network, pid,
  uts, ipc and mount namespaces and cgroup, on a veth into the node bridge.
- ``none``: plain processes under km's own monitor (``monitor.py``), each pod on its own
  loopback address; it needs nothing but the Python running km, /bin/sh and util-linux.

``namespaces`` needs root, runc, conmon and iproute2.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servers.kubelet.runtime.interface import Runtime

RUNTIMES = {
    "namespaces": "servers.kubelet.runtime.oci:NamespacesRuntime",
    "none": "servers.kubelet.runtime.process:ProcessRuntime",
}


def default_isolation() -> str:
    """``namespaces`` as root, else ``none``."""
    return "namespaces" if os.geteuid() == 0 else "none"


def open_runtime(isolation: str, root_dir: str, node_name: str, pod_cidr: str = "",
                 cluster_cidr: str = "", service_cidr: str = "") -> Runtime:
    """The runtime for ``isolation``; ``RuntimeUnavailable`` says in one line why not.

    The CIDRs matter to ``namespaces`` only: pods get addresses from ``pod_cidr``; the rest
    of ``cluster_cidr`` is unreachable from the node and ``service_cidr`` goes to its bridge.
    """
    from servers.kubelet.runtime.errors import InvalidConfig

    if isolation not in RUNTIMES:
        msg = f"unknown isolation {isolation!r} (choose {' or '.join(RUNTIMES)})"
        raise InvalidConfig(msg)
    module, _, name = RUNTIMES[isolation].partition(":")
    cls = getattr(importlib.import_module(module), name)
    if isolation == "namespaces":
        if not pod_cidr:
            msg = "--isolation namespaces needs the node's podCIDR"
            raise InvalidConfig(msg)
        runtime: Runtime = cls(root_dir, node_name, pod_cidr, cluster_cidr, service_cidr)
    else:
        runtime = cls(root_dir, node_name)
    return runtime
