"""km kubelet: runs the pods bound to its node as sandboxed processes (no images).

The server (``app``) registers the Node, renews its Lease, runs one pod worker per pod
(``workers``) over the CRI-shaped runtime seam (``runtime/``; Linux facilities below it in
``linux/``) and serves the kubelet API (``api``: /healthz, /pods, /containerLogs).
"""

from __future__ import annotations

from hyperkube import Server
from servers.kubelet import options

LONG = """\
kubelet registers this host as a Node, keeps its Lease fresh and runs the pods bound to it
(spec.nodeName). There is no image: a container's command and args run as given, from the
host's files, each pod in its own namespaces and cgroup (--isolation namespaces, as root) or
as plain processes on a loopback IP of its own (--isolation none). Logs are served on
--port for kubectl logs through the apiserver.

Example:  km kubelet --kubeconfig node.kubeconfig --isolation none --root-dir /tmp/kubelet"""


def server() -> Server:
    return Server(
        "kubelet", run="servers.kubelet.app:run",
        usage="run the pods bound to this node (the node agent)",
        long=LONG, add_flags=options.add_flags)
