"""``km all-in-one``: apiserver, controller-manager, scheduler, kubelet, proxy and dns in one
process, on hyperkube's in-proc runner (hyperkube/together.py), as k3s runs its server.

    flags -> settings (node, isolation, ranges) -> PKI, admin kubeconfig, join token (pki.py)
    -> one table row per server, each parsed by that server's own parser (a passed-through
       --X-arg wins) and checked by its own validate() -> together.run:
         apiserver                                    at once
         controller-manager, scheduler, proxy         once the apiserver answers
         kubelet                                      once the node's podCIDR is known
                                                      (namespaces; at once with none)
         dns (namespaces only)                        then, once the node bridge holds the
                                                      podCIDR's first address (first pod)
    -> until SIGTERM; a failing server is restarted with backoff, the others keep running.

The components talk to the apiserver on https://127.0.0.1:PORT, each with its own client
certificate (kube's identities), the apiserver authorizes with Node,RBAC. The scheduler and
the controller-manager take the node name as their leader-election identity, so a restart
finds its own name in the Lease and leads at once instead of waiting the lease out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperkube import messages as msg
from hyperkube import together
from servers.all_in_one import bootstrap, join, pki
from servers.all_in_one.options import is_unspecified, server_args
from servers.cleanup import record
from servers.component.options import make_dir

if TYPE_CHECKING:
    import argparse

    from hyperkube.server import Runner

__all__ = ["Settings", "run", "settings", "table"]

log = logging.getLogger(__name__)

CLUSTER_CIDR = "10.244.0.0/16"  # the controller-manager's --cluster-cidr (flannel's default)
SERVICE_CIDR = "10.96.0.0/12"   # kubeadm's service range
LOOPBACK_SERVICE_CIDRS = ("127.96.0.0/16", "127.97.0.0/16")
NONE_MODE = ("isolation none: pods run as processes on loopback addresses, Services get the "
             "loopback range {range} through the userspace proxy, and pods have no cluster DNS "
             "(a single host)")
NODE_IP_FALLBACK = ("no interface but loopback has an address: node IP {ip} ({how}), which "
                    "only this host reaches (--node-ip sets another)")
NO_MOUNTS = ("isolation none: this host gives no user namespace ({why}), so pods cannot mount "
             "volumes such as the ServiceAccount token (CreateContainerError); run as root, or "
             "set automountServiceAccountToken: false in them")
BRIDGE_POLL = 0.1
NEEDS_ROOT = "--isolation namespaces needs root (or use --isolation none)"
PORT_TAKEN = "--secure-port {port} on {address} is taken: {error}"
# Each server's own check of flags that parse but do not go together ("module:function").
VALIDATORS = {
    "apiserver": ("servers.apiserver.options:validate",),
    "controller-manager": ("servers.controller_manager.options:validate",
                           "servers.component.options:validate_leader_election"),
    "scheduler": ("servers.component.options:validate_leader_election",),
    "kubelet": ("servers.kubelet.options:validate",),
    "proxy": ("servers.proxy.options:validate",),
}


class AllInOneError(Exception):
    """The all-in-one cannot start (one line)."""


@dataclass(frozen=True)
class Settings:
    """What the all-in-one decided from its flags: the node, the mode, paths and ranges."""

    data_dir: Path
    node_name: str
    node_ip: str
    isolation: str
    bind_address: str
    port: int
    service_cidr: str
    kubeconfig: Path

    @property
    def pki(self) -> Path:
        return self.data_dir / "pki"

    @property
    def server(self) -> str:
        """The URL the components (and the admin kubeconfig) reach the apiserver at."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def service_ip(self) -> str:
        """The kubernetes Service's ClusterIP: the service range's first address."""
        return str(ipaddress.ip_network(self.service_cidr)[1])


def settings(opts: argparse.Namespace) -> Settings:
    """Decide the node, the isolation, the port and the ranges; AllInOneError when impossible."""
    isolation = opts.isolation
    if isolation == "auto":
        isolation = "namespaces" if os.geteuid() == 0 else "none"
    if isolation == "namespaces" and os.geteuid() != 0:
        raise AllInOneError(NEEDS_ROOT)
    name = (opts.node_name or socket.gethostname()).strip().lower()
    node_ip = opts.node_ip or (_host_ip(name) if is_unspecified(opts.bind_address)
                               else opts.bind_address)
    data_dir = Path(opts.data_dir).absolute()
    return Settings(
        data_dir=data_dir, node_name=name, node_ip=node_ip, isolation=isolation,
        bind_address=opts.bind_address, port=_port(opts.bind_address, opts.secure_port),
        service_cidr=SERVICE_CIDR if isolation == "namespaces" else _loopback_range(name),
        kubeconfig=Path(opts.write_kubeconfig or data_dir / "admin.kubeconfig"))


def _host_ip(name: str) -> str:
    """The node IP as k3s picks it (servers/kubelet/nodeip.py), said in one line."""
    from servers.kubelet import nodeip

    choice = nodeip.node_ip(name)
    if choice.fallback:
        log.warning(NODE_IP_FALLBACK.format(ip=choice.ip, how=choice.how))
    else:
        log.info("node IP %s: %s", choice.ip, choice.how)
    return choice.ip


def _port(address: str, port: int) -> int:
    """``port``, checked free on ``address`` (one line at once rather than an apiserver failing
    over and over); for 0, a free one picked now (the kubeconfigs must name it)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            raise AllInOneError(PORT_TAKEN.format(port=port, address=address,
                                                  error=exc.strerror or exc)) from None
        return int(sock.getsockname()[1])


def _loopback_range(node_name: str) -> str:
    """A loopback service range that misses this node's loopback pod /24 (kubelet's)."""
    from servers.kubelet.runtime.names import for_node

    pods = ipaddress.ip_network(for_node(node_name).loopback_cidr())
    return next(r for r in LOOPBACK_SERVICE_CIDRS if not pods.overlaps(ipaddress.ip_network(r)))


def table(s: Settings, opts: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """One row per server: the all-in-one's flags, then the ones passed through (they win)."""
    p = s.pki
    ca = str(p / "ca.crt")
    leader = ["--leader-elect-identity", s.node_name, "--bind-address", "127.0.0.1",
              "--client-ca-file", ca]
    storage = ["--storage-backend", opts.storage_backend, "--data-dir", str(s.data_dir / "db")]
    if opts.etcd_servers:
        storage += ["--etcd-servers", opts.etcd_servers]
    kubelet_address = "0.0.0.0" if is_unspecified(s.bind_address) else s.node_ip
    rows = [
        ("apiserver", [
            "--bind-address", s.bind_address, "--secure-port", str(s.port),
            "--tls-cert-file", str(p / "apiserver.crt"),
            "--tls-private-key-file", str(p / "apiserver.key"), "--client-ca-file", ca,
            "--authorization-mode", "Node,RBAC",
            "--kubelet-client-certificate", str(p / "kubelet-client.crt"),
            "--kubelet-client-key", str(p / "kubelet-client.key"),
            "--kubelet-certificate-authority", ca,
            "--advertise-address", s.node_ip, *_signing(s),
            # TLS bootstrap of other hosts: their token, and cluster-info read anonymously
            "--enable-bootstrap-token-auth", "--anonymous-auth=true",
            "--service-cluster-ip-range", s.service_cidr, *storage]),
        ("controller-manager", [
            "--kubeconfig", str(p / "controller-manager.kubeconfig"),
            "--allocate-node-cidrs", "--cluster-cidr", CLUSTER_CIDR,
            "--cluster-signing-cert-file", ca, "--cluster-signing-key-file",
            str(p / "ca.key"), *leader]),
        ("scheduler", ["--kubeconfig", str(p / "scheduler.kubeconfig"), *leader]),
        ("kubelet", [
            "--kubeconfig", str(p / f"node-{s.node_name}.kubeconfig"),
            "--hostname-override", s.node_name, "--node-ip", s.node_ip,
            "--isolation", s.isolation, "--root-dir", str(s.data_dir / "kubelet"),
            "--address", kubelet_address, "--tls-cert-file", str(p / "kubelet.crt"),
            "--tls-private-key-file", str(p / "kubelet.key"), "--client-ca-file", ca,
            "--cluster-cidr", CLUSTER_CIDR, "--service-cidr", s.service_cidr]),
        ("proxy", [
            "--kubeconfig", str(p / "proxy.kubeconfig"), "--hostname-override", s.node_name,
            "--proxy-mode", "nftables" if s.isolation == "namespaces" else "userspace",
            "--cluster-cidr", CLUSTER_CIDR,
            "--healthz-bind-address", f"{_listen(s.bind_address)}:10256",
            *(["--nodeport-addresses", "127.0.0.0/8"] if _loopback(s.bind_address) else [])]),
    ]
    if s.isolation == "namespaces":
        # The proxy's identity reads what dns needs (services, endpoints, endpointslices);
        # the bind address is the node bridge's, known once the node has its podCIDR.
        rows.append(("dns", ["--kubeconfig", str(p / "proxy.kubeconfig")]))
    return [(name, [*args, *server_args(opts, name)]) for name, args in rows]


def _signing(s: Settings) -> list[str]:
    """Service account tokens, in both modes. The signer turns on the ServiceAccount
    admission, which gives every pod the kube-api-access volume at /var/run/secrets/...;
    under --isolation none the kubelet mounts it in a mount namespace of the container's own
    (servers/kubelet/runtime/mountns.py; without root, inside a user namespace)."""
    return ["--service-account-signing-key-file", str(s.pki / "sa.key")]


def _mounts_check(s: Settings) -> None:
    """Under --isolation none without root, say at once (one line) when this host allows no
    user namespace: every pod with a volume away from its host path, the ServiceAccount
    token's included, would wait with CreateContainerError saying the same."""
    if s.isolation != "none" or os.geteuid() == 0:
        return
    from servers.kubelet.runtime.process import mounts_unavailable

    why = mounts_unavailable()
    if why:
        log.warning(NO_MOUNTS.format(why=why))


def _join_url(s: Settings) -> str:
    """The API's URL as other hosts reach it (cluster-info's server): the node IP when the
    API listens on every address, else the address it listens on."""
    host = s.node_ip if is_unspecified(s.bind_address) else s.bind_address
    return f"https://{_listen(host)}:{s.port}"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _listen(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def check(members: list[together.Member]) -> None:
    """Run each server's own validate() now: a bad passed-through flag is one line, exit 1."""
    import importlib

    for member in members:
        for target in VALIDATORS.get(member.name, ()):
            module, _, func = target.partition(":")
            try:
                getattr(importlib.import_module(module), func)(member.opts)
            except ValueError as exc:  # each server's OptionsError is a ValueError
                raise together.TableError(msg.GROUP_BAD_FLAGS.format(
                    server=member.name, error=exc)) from None


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Make the PKI, plan the servers, run them together until ``stop``."""
    s = settings(opts)
    from servers import km

    members = together.plan(km.make_hyperkube().servers, table(s, opts), prog="km all-in-one")
    check(members)
    make_dir(s.data_dir, "--data-dir", mode=0o700)
    # for km cleanup: which node runs here, its kubelet's root, and this process
    record.write(s.data_dir, record.for_this_process(
        s.node_name, s.isolation, str(s.data_dir / "kubelet"), cluster_cidr=CLUSTER_CIDR,
        service_cidr=s.service_cidr))
    sans = pki.apiserver_sans(s.node_name, s.node_ip, s.bind_address,
                              list(opts.tls_san), s.service_ip)
    await pki.ensure(s.pki, server=s.server, sans=sans, node_name=s.node_name,
                     node_ip=s.node_ip)
    pki.write_admin_kubeconfig(s.pki, s.kubeconfig)
    token = pki.ensure_token(s.data_dir / "node-token", s.pki / "ca.crt")
    ca_pem = (s.pki / "ca.crt").read_bytes()
    if s.isolation == "none":
        log.info(NONE_MODE.format(range=s.service_cidr))
        _mounts_check(s)
    steps = bootstrap.Steps(s.pki / "admin.kubeconfig", s.node_name,
                            pod_network=s.isolation == "namespaces",
                            join=lambda client: join.publish(client, token, ca_pem,
                                                             _join_url(s)))
    by_name = {m.name: m for m in members}
    for member in members:
        if member.name == "dns":
            member.runner = _after(steps.node_ready, _once_local(member.runner))
        elif member.name == "kubelet":
            member.runner = _after(steps.node_ready, member.runner)
        elif member.name != "apiserver":
            member.runner = _after(steps.api_ready, member.runner)
    log.info("all-in-one node %s (%s), API on https://%s:%d, admin kubeconfig %s",
             s.node_name, s.node_ip, s.bind_address, s.port, s.kubeconfig)
    task = asyncio.ensure_future(_set_up(steps, stop, by_name))
    routes = asyncio.ensure_future(_pod_routes(s, steps, stop))
    try:
        code = await together.run(members, stop)
    finally:
        for side in (task, routes):
            side.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await side
    return msg.EXIT_FAILURE if steps.failed else code


async def _pod_routes(s: Settings, steps: bootstrap.Steps, stop: asyncio.Event) -> None:
    """With a pod network, the other nodes' podCIDRs routed via their InternalIPs (km
    minion's host-gw, servers/minion/hostgw.py), read with the proxy's identity."""
    if s.isolation != "namespaces" or not await _wait_either(steps.api_ready, stop):
        return
    from servers.client.kubeconfig import load_kubeconfig
    from servers.client.rest import Client
    from servers.minion import hostgw

    while not stop.is_set():
        try:
            async with Client(load_kubeconfig(s.pki / "proxy.kubeconfig"),
                              user_agent="km-all-in-one") as client:
                await hostgw.keep_routes(client, s.node_name, stop)
        except Exception as exc:  # the boundary of the routes task: it must not die unseen
            log.error("pod routes stopped: %s (again in 5 s)", exc or type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)


async def _wait_either(event: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for ``event`` or ``stop``; whether ``event`` came first."""
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    return event.is_set() and not stop.is_set()


async def _set_up(steps: bootstrap.Steps, stop: asyncio.Event,
                  members: dict[str, together.Member]) -> None:
    """The set-up steps; one that fails for good stops the whole cluster (exit 1), since the
    servers waiting on it would never start."""
    try:
        await steps.run(stop, members)
    except Exception as exc:  # the boundary of the set-up task: it must not die unseen
        log.error("all-in-one set-up failed: %s", exc or type(exc).__name__)
        steps.failed = True
        stop.set()


def _after(event: asyncio.Event, runner: Runner) -> Runner:
    """``runner``, started once ``event`` is set (at once if it is; never if stop comes first)."""

    async def wait_then_run(opts: argparse.Namespace, stop: asyncio.Event) -> Any:
        if not event.is_set():
            waiting = asyncio.ensure_future(event.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            stopping.cancel()
            if not event.is_set():
                return 0
        return await runner(opts, stop)

    return wait_then_run


def _once_local(runner: Runner) -> Runner:
    """``runner`` (dns), started once its --bind-address is this host's: the node bridge
    holding it is made by the kubelet with the first pod, and until then no pod asks."""

    async def wait_then_run(opts: argparse.Namespace, stop: asyncio.Event) -> Any:
        said = False
        while not _local(opts.bind_address):
            if not said:
                log.info("dns waits for the node bridge's address %s (made with the first pod)",
                         opts.bind_address)
                said = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), BRIDGE_POLL)
            if stop.is_set():
                return 0
        return await runner(opts, stop)

    return wait_then_run


def _local(address: str) -> bool:
    """Whether ``address`` is one of this host's (a socket can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True
