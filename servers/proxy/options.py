"""The flags of ``km proxy``, in kube-proxy's spelling (standard library only).

``validate(opts)`` settles what argparse cannot: the mode (nftables as root, userspace
otherwise, as the issue asks) and the listener addresses, where ``0`` or an empty value turns
a listener off.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket

from servers.component.options import OptionsError, add_client_flags, duration

MODES = ("nftables", "userspace")
# kube-proxy's defaults (pkg/proxy/apis/config/v1alpha1/defaults.go): health on every address
# at 10256, metrics on loopback at 10249, a full resync every 30 s, at most one sync a second.
DEFAULT_HEALTHZ = "0.0.0.0:10256"
DEFAULT_METRICS = "127.0.0.1:10249"
DEFAULT_SYNC_PERIOD = 30.0
# kube-proxy's default is 1s; km's syncs cost tens of ms (only changed chains are sent), so a
# quarter of that keeps a change's network programming latency under 1 s at p99
# (docs/benchmarks.md: p99 0.7 s at 250ms, 1.5 s at 1s, 1,000 Services x 10 endpoints).
DEFAULT_MIN_SYNC_PERIOD = 0.25
DEFAULT_UDP_TIMEOUT = 0.25  # the userspace proxier's --udp-timeout


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    group = parser.add_argument_group("proxy")
    group.add_argument(
        "--hostname-override", default="", metavar="NAME",
        help="this node's name (default: the host name); it also names the nftables table, "
        "so two proxies on one host never share one")
    group.add_argument(
        "--proxy-mode", choices=MODES, default=None,
        help="nftables: the kernel carries the traffic (needs root); userspace: this process "
        "relays it (default: nftables as root, userspace otherwise)")
    group.add_argument(
        "--cluster-cidr", default="", metavar="CIDR",
        help="the pods' range; ClusterIP traffic from outside it is masqueraded (nftables)")
    group.add_argument(
        "--nodeport-addresses", type=_cidrs, default=[], metavar="CIDR[,CIDR...]",
        help="serve NodePorts only on this node's addresses in these ranges (default: every "
        "address but loopback in nftables mode, every address in userspace mode)")
    group.add_argument(
        "--healthz-bind-address", default=DEFAULT_HEALTHZ, metavar="IP:PORT",
        help="where /healthz and /livez are served; 0 or empty turns them off "
        "(default: %(default)s)")
    group.add_argument(
        "--metrics-bind-address", default=DEFAULT_METRICS, metavar="IP:PORT",
        help="where /metrics is served; 0 or empty turns it off (default: %(default)s)")
    group.add_argument(
        "--sync-period", type=duration, default=DEFAULT_SYNC_PERIOD, metavar="DURATION",
        help="how often every rule is rewritten even without a change (default: 30s)")
    group.add_argument(
        "--min-sync-period", type=duration, default=DEFAULT_MIN_SYNC_PERIOD,
        metavar="DURATION",
        help="the least time between two syncs; changes meanwhile are batched "
             "(default: 250ms; kube-proxy's is 1s)")
    group.add_argument(
        "--udp-timeout", type=duration, default=DEFAULT_UDP_TIMEOUT, metavar="DURATION",
        help="userspace mode: how long an idle UDP flow keeps its endpoint (default: 250ms)")
    group.add_argument(
        "--cleanup", action="store_true",
        help="remove this node's nftables table and exit (rules stay when the proxy stops)")


def _cidrs(text: str) -> list[ipaddress.IPv4Network]:
    found: list[ipaddress.IPv4Network] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid CIDR {part!r}") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise argparse.ArgumentTypeError(f"{part}: only IPv4 is supported")
        found.append(network)
    return found


def bind_address(flag: str, text: str) -> tuple[str, int] | None:
    """``IP:PORT`` as (host, port); ``None`` for ``0`` or empty (the listener is off)."""
    value = text.strip()
    if value in ("", "0"):
        return None
    match = re.fullmatch(r"\[?([0-9a-fA-F.:]+?)\]?:(\d+)", value)
    if not match:
        raise OptionsError(f"{flag}: {text!r} is not IP:PORT")
    host, port = match.group(1), int(match.group(2))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise OptionsError(f"{flag}: {host!r} is not an IP address") from None
    if port > 65535:
        raise OptionsError(f"{flag}: port {port} is out of range")
    return host, port


def validate(opts: argparse.Namespace) -> None:
    """Fill the mode and node name, check the listeners; ``OptionsError`` (one line)."""
    if opts.proxy_mode is None:
        opts.proxy_mode = "nftables" if os.geteuid() == 0 else "userspace"
    if opts.proxy_mode == "nftables" and os.geteuid() != 0:
        raise OptionsError("--proxy-mode nftables needs root; use --proxy-mode userspace")
    opts.hostname_override = (opts.hostname_override or socket.gethostname()).strip().lower()
    if opts.cluster_cidr:
        try:
            ipaddress.IPv4Network(opts.cluster_cidr, strict=False)
        except ValueError:
            raise OptionsError(f"--cluster-cidr: invalid CIDR {opts.cluster_cidr!r}") from None
    opts.healthz = bind_address("--healthz-bind-address", opts.healthz_bind_address)
    opts.metrics = bind_address("--metrics-bind-address", opts.metrics_bind_address)
