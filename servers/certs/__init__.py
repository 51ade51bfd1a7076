"""km certs: the CA, certificates and kubeconfigs a small cluster needs, made once."""

from __future__ import annotations

from hyperkube import Server
from servers.certs import options

LONG = """\
certs makes, in one folder (--dir), what a small km cluster needs to talk over TLS: a
certificate authority, the apiserver's serving certificate (for the names and addresses in
--apiserver-san), and a client certificate with a kubeconfig for the admin (group
system:masters), the scheduler, the controller-manager, the proxy and each --node. Files
that exist are kept (run it again to add a node); --force makes everything anew. Private keys
and kubeconfigs are written 0600. Needs the cryptography package (a --portable build has none).

Then:  km apiserver --secure-port 6443 --tls-cert-file DIR/apiserver.crt \\
         --tls-private-key-file DIR/apiserver.key --client-ca-file DIR/ca.crt
       kubectl --kubeconfig DIR/admin.kubeconfig get pods"""


def server() -> Server:
    return Server(
        "certs", run="servers.certs.app:run",
        usage="make the CA, certificates and kubeconfigs of a cluster",
        long=LONG, add_flags=options.add_flags)
