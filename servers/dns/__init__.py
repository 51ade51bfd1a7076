"""km dns: the cluster's DNS server, in kube-dns's and CoreDNS's role (the light face)."""

from __future__ import annotations

from hyperkube import Server

LONG = """\
dns answers the cluster's names as the Kubernetes DNS specification says, as kube-dns and
CoreDNS do: <service>.<ns>.svc.<domain> (A/AAAA of the ClusterIP, or of a headless
Service's ready endpoints; <hostname>.<service>... for StatefulSet pods; CNAME for an
ExternalName), SRV _<port>._<proto>.<service>..., PTR for ClusterIPs and endpoints,
a-b-c-d.<ns>.pod.<domain>, and dns-version.<domain> TXT. It watches Services, EndpointSlices
and Endpoints and answers from memory; other names go to --upstream. UDP and TCP on --port;
/healthz and /metrics (CoreDNS's names) on --metrics-port.

Then:  km dns --kubeconfig dns.kubeconfig --upstream 192.0.2.53
       dig @127.0.0.1 kubernetes.default.svc.cluster.local"""


def server() -> Server:
    from servers.dns import options

    return Server(
        "dns", run="servers.dns.app:run",
        usage="serve the cluster's DNS names (kube-dns, CoreDNS)", long=LONG,
        aliases=("kube-dns",), add_flags=options.add_flags)
