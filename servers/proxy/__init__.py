"""km proxy: kube-proxy's Service routing over km's apiserver (the light face, stdlib only)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
proxy makes Services route on this node, as kube-proxy does: it watches Services and
EndpointSlices and sends connections for a Service's clusterIP:port (and its NodePorts on the
node's addresses) to the Service's ready endpoints, at random (sessionAffinity ClientIP keeps a
client on one endpoint). A Service with no ready endpoint refuses connections at once.

--proxy-mode nftables (the default as root) programs one nftables table, named after
--hostname-override, in atomic transactions: the kernel carries the traffic, and connections
already made survive a proxy restart. --proxy-mode userspace (the default otherwise) accepts on
each clusterIP:port and NodePort itself and relays TCP and UDP round-robin, the original
kube-proxy design; a single host without root gives the apiserver a loopback service range
(--service-cluster-ip-range 127.96.0.0/16). /healthz is served on --healthz-bind-address,
/metrics on --metrics-bind-address.

Then:  km proxy --kubeconfig node.kubeconfig --hostname-override node1
       curl http://CLUSTER-IP:PORT/"""


def server() -> Server:
    from servers.proxy import options

    return Server(
        "proxy", run="servers.proxy.app:run",
        usage="route Service traffic to endpoints (kube-proxy)", long=LONG,
        aliases=("kube-proxy",), add_flags=options.add_flags)
