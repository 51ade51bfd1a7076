"""The flags of ``km dns`` (standard library only).

kube-dns's spelling where it had one (``--kubeconfig``, ``--master``, ``--cluster-domain``
from kubelet's flag of the same meaning), CoreDNS's defaults otherwise (port 53, metrics on
9153).
"""

from __future__ import annotations

import argparse

from servers.component.options import add_client_flags, port

DEFAULT_PORT = 53
DEFAULT_METRICS_PORT = 9153  # CoreDNS's prometheus plugin
DEFAULT_DOMAIN = "cluster.local"


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    group = parser.add_argument_group("dns")
    group.add_argument(
        "--bind-address", default="0.0.0.0", metavar="IP",
        help="address to serve DNS and metrics on (default: %(default)s)")
    group.add_argument(
        "--port", type=port, default=DEFAULT_PORT, metavar="PORT",
        help="UDP and TCP port for DNS; 0 picks a free one (default: %(default)s)")
    group.add_argument(
        "--metrics-port", type=port, default=DEFAULT_METRICS_PORT, metavar="PORT",
        help="plain-HTTP port for /healthz and /metrics; 0 serves nothing "
        "(default: %(default)s)")
    group.add_argument(
        "--cluster-domain", type=_domain, default=DEFAULT_DOMAIN, metavar="DOMAIN",
        help="the zone of the cluster's names (default: %(default)s)")
    group.add_argument(
        "--upstream", metavar="none|IP[:PORT][,...]",
        help="where names outside the cluster go: servers to forward to, or none to refuse "
        "them (REFUSED) (default: the nameservers of /etc/resolv.conf)")



def _domain(text: str) -> str:
    labels = text.strip(".").split(".")
    if not text.strip(".") or not all(0 < len(label) < 64 for label in labels):
        raise argparse.ArgumentTypeError(f'invalid domain "{text}"')
    return ".".join(labels).lower()
