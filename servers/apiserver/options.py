"""The apiserver's flags, in Kubernetes' spelling where it has one (standard library only).

``validate(opts)`` checks what argparse cannot (flags that need each other, the loopback-only
plain port) and ``plain_port(opts)`` says whether and where plain HTTP is served.
"""

from __future__ import annotations

import argparse
import ipaddress

from servers.apiserver.storage import BACKENDS, DEFAULT_BACKEND

DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = "./km-data"
NOT_LOOPBACK = ("--bind-address {address} is not a loopback address, and the plain-HTTP port "
                "(--port) serves loopback only: use --secure-port to serve other addresses")
NEEDS = "{flag} needs {other}"
AUTHORIZATION_MODES = ("AlwaysAllow", "Node", "RBAC")  # authz.MODES, kept stdlib-only
# Node address types (core/v1 NodeAddressType), and the order km tries them to reach a kubelet.
NODE_ADDRESS_TYPES = ("Hostname", "InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS")
DEFAULT_KUBELET_ADDRESS_TYPES = ("InternalIP", "Hostname", "ExternalIP")
# kube-apiserver's node port range (pkg/kubeapiserver/options DefaultServiceNodePortRange);
# the service range is kubeadm's (kube-apiserver alone would take 10.0.0.0/24).
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = "30000-32767"


def add_flags(parser: argparse.ArgumentParser) -> None:
    serving = parser.add_argument_group("serving")
    serving.add_argument(
        "--bind-address", default="127.0.0.1", metavar="IP",
        help="address to serve on; the plain-HTTP port needs a loopback one "
        "(default: %(default)s)")
    serving.add_argument(
        "--advertise-address", metavar="IP",
        help="the address the default/kubernetes Endpoints name (default: --bind-address, "
        "or this host's address when that is 0.0.0.0)")
    serving.add_argument(
        "--port", type=int, default=None,
        help="port to serve plain HTTP on, loopback only, every request trusted as "
        f"system:admin; 0 picks a free one (default: {DEFAULT_PORT}, off with --secure-port)")
    serving.add_argument(
        "--secure-port", type=int, default=None, metavar="PORT",
        help="port to serve HTTPS on, where requests authenticate; 0 picks a free one "
        "(default: off)")
    serving.add_argument(
        "--tls-cert-file", metavar="FILE",
        help="the HTTPS serving certificate (PEM; intermediates after it)")
    serving.add_argument(
        "--tls-private-key-file", metavar="FILE", help="the private key of --tls-cert-file")
    authn = parser.add_argument_group("authentication (on the HTTPS port)")
    authn.add_argument(
        "--client-ca-file", metavar="FILE",
        help="client certificates signed by this CA authenticate: CN is the user, O the groups")
    authn.add_argument(
        "--token-auth-file", metavar="FILE",
        help='bearer tokens, one per line: token,user,uid,"group1,group2"')
    authn.add_argument(
        "--anonymous-auth", type=_bool, nargs="?", const=True, default=False,
        metavar="true|false",
        help="let requests without credentials in as system:anonymous; otherwise they get "
        "401, except /healthz, /livez, /readyz and /version (default: %(default)s)")
    authn.add_argument(
        "--enable-bootstrap-token-auth", type=_bool, nargs="?", const=True, default=False,
        metavar="true|false",
        help="let bootstrap tokens in (Secrets of type bootstrap.kubernetes.io/token in "
        "kube-system), as system:bootstrap:ID in group system:bootstrappers: how nodes join "
        "(default: %(default)s)")
    authn.add_argument(
        "--service-account-key-file", action="append", metavar="FILE",
        help="PEM public keys (or certificates, or private keys) that verify service account "
        "tokens; repeatable (default: the signing key's public half)")
    authn.add_argument(
        "--service-account-signing-key-file", metavar="FILE",
        help="the RSA or EC private key that signs service account tokens (TokenRequest)")
    authn.add_argument(
        "--service-account-issuer", action="append", metavar="URL",
        help="the tokens' iss: the first signs, every one verifies; repeatable "
        "(default: https://kubernetes.default.svc.cluster.local)")
    authn.add_argument(
        "--service-account-jwks-uri", metavar="URL",
        help="jwks_uri of /.well-known/openid-configuration (default: ISSUER/openid/v1/jwks)")
    authn.add_argument(
        "--service-account-extend-token-expiration", type=_bool, nargs="?", const=True,
        default=True, metavar="true|false",
        help="pod-bound tokens asked for 3607 s (the kubelet's) last a year, with "
        "warnafter at the asked end, as kube-apiserver's (default: %(default)s)")
    authn.add_argument(
        "--api-audiences", type=lambda text: [a for a in text.split(",") if a],
        metavar="AUD,...",
        help="audiences a token must carry to reach this server (default: the issuer)")
    authz = parser.add_argument_group("authorization")
    authz.add_argument(
        "--authorization-mode", type=_modes, default="AlwaysAllow", metavar="MODE[,MODE...]",
        help="authorizers, asked in order until one allows or denies: AlwaysAllow lets every "
        "request through; Node gives each kubelet identity (system:node:NAME in group "
        "system:nodes) what a node needs, with NodeRestriction limiting its writes to its own "
        "Node, Lease and the pods bound to it; RBAC allows what the Roles and ClusterRoles "
        "bound to the user grant (and binds nodes to nothing). Clusters with nodes use "
        "Node,RBAC, as kubeadm does (default: %(default)s, as kube-apiserver)")
    _add_kubelet_flags(parser)
    services = parser.add_argument_group("services")
    services.add_argument(
        "--service-cluster-ip-range", type=service_cidr, default=DEFAULT_SERVICE_CIDR,
        metavar="CIDR",
        help="the range Services' cluster IPs come from; its first address is the "
        "default/kubernetes Service's. A single host without root can give a loopback range "
        "(e.g. 127.96.0.0/16) that km proxy's userspace mode serves (default: %(default)s)")
    services.add_argument(
        "--service-node-port-range", type=node_port_range, default=DEFAULT_NODE_PORT_RANGE,
        metavar="FIRST-LAST",
        help="the ports NodePort Services get, both ends included (default: %(default)s)")
    admission = parser.add_argument_group("admission")
    admission.add_argument(
        "--default-not-ready-toleration-seconds", type=_seconds, default=300, metavar="N",
        help="tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration the "
        "DefaultTolerationSeconds admission gives every pod without one (default: "
        "%(default)s)")
    admission.add_argument(
        "--default-unreachable-toleration-seconds", type=_seconds, default=300, metavar="N",
        help="the same for node.kubernetes.io/unreachable:NoExecute (default: %(default)s)")
    storage = parser.add_argument_group("storage")
    storage.add_argument(
        "--storage-backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND,
        help="where objects live: an embedded SQLite file, or an etcd cluster "
        "(default: %(default)s)")
    storage.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
        help="folder of the SQLite store (default: %(default)s)")
    storage.add_argument(
        "--etcd-servers", type=_urls, default=[], metavar="URL[,URL...]",
        help="etcd client URLs for --storage-backend etcd, e.g. http://127.0.0.1:2379")
    storage.add_argument(
        "--compaction-interval", type=float, default=300.0, metavar="SECONDS",
        help="how often history older than one interval is compacted away; 0 never "
        "(default: %(default)s)")


def _seconds(text: str) -> int:
    """A non-negative whole number of seconds."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"invalid seconds {text!r}: want a whole number >= 0"
        raise argparse.ArgumentTypeError(msg)
    return value


def _add_kubelet_flags(parser: argparse.ArgumentParser) -> None:
    kubelet = parser.add_argument_group("kubelet client (kubectl logs)")
    kubelet.add_argument(
        "--kubelet-client-certificate", metavar="FILE",
        help="client certificate the apiserver presents to kubelets (PEM)")
    kubelet.add_argument(
        "--kubelet-client-key", metavar="FILE",
        help="the private key of --kubelet-client-certificate")
    kubelet.add_argument(
        "--kubelet-certificate-authority", metavar="FILE",
        help="CA that signs the kubelets' serving certificates; without it they are not "
        "verified")
    kubelet.add_argument(
        "--kubelet-preferred-address-types", type=_address_types,
        default=DEFAULT_KUBELET_ADDRESS_TYPES, metavar="TYPE[,TYPE...]",
        help="which of a node's status.addresses to reach its kubelet at, in order of "
        f"preference (default: {','.join(DEFAULT_KUBELET_ADDRESS_TYPES)})")


def _address_types(text: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    for kind in types:
        if kind not in NODE_ADDRESS_TYPES:
            msg = f"unknown node address type {kind!r} (known: {', '.join(NODE_ADDRESS_TYPES)})"
            raise argparse.ArgumentTypeError(msg)
    if not types:
        msg = "needs at least one node address type"
        raise argparse.ArgumentTypeError(msg)
    return types


def _modes(text: str) -> str:
    """``Node,RBAC``: known modes, each once (``servers.apiserver.authz.parse_modes``)."""
    modes = [m.strip() for m in text.split(",")]
    for mode in modes:
        if mode not in AUTHORIZATION_MODES:
            msg = f"{mode!r} is not a valid mode (one of {', '.join(AUTHORIZATION_MODES)})"
            raise argparse.ArgumentTypeError(msg)
        if modes.count(mode) > 1:
            raise argparse.ArgumentTypeError(f"{mode!r} has mode specified more than once")
    return ",".join(modes)


def _urls(text: str) -> list[str]:
    urls = [u.strip() for u in text.split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise argparse.ArgumentTypeError(f"not an http(s) URL: {url}")
    return urls


class OptionsError(ValueError):
    """Flags that parse but do not go together (one line, no secret)."""


def plain_port(opts: argparse.Namespace) -> int | None:
    """The plain-HTTP port: --port if given, else the default unless --secure-port is."""
    if opts.port is not None:
        return int(opts.port)
    return None if opts.secure_port is not None else DEFAULT_PORT


def validate(opts: argparse.Namespace) -> None:
    """Raise OptionsError for flags that do not go together."""
    if plain_port(opts) is not None and not _loopback(opts.bind_address):
        raise OptionsError(NOT_LOOPBACK.format(address=opts.bind_address))
    for flag, other in (("kubelet_client_certificate", "kubelet_client_key"),
                        ("kubelet_client_key", "kubelet_client_certificate")):
        if getattr(opts, flag, None) and not getattr(opts, other, None):
            raise OptionsError(NEEDS.format(flag=_flag(flag), other=_flag(other)))
    if opts.secure_port is not None:
        for flag in ("tls_cert_file", "tls_private_key_file"):
            if not getattr(opts, flag):
                raise OptionsError(NEEDS.format(flag="--secure-port", other=_flag(flag)))
        return
    for flag in ("tls_cert_file", "tls_private_key_file", "client_ca_file", "token_auth_file"):
        if getattr(opts, flag):
            raise OptionsError(NEEDS.format(flag=_flag(flag), other="--secure-port"))


def service_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """argparse ``type=``: one CIDR with room for a Service beside the reserved addresses."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid CIDR {text!r}: {exc}") from None
    if network.num_addresses < 4:
        raise argparse.ArgumentTypeError(f"{text} is too small (at least a /30 or /126)")
    return network


def node_port_range(text: str) -> range:
    """argparse ``type=``: ``FIRST-LAST``, ``FIRST+COUNT`` or one ``PORT``, as apimachinery's
    ``net.ParsePortRange``; the range includes both ends."""
    spec = text.strip()
    try:
        if "-" in spec:
            low, high = (int(part) for part in spec.split("-", 1))
        elif "+" in spec:
            low, count = (int(part) for part in spec.split("+", 1))
            high = low + count
        else:
            low = high = int(spec)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port range {text!r}") from None
    if not 0 < low <= high <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port range {text!r}")
    return range(low, high + 1)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    msg = f"not true or false: {text}"
    raise argparse.ArgumentTypeError(msg)
