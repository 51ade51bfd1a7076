"""The flags of ``km kubelet``, in the kubelet's spelling (standard library only).

Defaults are kube's (kubernetes ``pkg/kubelet/apis/config/v1beta1/defaults.go``): port 10250,
healthz port 10248, 110 pods, 10Mi x 5 container log files, cluster domain ``cluster.local``.
``--isolation`` is km's own: ``namespaces`` (runc + conmon, root) or ``none`` (processes).
"""

from __future__ import annotations

import argparse
import ipaddress
import re

from servers.component.options import (
    OptionsError,
    add_client_flags,
    duration,
    labels,
    port,
    positive,
)

__all__ = ["add_flags", "check_files", "parse_size", "parse_taints", "validate"]

DEFAULT_ROOT_DIR = "/var/lib/km/kubelet"
DEFAULT_STREAM_IDLE_TIMEOUT = 4 * 3600.0  # kube's streamingConnectionIdleTimeout, 4h0m0s
ISOLATIONS = ("auto", "namespaces", "none")
_SIZE = re.compile(r"(\d+)(Ki|Mi|Gi|K|M|G)?")
_SIZES = {None: 1, "K": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1 << 10, "Mi": 1 << 20,
          "Gi": 1 << 30}
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    node = parser.add_argument_group("node")
    node.add_argument("--hostname-override", metavar="NAME",
                      help="the Node's name (default: this host's name, lower-cased)")
    node.add_argument("--node-ip", metavar="IP",
                      help="the Node's InternalIP (default: the address the host name resolves to)")
    node.add_argument("--node-labels", type=labels, default={}, metavar="KEY=VALUE[,...]",
                      help="labels to add when registering the node")
    node.add_argument("--register-with-taints", type=parse_taints, default=[],
                      metavar="KEY=VALUE:EFFECT[,...]", help="taints to register the node with")
    node.add_argument("--max-pods", type=positive, default=110, metavar="N",
                      help="pods this node runs at most (default: %(default)s)")
    node.add_argument("--pod-cidr", default="", metavar="CIDR",
                      help="this node's pod range (default: the Node's spec.podCIDR)")
    node.add_argument("--cluster-cidr", default="10.244.0.0/16", metavar="CIDR",
                      help="the cluster's pod range (default: %(default)s)")
    node.add_argument("--service-cidr", default="10.96.0.0/12", metavar="CIDR",
                      help="the cluster's service range (default: %(default)s)")
    node.add_argument("--cgroup-root", default="", metavar="PATH",
                      help="the cgroup under which the node's cgroup (km-NAME) and its pods' go "
                      "(--isolation namespaces; default: the hierarchy's root)")
    node.add_argument("--isolation", choices=ISOLATIONS, default="auto",
                      help="namespaces: each pod in its own namespaces and cgroup (root); none: "
                      "plain processes on a loopback IP per pod; auto: namespaces as root, "
                      "else none (default: %(default)s)")
    node.add_argument("--root-dir", default=DEFAULT_ROOT_DIR, metavar="DIR",
                      help="the kubelet's state: sandboxes, containers, logs, volumes "
                      "(default: %(default)s)")
    serving = parser.add_argument_group("kubelet API")
    serving.add_argument("--address", default="0.0.0.0", metavar="IP",
                         help="the IP the kubelet API listens on (default: %(default)s)")
    serving.add_argument("--port", type=port, default=10250,
                         help="the kubelet API's HTTPS port; 0 picks a free one "
                         "(default: %(default)s)")
    serving.add_argument("--tls-cert-file", metavar="FILE",
                         help="serving certificate (default: a self-signed one in --root-dir)")
    serving.add_argument("--tls-private-key-file", metavar="FILE",
                         help="the serving certificate's key")
    serving.add_argument("--client-ca-file", metavar="FILE",
                         help="CA of the client certificates the kubelet API accepts; without "
                         "it every request is anonymous and refused (401)")
    serving.add_argument("--healthz-port", type=port, default=10248,
                         help="plain-http /healthz on 127.0.0.1; 0 disables "
                         "(default: %(default)s)")
    serving.add_argument("--streaming-connection-idle-timeout", type=duration,
                         default=DEFAULT_STREAM_IDLE_TIMEOUT, metavar="DURATION",
                         help="how long an exec, attach or port-forward stream may go with no "
                         "data either way before it is closed; 0 never closes one "
                         "(default: 4h0m0s)")
    pods = parser.add_argument_group("pods")
    pods.add_argument("--cluster-dns", default="", metavar="IP[,IP]",
                      help="nameservers for pods' resolv.conf")
    pods.add_argument("--cluster-domain", default="cluster.local", metavar="DOMAIN",
                      help="the cluster's DNS domain (default: %(default)s)")
    pods.add_argument("--resolv-conf", default="/etc/resolv.conf", metavar="FILE",
                      help="the resolver configuration pods with dnsPolicy Default get "
                      "(default: %(default)s)")
    pods.add_argument("--container-log-max-size", type=parse_size, default=10 << 20,
                      metavar="SIZE", help="a container's log file is rotated at this size "
                      "(default: 10Mi)")
    pods.add_argument("--container-log-max-files", type=positive, default=5, metavar="N",
                      help="log files kept per container, the live one included "
                      "(default: %(default)s)")


def validate(opts: argparse.Namespace) -> None:
    """Raise ``OptionsError`` for flags that parse but do not go together."""
    if bool(opts.tls_cert_file) != bool(opts.tls_private_key_file):
        raise OptionsError("--tls-cert-file and --tls-private-key-file go together")
    if opts.container_log_max_files < 2:
        raise OptionsError("--container-log-max-files must be at least 2")
    for flag, text in (("--pod-cidr", opts.pod_cidr), ("--cluster-cidr", opts.cluster_cidr),
                       ("--service-cidr", opts.service_cidr)):
        if text:
            _check_cidr(flag, text)


def check_files(opts: argparse.Namespace) -> None:
    """Raise ``OptionsError`` for a serving file the kubelet cannot read. Called as it starts,
    not once the apiserver answers, so a typo shows at once; not in ``validate``, which an
    all-in-one runs before it has made its PKI."""
    for flag, path in (("--client-ca-file", opts.client_ca_file),
                       ("--tls-cert-file", opts.tls_cert_file),
                       ("--tls-private-key-file", opts.tls_private_key_file)):
        if path:
            _check_readable(flag, path)


def _check_cidr(flag: str, text: str) -> None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise OptionsError(f'{flag}: invalid CIDR "{text}"') from None


def _check_readable(flag: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise OptionsError(f"{flag} {path}: {exc.strerror or exc}") from None


def parse_size(text: str) -> int:
    """A byte size as kube's quantities spell it: ``10Mi``, ``512Ki``, ``1000``."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(f'invalid size "{text}" (e.g. 10Mi, 512Ki)')
    return int(match.group(1)) * _SIZES[match.group(2)]


def parse_taints(text: str) -> list[dict[str, str]]:
    """``key=value:Effect,key:Effect`` as ``--register-with-taints`` takes it."""
    taints = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        spec, _, effect = item.rpartition(":")
        key, _, value = spec.partition("=")
        if not key or effect not in _EFFECTS:
            raise argparse.ArgumentTypeError(
                f'invalid taint "{item}": want KEY[=VALUE]:{"|".join(_EFFECTS)}')
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        taints.append(taint)
    return taints
