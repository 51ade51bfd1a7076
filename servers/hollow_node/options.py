"""The flags of ``km hollow-node`` (standard library only).

Names follow the kubelet where the kubelet has the knob (``--max-pods``, ``--node-labels``,
``--node-lease-duration-seconds``, ``--node-status-report-frequency``); ``--nodes``,
``--node-prefix``, ``--cpu``, ``--memory`` and ``--ephemeral-storage`` are the hollow node's own
(kubemark and KWOK set them by other means). Values argparse cannot check alone are checked
by ``validate``, which raises ``OptionsError`` (one line, exit 1).
"""

from __future__ import annotations

import argparse
import re

from servers.component.options import (
    OptionsError,
    add_client_flags,
    duration,
    format_duration,
    labels,
    port,
    positive,
)

__all__ = ["add_flags", "validate"]

DEFAULT_PREFIX = "hollow"
DEFAULT_CPU = "32"
DEFAULT_MEMORY = "256Gi"
DEFAULT_EPHEMERAL_STORAGE = "100Gi"
DEFAULT_MAX_PODS = 110  # kubelet's maxPods default
# kubelet defaults (pkg/kubelet/apis/config/v1beta1/defaults.go): a 40 s lease renewed at a
# quarter of it, node status reported every 5 min while leases carry the heartbeat.
DEFAULT_LEASE_DURATION = 40
DEFAULT_RENEW_INTERVAL = 10.0
DEFAULT_STATUS_REPORT = 300.0

# A Kubernetes quantity without a sign: digits with an optional fraction, then a binary or
# decimal suffix or an exponent (k8s.io/apimachinery/pkg/api/resource/quantity.go).
_QUANTITY = re.compile(r"(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?")


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    nodes = parser.add_argument_group("hollow nodes")
    nodes.add_argument(
        "--nodes", type=positive, required=True, metavar="N",
        help="how many nodes this process registers and plays the kubelet for")
    nodes.add_argument(
        "--node-prefix", default=DEFAULT_PREFIX, metavar="PREFIX",
        help="nodes are named PREFIX-0 ... PREFIX-(N-1) (default: %(default)s)")
    nodes.add_argument(
        "--cpu", type=_quantity, default=DEFAULT_CPU, metavar="QUANTITY",
        help="cpu capacity of each node (default: %(default)s)")
    nodes.add_argument(
        "--memory", type=_quantity, default=DEFAULT_MEMORY, metavar="QUANTITY",
        help="memory capacity of each node (default: %(default)s)")
    nodes.add_argument(
        "--ephemeral-storage", type=_quantity, default=DEFAULT_EPHEMERAL_STORAGE,
        metavar="QUANTITY", help="ephemeral-storage capacity of each node (default: %(default)s)")
    nodes.add_argument(
        "--max-pods", type=positive, default=DEFAULT_MAX_PODS, metavar="N",
        help="pods capacity of each node (default: %(default)s)")
    nodes.add_argument(
        "--node-labels", type=labels, default={}, metavar="KEY=VALUE[,...]",
        help="labels added to every node, besides kubernetes.io/hostname, os and arch")
    nodes.add_argument(
        "--kubelet-port", type=port, default=0, metavar="PORT",
        help="the kubelet port the nodes advertise (status.daemonEndpoints); hollow nodes "
        "serve nothing and their addresses are fake, so the default 0 keeps the apiserver "
        "from dialing them for kubectl logs (default: %(default)s)")
    nodes.add_argument(
        "--delete-nodes-on-exit", action="store_true",
        help="delete the nodes (and their leases) on a clean stop; without it they stay "
        "registered and go NotReady, as after a kubelet stops")
    beats = parser.add_argument_group("heartbeats")
    beats.add_argument(
        "--node-lease-duration-seconds", type=positive, default=DEFAULT_LEASE_DURATION,
        metavar="SECONDS", help="leaseDurationSeconds of each node's Lease (default: %(default)s)")
    beats.add_argument(
        "--node-lease-renew-interval", type=duration, default=DEFAULT_RENEW_INTERVAL,
        metavar="DURATION",
        help="each Lease is renewed this often; renewals of all nodes are spread evenly over "
        f"it (default: {format_duration(DEFAULT_RENEW_INTERVAL)})")
    beats.add_argument(
        "--node-status-report-frequency", type=duration, default=DEFAULT_STATUS_REPORT,
        metavar="DURATION",
        help="node status (conditions' heartbeat) is posted this often, spread over it "
        f"(default: {format_duration(DEFAULT_STATUS_REPORT)})")


def validate(opts: argparse.Namespace) -> None:
    """Raise ``OptionsError`` for flags that parse but cannot work."""
    if opts.node_lease_renew_interval <= 0:
        raise OptionsError("--node-lease-renew-interval must be greater than zero")
    if opts.node_status_report_frequency <= 0:
        raise OptionsError("--node-status-report-frequency must be greater than zero")
    if opts.node_lease_renew_interval >= opts.node_lease_duration_seconds:
        raise OptionsError("--node-lease-renew-interval must be shorter than "
                           "--node-lease-duration-seconds")
    name = f"{opts.node_prefix}-{opts.nodes - 1}"
    # A node name is a DNS-1123 subdomain, and the kubernetes.io/hostname label carries it,
    # so it must also be a label value (63 characters at most).
    if len(name) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
        raise OptionsError(f'--node-prefix "{opts.node_prefix}" does not make valid node '
                           f'names ("{name}": lower-case letters, digits, "-" and ".", '
                           "63 characters at most)")





def _quantity(text: str) -> str:
    if not _QUANTITY.fullmatch(text):
        # resource.ErrFormatWrong's text, as the kubelet's flag parsing reports it
        raise argparse.ArgumentTypeError(
            "quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': \"{text}\"")
    return text
