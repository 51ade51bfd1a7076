"""The flags of ``km all-in-one``, in k3s' spelling (standard library only).

Its own flags say where the cluster lives and how it is reached (``--data-dir``,
``--bind-address``, ``--secure-port``, ``--node-name`` ...); ``--kube-apiserver-arg FLAG=VALUE``
and its siblings pass any flag of one server through, as k3s' ``--kubelet-arg`` does. Those are
parsed by that server's own parser (hyperkube/together.py), after the all-in-one's choices, so
a passed flag wins.
"""

from __future__ import annotations

import argparse
import ipaddress
import re

DEFAULT_DATA_DIR = "./km-data"
DEFAULT_SECURE_PORT = 6443
ISOLATIONS = ("auto", "namespaces", "none")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")  # a wildcard first label, as x509
# The flag of each server whose arguments pass through, and the server it goes to, in start
# order (k3s' names: --kube-apiserver-arg, --kube-controller-manager-arg, ...).
PASS_THROUGH = (
    ("kube-apiserver-arg", "apiserver"),
    ("kube-controller-manager-arg", "controller-manager"),
    ("kube-scheduler-arg", "scheduler"),
    ("kubelet-arg", "kubelet"),
    ("kube-proxy-arg", "proxy"),
    ("dns-arg", "dns"),
)


def add_flags(parser: argparse.ArgumentParser) -> None:
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
        help="the cluster's state: PKI, the SQLite store, the kubelet's pods, the admin "
        "kubeconfig and the join token (default: %(default)s)")
    cluster.add_argument(
        "--bind-address", default="0.0.0.0", metavar="IP",
        help="address the API serves on; 0.0.0.0 lets other hosts join (default: %(default)s)")
    cluster.add_argument(
        "--secure-port", type=_port, default=DEFAULT_SECURE_PORT, metavar="PORT",
        help="the API's HTTPS port; 0 picks a free one (default: %(default)s)")
    cluster.add_argument(
        "--write-kubeconfig", metavar="PATH",
        help="where the admin kubeconfig is written (default: DATA/admin.kubeconfig)")
    cluster.add_argument(
        "--tls-san", action="extend", default=[], type=_names, metavar="NAME_OR_IP[,...]",
        help="more names or addresses of the API's serving certificate (repeatable)")
    cluster.add_argument(
        "--storage-backend", choices=("sqlite", "etcd"), default="sqlite",
        help="where objects live: SQLite in DATA/db, or etcd (default: %(default)s)")
    cluster.add_argument(
        "--etcd-servers", default="", metavar="URL[,URL...]",
        help="etcd client URLs for --storage-backend etcd")
    node = parser.add_argument_group("node")
    node.add_argument(
        "--node-name", default="", metavar="NAME",
        help="this node's name, also the leader-election identity of the scheduler and the "
        "controller-manager (default: the host name, lower-cased)")
    node.add_argument(
        "--node-ip", default="", metavar="IP",
        help="this node's InternalIP and the API's advertised address (default: --bind-address "
        "unless 0.0.0.0, else the address of the default route's interface, as k3s picks it; "
        "loopback only when no other interface has an address)")
    node.add_argument(
        "--isolation", choices=ISOLATIONS, default="auto",
        help="namespaces: pods in their own namespaces on the node bridge, nftables proxy, "
        "cluster DNS (root); none: pods as processes on loopback addresses, userspace proxy, "
        "a loopback service range, no cluster DNS; auto: namespaces as root, else none "
        "(default: %(default)s)")
    add_pass_through(parser, PASS_THROUGH)


def add_pass_through(parser: argparse.ArgumentParser,
                     rows: tuple[tuple[str, str], ...]) -> None:
    """One ``--FLAG FLAG=VALUE`` per row ``(flag, server)`` (km minion uses it too)."""
    passing = parser.add_argument_group(
        "any server's own flags (FLAG=VALUE or FLAG, with or without the dashes; repeatable)")
    for flag, server in rows:
        passing.add_argument(
            f"--{flag}", action="append", default=[], type=_pass_through, metavar="FLAG=VALUE",
            help=f"a flag of km {server}")


def server_args(opts: argparse.Namespace, server: str,
                rows: tuple[tuple[str, str], ...] = PASS_THROUGH) -> list[str]:
    """The flags passed through to ``server``, as argv tokens."""
    for flag, name in rows:
        if name == server:
            return list(getattr(opts, flag.replace("-", "_")))
    return []


def _pass_through(text: str) -> str:
    """``FLAG=VALUE`` (or ``--FLAG=VALUE``, or a bare ``FLAG``) as one token ``--FLAG=VALUE``."""
    item = text.strip().lstrip("-")
    name = item.partition("=")[0]
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise argparse.ArgumentTypeError(f'"{text}" is not FLAG=VALUE')
    return f"--{item}"


def _names(text: str) -> list[str]:
    """Host names or IP addresses, comma-separated (as k3s' string slices take them)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if not (_is_ip(name) or _DNS_NAME.fullmatch(name)):
            raise argparse.ArgumentTypeError(f'"{name}" is not a host name or an IP address')
    if not names:
        raise argparse.ArgumentTypeError("no names given")
    return names


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f'invalid port "{text}" (0 to 65535)')
    return int(text)


def is_unspecified(address: str) -> bool:
    """0.0.0.0 or ::, the addresses that mean every interface."""
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False
