"""The flags of ``km controller-manager``, in kube-controller-manager's spelling (stdlib only).

Controller names are kube's (``cmd/kube-controller-manager/names/controller_names.go``): the
canonical ``replicationcontroller-controller`` style and the short aliases kube still takes
(``replicationcontroller``, ``endpoint``, ``nodelifecycle``, ...). ``--controllers`` is a
list of ``*`` (every controller on by default), ``NAME`` (on) and ``-NAME`` (off); a name kube
does not know is refused in one line, as kube does.
"""

from __future__ import annotations

import argparse
import ipaddress

from servers.component.options import (
    OptionsError,
    add_client_flags,
    add_leader_election_flags,
    add_serving_flags,
    boolean,
    duration,
    nonnegative,
    positive,
)

# kube-controller-manager's secure port (pkg/controller/apis/config: KubeControllerManagerPort).
DEFAULT_SECURE_PORT = 10257
LEASE_NAME = "kube-controller-manager"

# kube's controller names (canonical) and the short aliases kube still accepts for them.
KNOWN: dict[str, tuple[str, ...]] = {
    "replicationcontroller-controller": ("replicationcontroller",),
    "endpoints-controller": ("endpoint",),
    "node-lifecycle-controller": ("nodelifecycle",),
    "taint-eviction-controller": (),
    "node-ipam-controller": ("nodeipam",),
    "pod-garbage-collector-controller": ("podgc",),
    "garbage-collector-controller": ("garbagecollector",),
    "serviceaccount-token-controller": ("serviceaccount-token",),
    "endpointslice-controller": ("endpointslice",),
    "endpointslice-mirroring-controller": ("endpointslicemirroring",),
    "resourcequota-controller": ("resourcequota",),
    "namespace-controller": ("namespace",),
    "serviceaccount-controller": ("serviceaccount",),
    "daemonset-controller": ("daemonset",),
    "job-controller": ("job",),
    "deployment-controller": ("deployment",),
    "replicaset-controller": ("replicaset",),
    "horizontal-pod-autoscaler-controller": ("horizontalpodautoscaling",),
    "disruption-controller": ("disruption",),
    "statefulset-controller": ("statefulset",),
    "cronjob-controller": ("cronjob",),
    "certificatesigningrequest-signing-controller": ("csrsigning",),
    "certificatesigningrequest-approving-controller": ("csrapproving",),
    "certificatesigningrequest-cleaner-controller": ("csrcleaner",),
    "ttl-controller": ("ttl",),
    "bootstrap-signer-controller": ("bootstrapsigner",),
    "token-cleaner-controller": ("tokencleaner",),
    "persistentvolume-binder-controller": ("persistentvolume-binder",),
    "persistentvolume-attach-detach-controller": ("attachdetach",),
    "persistentvolume-expander-controller": ("persistentvolume-expander",),
    "clusterrole-aggregation-controller": ("clusterrole-aggregation",),
    "persistentvolumeclaim-protection-controller": ("pvc-protection",),
    "persistentvolume-protection-controller": ("pv-protection",),
    "ttl-after-finished-controller": ("ttl-after-finished",),
    "root-ca-certificate-publisher-controller": ("root-ca-cert-publisher",),
    "ephemeral-volume-controller": ("ephemeral-volume",),
    "service-lb-controller": ("service",),
    "node-route-controller": ("route",),
    "cloud-node-lifecycle-controller": ("cloud-node-lifecycle",),
    "legacy-serviceaccount-token-cleaner-controller": ("legacy-service-account-token-cleaner",),
    "validatingadmissionpolicy-status-controller": (),
    "service-cidr-controller": (),
    "storageversion-garbage-collector-controller": ("storage-version-gc",),
    "resourceclaim-controller": ("resource-claim-controller",),
}
# The controllers km runs, in start order (app.CONSTRUCTORS names their code). The others
# of KNOWN are accepted in --controllers and never started.
IMPLEMENTED = (
    "replicationcontroller-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "node-ipam-controller",
    "pod-garbage-collector-controller",
    "garbage-collector-controller",
    "replicaset-controller",
    "deployment-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "disruption-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "certificatesigningrequest-approving-controller",
    "certificatesigningrequest-signing-controller",
    "certificatesigningrequest-cleaner-controller",
    "token-cleaner-controller",
)
# Off unless named (kube's ControllerDescriptor.IsDisabledByDefault).
DISABLED_BY_DEFAULT = frozenset({"bootstrap-signer-controller", "token-cleaner-controller"})
_ALIASES = {alias: name for name, aliases in KNOWN.items() for alias in aliases}


def canonical(name: str) -> str | None:
    """The canonical controller name for ``name`` (itself or an alias), None if unknown."""
    return name if name in KNOWN else _ALIASES.get(name)


def _controllers(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def check_controllers(items: list[str]) -> None:
    """``OptionsError`` for a name kube does not know (kube's message; exit 1)."""
    for item in items:
        bare = item[1:] if item.startswith("-") else item
        if item != "*" and canonical(bare) is None:
            raise OptionsError(f'"{bare}" is not in the list of known controllers')


def enabled_controllers(items: list[str]) -> list[str]:
    """The implemented controllers ``--controllers`` turns on, in a fixed order
    (``controllerutil.IsControllerEnabled``: ``-name`` wins, then ``name``, then ``*``)."""
    on = {canonical(i) for i in items if not i.startswith("-") and i != "*"}
    off = {canonical(i[1:]) for i in items if i.startswith("-")}
    star = "*" in items
    return [name for name in IMPLEMENTED if name not in off and (
        name in on or (star and name not in DISABLED_BY_DEFAULT))]


def _mask(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid mask size "{text}"') from None
    if not 0 < size <= 128:
        raise argparse.ArgumentTypeError(f"mask size {size} must be between 1 and 128")
    return size


def _slice_size(text: str) -> int:
    """1 to 1000, the range kube allows the EndpointSlice controllers' sizes."""
    value = nonnegative(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 1000: {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid rate "{text}"') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    group = parser.add_argument_group("controllers")
    group.add_argument(
        "--controllers", type=_controllers, default=["*"], metavar="NAME[,NAME...]",
        help="which controllers to run: '*' every controller on by default, 'foo' also "
        "foo, '-foo' not foo (kube's names, e.g. replicationcontroller, endpoint, "
        "nodelifecycle, taint-eviction-controller, nodeipam, podgc, garbagecollector) "
        "(default: *)")
    _add_syncs(group)
    _add_node_flags(parser)
    group = parser.add_argument_group("garbage collection")
    group.add_argument(
        "--enable-garbage-collector", type=boolean, nargs="?", const=True, default=True,
        metavar="true|false",
        help="run the garbage collector (ownerReferences); needs the apiserver's "
        "deletion support too (default: true)")
    group.add_argument(
        "--max-endpoints-per-slice", type=_slice_size, default=100, metavar="N",
        help="the most endpoints one EndpointSlice holds, 1-1000 (default: %(default)s)")
    group.add_argument(
        "--mirroring-max-endpoints-per-subset", type=_slice_size, default=1000, metavar="N",
        help="the most addresses of one Endpoints subset mirrored to EndpointSlices, "
        "1-1000 (default: %(default)s)")
    group.add_argument(
        "--terminated-pod-gc-threshold", type=nonnegative, default=12500, metavar="N",
        help="the number of terminated pods kept before the pod GC deletes the oldest; "
        "0 keeps them all (default: %(default)s)")
    group = parser.add_argument_group("service accounts")
    group.add_argument(
        "--root-ca-file", metavar="FILE",
        help="the CA published as kube-root-ca.crt in every namespace (default: the "
        "kubeconfig's certificate authority)")
    _add_signing_flags(parser)
    add_leader_election_flags(parser, resource_name=LEASE_NAME)
    add_serving_flags(parser, default_port=DEFAULT_SECURE_PORT)


def _add_signing_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("certificates (csrsigning)")
    group.add_argument(
        "--cluster-signing-cert-file", metavar="FILE",
        help="the CA certificate (PEM) that signs the kube-apiserver-client, "
        "kube-apiserver-client-kubelet and kubelet-serving CSRs; without it and "
        "--cluster-signing-key-file the signing controller does not run")
    group.add_argument(
        "--cluster-signing-key-file", metavar="FILE",
        help="the private key (PEM, ECDSA) of --cluster-signing-cert-file")
    group.add_argument(
        "--cluster-signing-duration", type=duration, default=365 * 24 * 3600.0,
        metavar="DURATION",
        help="the longest validity of a signed certificate; a CSR's expirationSeconds may "
        "ask for less (default: 8760h0m0s)")


def _add_syncs(group: argparse._ArgumentGroup) -> None:
    for flag, default, what in (
            ("rc", 5, "replication controllers"),
            ("endpoint", 5, "services (endpoints)"),
            ("gc", 20, "garbage collector workers"),
            # kube's other controllers' flags, accepted with kube's defaults for the
            # controllers that come next (km does not run them yet).
            ("replicaset", 5, "replica sets"),
            ("deployment", 5, "deployments"),
            ("job", 5, "jobs"),
            ("cron-job", 5, "cron jobs"),
            ("daemonset", 2, "daemon sets"),
            ("statefulset", 5, "stateful sets"),
            ("namespace", 10, "namespaces being deleted"),
            ("service-endpoint", 5, "services for EndpointSlices"),
            ("serviceaccount-token", 5, "service account tokens (not run by km yet)"),
            ("ttl-after-finished", 5, "finished jobs' TTLs")):
        group.add_argument(
            f"--concurrent-{flag}-syncs", type=positive, default=default, metavar="N",
            help=f"how many {what} are synced at once (default: %(default)s)")


def _add_node_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("nodes")
    group.add_argument(
        "--node-monitor-period", type=duration, default=5.0, metavar="DURATION",
        help="how often node health is checked (default: 5s)")
    group.add_argument(
        "--node-monitor-grace-period", type=duration, default=50.0, metavar="DURATION",
        help="how long a node may go without a heartbeat (Ready condition or Lease) "
        "before it is marked unhealthy (default: 50s)")
    group.add_argument(
        "--node-startup-grace-period", type=duration, default=60.0, metavar="DURATION",
        help="how long a node that never reported may stay silent (default: 1m0s)")
    group.add_argument(
        "--node-eviction-rate", type=_rate, default=0.1, metavar="PER_SECOND",
        help="nodes per second that get NoExecute taints when a zone is healthy "
        "(default: %(default)s)")
    group.add_argument(
        "--allocate-node-cidrs", type=boolean, nargs="?", const=True, default=False,
        metavar="true|false",
        help="give every node a pod CIDR (spec.podCIDR) from --cluster-cidr "
        "(default: false)")
    group.add_argument(
        "--cluster-cidr", default="", metavar="CIDR",
        help="the range node pod CIDRs come from, e.g. 10.244.0.0/16")
    group.add_argument(
        "--node-cidr-mask-size", type=_mask, default=None, metavar="BITS",
        help="prefix length of each node's pod CIDR (default: 24 for IPv4, 64 for IPv6)")


def validate(opts: argparse.Namespace) -> None:
    """Raise ``OptionsError`` for flags that parse but cannot work together."""
    check_controllers(opts.controllers)
    if bool(opts.cluster_signing_cert_file) != bool(opts.cluster_signing_key_file):
        raise OptionsError("--cluster-signing-cert-file and --cluster-signing-key-file go "
                           "together")
    if opts.cluster_signing_duration < 600:
        raise OptionsError("--cluster-signing-duration must be at least 10m0s")
    if opts.node_monitor_grace_period <= 0:
        raise OptionsError("--node-monitor-grace-period must be greater than zero")
    if opts.node_monitor_period <= 0:
        raise OptionsError("--node-monitor-period must be greater than zero")
    if not opts.allocate_node_cidrs:
        return
    if not opts.cluster_cidr:
        raise OptionsError("--cluster-cidr is required with --allocate-node-cidrs")
    try:
        network = ipaddress.ip_network(opts.cluster_cidr, strict=False)
    except ValueError:
        msg = f'--cluster-cidr: invalid CIDR address: "{opts.cluster_cidr}"'
        raise OptionsError(msg) from None
    if opts.node_cidr_mask_size is None:
        opts.node_cidr_mask_size = 24 if network.version == 4 else 64
    if not network.prefixlen <= opts.node_cidr_mask_size <= network.max_prefixlen:
        msg = (f"--node-cidr-mask-size {opts.node_cidr_mask_size} does not fit "
               f"--cluster-cidr {opts.cluster_cidr}")
        raise OptionsError(msg)
