"""km minion: a node's kubelet, proxy and dns as supervised child processes (the light face)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
minion runs a node: km kubelet, km proxy and (with pod networking) km dns as child processes
of this same km.pyz, restarted when they exit (after 5 s, then backing off), their output in
rotated logs with --log-dir, stopped by process group on SIGTERM (SIGKILL after 5 s), as
Kubernetes-Mesos' km minion did.

It joins as a k3s agent does: --server URL --token TOKEN pins the cluster CA by the token's
hash, then asks the cluster to sign the node's certificates (Kubernetes' TLS bootstrap:
CertificateSigningRequests made with the bootstrap token) and keeps them under --root-dir,
renewing them before they expire. --kubeconfig FILE uses credentials made elsewhere. The
rest (cluster domain, the node's podCIDR and so its DNS address) it learns from the API.

Then:  km minion --server https://HOST:6443 --token "$(cat km-data/node-token)"
       km minion --kubeconfig node.kubeconfig --kubelet-arg max-pods=50"""


def server() -> Server:
    from servers.minion import options

    return Server(
        "minion", run="servers.minion.app:run",
        usage="a node: kubelet, proxy and dns as supervised child processes", long=LONG,
        add_flags=options.add_flags)
