"""The flags of ``km certs`` (standard library only)."""

from __future__ import annotations

import argparse

DEFAULT_SERVER = "https://127.0.0.1:6443"
# The kubernetes Service's names, and its ClusterIP: the first address of the apiserver's
# default --service-cluster-ip-range 10.96.0.0/12 (what kubeadm's serving certificate holds).
DEFAULT_SANS = ("127.0.0.1", "localhost", "10.96.0.1", "kubernetes", "kubernetes.default",
                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
DEFAULT_DAYS = 365
DEFAULT_CA_DAYS = 3650


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", required=True, metavar="DIR",
        help="folder to write into (made 0700 if it does not exist)")
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, metavar="URL",
        help="the apiserver's https URL the kubeconfigs point at (default: %(default)s)")
    parser.add_argument(
        "--apiserver-san", type=_names, default=list(DEFAULT_SANS), metavar="NAME[,NAME...]",
        help="IP addresses and DNS names of the apiserver's serving certificate; the host of "
        f"--server is always added (default: {', '.join(DEFAULT_SANS)})")
    parser.add_argument(
        "--node", action="append", default=[], metavar="NAME",
        help="a node to make a kubelet certificate and kubeconfig for (repeatable)")
    parser.add_argument(
        "--days", type=_days, default=DEFAULT_DAYS,
        help="validity of the certificates it signs, in days (default: %(default)s)")
    parser.add_argument(
        "--force", action="store_true",
        help="make every file anew, a new CA included (otherwise existing files are kept)")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no names given")
    return names


def _days(text: str) -> int:
    days = int(text)
    if days < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return days
