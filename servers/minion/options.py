"""The flags of ``km minion``, in k3s agent's spelling where k3s has one (standard library only).

Joining: ``--server URL --token TOKEN`` (or ``--token-file``) does Kubernetes' TLS bootstrap;
``--kubeconfig FILE`` uses credentials made elsewhere. ``--kubelet-arg``, ``--kube-proxy-arg``
and ``--dns-arg`` pass any flag of a child through (all-in-one's parsing, options there); the
children's log flags are hyperkube's supervisor's.
"""

from __future__ import annotations

import argparse

from hyperkube import supervisor_options
from servers.all_in_one.options import ISOLATIONS, add_pass_through, server_args

__all__ = ["DEFAULT_ROOT_DIR", "PASS_THROUGH", "OptionsError", "add_flags", "child_args",
           "validate"]

DEFAULT_ROOT_DIR = "/var/lib/km/minion"
# The flag of each child whose arguments pass through, and the child, in start order.
PASS_THROUGH = (
    ("kubelet-arg", "kubelet"),
    ("kube-proxy-arg", "proxy"),
    ("dns-arg", "dns"),
)
NEED_CREDENTIALS = "give --server and --token (or --token-file), or --kubeconfig"
BOTH_CREDENTIALS = "--kubeconfig and --server/--token go not together: pick one way to join"


class OptionsError(ValueError):
    """Flags that parse but do not go together (one line)."""


def add_flags(parser: argparse.ArgumentParser) -> None:
    joining = parser.add_argument_group("joining the cluster")
    joining.add_argument(
        "--server", default="", metavar="URL",
        help="the apiserver to join, e.g. https://HOST:6443 (with --token)")
    joining.add_argument(
        "--token", default="", metavar="TOKEN",
        help="the join token, K10<sha256 of the cluster CA>::<id>.<secret> (the control "
        "plane's DATA/node-token): the CA is pinned by its hash")
    joining.add_argument(
        "--token-file", default="", metavar="FILE", help="read the join token from FILE")
    joining.add_argument(
        "--kubeconfig", default="", metavar="FILE",
        help="join with this kubeconfig's credentials instead (every child uses it)")
    node = parser.add_argument_group("node")
    node.add_argument(
        "--node-name", default="", metavar="NAME",
        help="this node's name, the children's --hostname-override (default: the host "
        "name, lower-cased)")
    node.add_argument(
        "--node-ip", default="", metavar="IP",
        help="this node's InternalIP (default: the address this host reaches the server "
        "from, as k3s' agent picks it)")
    node.add_argument(
        "--root-dir", default=DEFAULT_ROOT_DIR, metavar="DIR",
        help="the node's state: credentials (pki/, *.kubeconfig) and the kubelet's root "
        "(DIR/kubelet) (default: %(default)s)")
    node.add_argument(
        "--isolation", choices=ISOLATIONS, default="auto",
        help="namespaces: pods in their own namespaces on the node bridge, nftables proxy, "
        "cluster DNS on the bridge (root); none: pods as processes on loopback addresses, "
        "userspace proxy, no cluster DNS; auto: namespaces as root, else none "
        "(default: %(default)s)")
    node.add_argument(
        "--join-timeout", type=_seconds, default=300.0, metavar="SECONDS",
        help="how long to wait for the cluster to sign the node's certificates "
        "(default: %(default)s)")
    add_pass_through(parser, PASS_THROUGH)
    supervisor_options.add_flags(parser)


def validate(opts: argparse.Namespace) -> None:
    """Raise OptionsError unless exactly one way of joining is given."""
    token = bool(opts.token or opts.token_file)
    if opts.kubeconfig and (opts.server or token):
        raise OptionsError(BOTH_CREDENTIALS)
    if not opts.kubeconfig and not (opts.server and token):
        raise OptionsError(NEED_CREDENTIALS)
    if opts.token and opts.token_file:
        raise OptionsError("--token and --token-file go not together")


def child_args(opts: argparse.Namespace, child: str) -> list[str]:
    """The flags passed through to ``child`` (kubelet, proxy or dns), as argv tokens."""
    return server_args(opts, child, PASS_THROUGH)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f'"{text}" is not a positive number of seconds')
    return value
