"""km all-in-one: the whole one-node cluster in one process (the light face, stdlib only)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
all-in-one runs a whole one-node cluster in one process, as k3s does: apiserver (SQLite in
--data-dir, or etcd), controller-manager, scheduler, kubelet, proxy and dns, talking over
loopback HTTPS, each with its own identity. On first start it makes the cluster's PKI in
DATA/pki (the serving certificate covers the node IP, every --tls-san and the kubernetes
Service names), an admin kubeconfig and a join token (DATA/node-token); later starts reuse
them. A server that fails is restarted with backoff while the others keep running.

As root (--isolation namespaces) pods get their own namespaces on the node bridge, Services
route through nftables and pods resolve cluster names through km dns on the bridge address.
Without root (--isolation none) pods are processes on loopback addresses, Services get a
loopback range served by the userspace proxy, and pods have no cluster DNS.

Then:  kubectl --kubeconfig km-data/admin.kubeconfig get nodes
       km all-in-one --kubelet-arg max-pods=50 --kube-apiserver-arg v=2"""


def server() -> Server:
    from servers.all_in_one import options

    return Server(
        "all-in-one", run="servers.all_in_one.app:run",
        usage="the whole one-node cluster in one process (k3s style)", long=LONG,
        add_flags=options.add_flags)
