"""``km minion``: a node's kubelet, proxy and dns as supervised children of this km.pyz.

    flags -> settings (node, isolation, root dir)
    -> credentials: --kubeconfig as given; or the token's join (join.py), once, kept under
       the root dir (store.py) and renewed before expiry (renew.py)
    -> what the node learns from the API (learn.py: cluster domain, podCIDR, DNS address)
    -> one table row per child, checked by its own parser and validate() -> the supervisor
       (hyperkube/supervisor.py): kubelet and proxy at once, dns (namespaces) once the node
       bridge holds its address (the kubelet makes it with the first pod)
    -> until SIGTERM: each child's process group gets SIGTERM, then SIGKILL after 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hyperkube import messages as msg
from hyperkube import supervisor, together
from servers.cleanup import record
from servers.client.errors import ClientError
from servers.client.kubeconfig import load_kubeconfig
from servers.component.options import make_dir
from servers.kubelet import nodeip
from servers.minion import certificates, join, renew
from servers.minion import token as tokens
from servers.minion.learn import Facts, learn
from servers.minion.options import child_args, validate
from servers.minion.store import Store

if TYPE_CHECKING:
    import argparse

__all__ = ["Credentials", "Settings", "run", "settings", "table"]

log = logging.getLogger(__name__)

NEEDS_ROOT = "--isolation namespaces needs root (or use --isolation none)"
BRIDGE_POLL = 0.2
# The kubelet's defaults (and the all-in-one's ranges), for km cleanup's record.
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
# Each child's own check of flags that parse but do not go together ("module:function").
VALIDATORS = {
    "kubelet": ("servers.kubelet.options:validate",),
    "proxy": ("servers.proxy.options:validate",),
}


class MinionError(Exception):
    """The minion cannot start (one line)."""


@dataclass(frozen=True)
class Settings:
    """What the minion decided from its flags."""

    node_name: str
    node_ip: str
    isolation: str
    store: Store


@dataclass
class Credentials:
    """The kubeconfig each child uses, and the CA file the kubelet's API trusts."""

    kubelet: str
    proxy: str
    client_ca: str = ""
    serving: tuple[str, str] | None = None  # the kubelet's serving certificate and key
    roles: list[str] = field(default_factory=list)  # kept by the Keeper (token joins)


def settings(opts: argparse.Namespace) -> Settings:
    """Decide the node and the isolation; MinionError when impossible."""
    isolation = opts.isolation
    if isolation == "auto":
        isolation = "namespaces" if os.geteuid() == 0 else "none"
    if isolation == "namespaces" and os.geteuid() != 0:
        raise MinionError(NEEDS_ROOT)
    name = (opts.node_name or socket.gethostname()).strip().lower()
    return Settings(node_name=name, node_ip=opts.node_ip or node_ip(_server_of(opts), name),
                    isolation=isolation, store=Store(opts.root_dir))


def node_ip(server: str, name: str) -> str:
    """The address this host reaches ``server`` from (k3s' agent picks the same: the other
    nodes and the apiserver reach it there); else the one k3s picks without a server
    (servers/kubelet/nodeip.py). A UDP socket's connect only picks a route: no packet is
    sent."""
    host = urlsplit(server).hostname or ""
    if host:
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((host, urlsplit(server).port or 443))
                return str(probe.getsockname()[0])
        except OSError:
            pass
    return nodeip.node_ip(name).ip


def _server_of(opts: argparse.Namespace) -> str:
    """--server, or the server of --kubeconfig ("" when it cannot be read: said later)."""
    if opts.server or not opts.kubeconfig:
        return str(opts.server)
    try:
        return load_kubeconfig(opts.kubeconfig).server
    except ClientError:
        return ""


def read_token(opts: argparse.Namespace) -> tokens.Token:
    """The join token of --token or --token-file."""
    text = opts.token
    if opts.token_file:
        try:
            text = Path(opts.token_file).read_text()
        except OSError as exc:
            msg_ = f"cannot read --token-file {opts.token_file}: {exc.strerror or exc}"
            raise MinionError(msg_) from None
    return tokens.parse(text)


async def credentials(s: Settings, opts: argparse.Namespace) -> Credentials:
    """The children's credentials: --kubeconfig's, or those of the token's join."""
    if opts.kubeconfig:
        return _given(s, os.path.abspath(opts.kubeconfig))
    token = read_token(opts)
    store = s.store
    if not _joined(store, opts.server, token, s.node_name):
        log.info("joining %s as node %s", opts.server, s.node_name)
        await join.bootstrap(store, opts.server, token, s.node_name,
                             timeout=opts.join_timeout)
    else:
        log.info("node %s joined %s already: reusing %s", s.node_name, opts.server, store.root)
    roles = [i.role for i in join.CLIENT_ROLES]
    serving = certificates.NODE_SERVING.role
    return Credentials(
        kubelet=str(store.kubeconfig("kubelet-client")), proxy=str(store.kubeconfig("proxy")),
        client_ca=str(store.ca), roles=[*roles, serving],
        serving=(str(store.cert(serving)), str(store.key(serving)))
        if _usable(store, serving, s.node_name) else None)


def _joined(store: Store, server: str, token: tokens.Token, node_name: str) -> bool:
    """Whether ``store`` holds this cluster's credentials for this node: the same server, the
    pinned CA, a node certificate of this name that has not expired."""
    try:
        ca = store.ca.read_bytes()
    except OSError:
        return False
    return token.pins(ca) and _usable(store, "kubelet-client", node_name) and all(
        store.has(i.role) and store.server_of(i.role) == server.rstrip("/")
        for i in join.CLIENT_ROLES)


def _usable(store: Store, role: str, node_name: str) -> bool:
    """Whether the role's certificate is there, this node's, and not expired."""
    try:
        cert = store.cert(role).read_bytes()
        name = certificates.common_name(cert)
        _, end = certificates.validity(cert)
    except (OSError, ValueError):
        return False
    return store.key(role).exists() and name == f"system:node:{node_name}" and end > time.time()


def _given(s: Settings, kubeconfig: str) -> Credentials:
    """--kubeconfig: every child uses it; its CA (a file, or its data written under the root
    dir) is the CA the kubelet's API trusts."""
    config = load_kubeconfig(kubeconfig)
    ca = config.ca_file or ""
    if not ca and config.ca_data:
        s.store.write_ca(config.ca_data.encode())
        ca = str(s.store.ca)
    return Credentials(kubelet=kubeconfig, proxy=kubeconfig, client_ca=ca)


def table(s: Settings, creds: Credentials, facts: Facts,
          opts: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """One row per child: the minion's flags, then the ones passed through (they win)."""
    kubelet = [
        "--kubeconfig", creds.kubelet, "--hostname-override", s.node_name,
        "--node-ip", s.node_ip, "--isolation", s.isolation,
        "--root-dir", str(s.store.kubelet_root), "--cluster-domain", facts.cluster_domain]
    if creds.client_ca:
        kubelet += ["--client-ca-file", creds.client_ca]
    if creds.serving:
        kubelet += ["--tls-cert-file", creds.serving[0],
                    "--tls-private-key-file", creds.serving[1]]
    if facts.dns:
        kubelet += ["--cluster-dns", facts.dns]
    rows = [
        ("kubelet", kubelet),
        ("proxy", ["--kubeconfig", creds.proxy, "--hostname-override", s.node_name,
                   "--proxy-mode", "nftables" if s.isolation == "namespaces" else "userspace"]),
    ]
    if facts.dns:
        rows.append(("dns", ["--kubeconfig", creds.proxy, "--bind-address", facts.dns,
                             "--cluster-domain", facts.cluster_domain]))
    return [(name, [*args, *child_args(opts, name)]) for name, args in rows]


def children(rows: list[tuple[str, list[str]]], bridge: asyncio.Event) -> list[supervisor.Child]:
    """The supervised children of ``rows``, each checked by its parser and validate() first;
    dns starts once ``bridge`` is set."""
    import importlib

    from servers import km

    servers = km.make_hyperkube().servers
    for server, opts in together.resolve(servers, rows, prog="km minion"):
        for target in VALIDATORS.get(server.name, ()):
            module, _, func = target.partition(":")
            try:
                getattr(importlib.import_module(module), func)(opts)
            except ValueError as exc:  # each server's OptionsError is a ValueError
                raise together.TableError(msg.GROUP_BAD_FLAGS.format(
                    server=server.name, error=exc)) from None
    return [supervisor.Child(name, [name, *args], after=bridge if name == "dns" else None)
            for name, args in rows]


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Join (or reuse the credentials), learn, then supervise the children until ``stop``."""
    validate(opts)
    s = settings(opts)
    make_dir(s.store.root, "--root-dir", mode=0o700)
    record.write(s.store.root, record.for_this_process(
        s.node_name, s.isolation, str(s.store.kubelet_root), cluster_cidr=CLUSTER_CIDR,
        service_cidr=SERVICE_CIDR))
    joining = asyncio.ensure_future(credentials(s, opts))
    if not await _before_stop(joining, stop):  # SIGTERM while a request waits for its signer
        return msg.EXIT_OK
    creds = joining.result()
    facts = await learn(load_kubeconfig(creds.kubelet), s.node_name,
                        pod_network=s.isolation == "namespaces", stop=stop)
    if facts is None:  # stopped while waiting
        return msg.EXIT_OK
    bridge = asyncio.Event()
    kids = children(table(s, creds, facts, opts), bridge)
    log.info("minion node %s (%s, isolation %s): %s", s.node_name, s.node_ip, s.isolation,
             ", ".join(c.name for c in kids))
    renewed = asyncio.Event()  # the proxy's identity changed: the routes' client reconnects
    side = [asyncio.ensure_future(_bridge_up(facts.dns, bridge, stop))]
    if s.isolation == "namespaces":
        side.append(asyncio.ensure_future(_routes(creds, s.node_name, renewed, stop)))
    if creds.roles:
        side.append(asyncio.ensure_future(_keep(s, creds, opts, kids, renewed, stop)))
    try:
        return await supervisor.run(kids, stop, logs=supervisor.logs_from(opts))
    finally:
        for task in side:
            task.cancel()
        await asyncio.wait(side, timeout=1)


async def _before_stop(task: asyncio.Future[Any], stop: asyncio.Event) -> bool:
    """Wait for ``task`` unless ``stop`` comes first (then cancel it): whether it finished."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    return True


async def _routes(creds: Credentials, node_name: str, renewed: asyncio.Event,
                  stop: asyncio.Event) -> None:
    """The other nodes' podCIDRs routed via their InternalIPs (hostgw.py), as the proxy's
    identity reads the Nodes; reconnected with new credentials after a renewal."""
    from servers.client.rest import Client
    from servers.minion import hostgw

    while not stop.is_set():
        renewed.clear()
        until = asyncio.Event()
        relay = asyncio.ensure_future(_first_of(stop, renewed, until))
        try:
            async with Client(load_kubeconfig(creds.proxy), user_agent="km-minion") as client:
                await hostgw.keep_routes(client, node_name, until)
        except Exception as exc:  # the boundary of the routes task: it must not die unseen
            log.error("pod routes stopped: %s (again in 5 s)", exc or type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
        finally:
            relay.cancel()


async def _first_of(a: asyncio.Event, b: asyncio.Event, then: asyncio.Event) -> None:
    """Set ``then`` once ``a`` or ``b`` is set."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        then.set()
    finally:
        for w in waits:
            w.cancel()


async def _keep(s: Settings, creds: Credentials, opts: argparse.Namespace,
                kids: list[supervisor.Child], renewed: asyncio.Event,
                stop: asyncio.Event) -> None:
    """Renew the certificates; restart the children that use one that changed. The kubelet's
    serving certificate, when the cluster signs one, replaces its self-signed one."""
    by_name = {c.name: c for c in kids}
    users = {"kubelet-client": ("kubelet",), "proxy": ("proxy", "dns"),
             "kubelet-serving": ("kubelet",)}

    def changed(role: str) -> None:
        if role == "kubelet-serving" and creds.serving is None:
            creds.serving = (str(s.store.cert(role)), str(s.store.key(role)))
            kubelet = by_name["kubelet"]
            kubelet.args += ["--tls-cert-file", creds.serving[0],
                             "--tls-private-key-file", creds.serving[1]]
        for name in users[role]:
            if name in by_name:
                supervisor.restart(by_name[name])
        if role == "proxy":
            renewed.set()

    identities = [i for i in (*join.CLIENT_ROLES, certificates.NODE_SERVING)
                  if i.role in creds.roles]
    keeper = renew.Keeper(
        s.store, identities, node_name=s.node_name, server=opts.server,
        token=read_token(opts), on_change=changed, timeout=opts.join_timeout,
        sans=tuple(dict.fromkeys((s.node_name, s.node_ip))))
    try:
        await keeper.run(stop)
    except Exception as exc:  # the boundary of the renewal task: it must not die unseen
        log.error("certificate renewal stopped: %s", exc or type(exc).__name__)


async def _bridge_up(address: str, event: asyncio.Event, stop: asyncio.Event) -> None:
    """Set ``event`` once ``address`` is this host's (the node bridge holds it)."""
    if not address:
        return
    said = False
    while not stop.is_set():
        if _local(address):
            event.set()
            return
        if not said:
            log.info("dns waits for the node bridge's address %s (made with the first pod)",
                     address)
            said = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), BRIDGE_POLL)


def _local(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True
