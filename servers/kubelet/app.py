"""``km kubelet``: register the Node, run its pods, serve their logs.

    flags -> runtime (--isolation) -> wait for the apiserver -> register the Node (Lease,
    status) -> the node's pods (fieldSelector spec.nodeName=NAME) feed one worker per pod
    (namespaces: their hostPorts too, linux/hostports.py)
    -> the kubelet API on --port -> until SIGTERM (pods keep running; a restart adopts them)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from typing import TYPE_CHECKING

from aiohttp import web

from servers.client.events import EventRecorder
from servers.client.informer import Informer
from servers.client.resources import NODES, PODS, SERVICES
from servers.client.rest import Client
from servers.component.connect import client_config, wait_for_apiserver
from servers.component.options import make_dir
from servers.kubelet import options
from servers.kubelet.api import healthz_app, make_app, serving_context
from servers.kubelet.linux import hostports
from servers.kubelet.node import NodeAgent, node_ip
from servers.kubelet.runtime import default_isolation, names, open_runtime
from servers.kubelet.workers import Kubelet

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator


__all__ = ["run"]

log = logging.getLogger(__name__)

USER_AGENT = "km-kubelet/0.1"
ROTATE_EVERY = 10.0  # kube's containerLogMonitorInterval
HOUSEKEEPING = 10.0  # how often sandboxes of pods gone from this node are looked for
# A request in flight when SIGTERM comes may hang on a dead link for the client's 60 s (a host
# cut off from its apiserver): what has not ended this long after halt is cancelled, so the
# kubelet stops within the minion's 5 s grace.
STOP_GRACE = 2.0


class KubeletError(Exception):
    """The kubelet cannot start (one line)."""


def _lock(path: str) -> int | None:
    """An fd holding an exclusive flock on ``path`` (made if missing), or None while another
    process holds it. The holder's pid is written into the file for the error message."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(path: str) -> str:
    with contextlib.suppress(OSError, ValueError), open(path, encoding="ascii") as f:
        return f" (pid {int(f.read().strip())})"
    return ""


@contextlib.contextmanager
def _root_locked(root_dir: str) -> Iterator[None]:
    """Hold ``<root-dir>/kubelet.lock``: two kubelets on one root dir would drive the same
    containers against each other."""
    make_dir(root_dir, "--root-dir")
    path = os.path.join(root_dir, "kubelet.lock")
    if (fd := _lock(path)) is None:
        msg = f"another kubelet{_holder(path)} is using --root-dir {root_dir}"
        raise KubeletError(msg)
    try:
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _node_locked(name: str) -> Iterator[None]:
    """As root, hold ``/run/km/<node>.lock``: a node's bridge, cgroup and pins are named after
    it host-wide, so two kubelets of one node name (on two root dirs: an all-in-one and a
    minion, say) would tear down each other's pods. The file goes when the kubelet does."""
    if os.geteuid() != 0:  # without root a kubelet makes nothing host-wide but its root dir
        yield
        return
    path = names.for_node(name).lock
    for _ in range(3):  # a stopping kubelet may unlink the file, or its folder, meanwhile
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = _lock(path)
        except FileNotFoundError:
            continue
        if fd is None:
            msg = (f"node {name} is run by another kubelet{_holder(path)} on this host "
                   "(--hostname-override names this one otherwise)")
            raise KubeletError(msg)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    else:
        msg = f"cannot lock {path}: it keeps being replaced"
        raise KubeletError(msg)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # before the close: a kubelet locking it now fails the inode check
        os.close(fd)


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    options.validate(opts)
    options.check_files(opts)
    name = (opts.hostname_override or socket.gethostname()).lower()
    with _root_locked(opts.root_dir), _node_locked(name):
        return await _run(opts, name, stop)


async def _run(opts: argparse.Namespace, name: str, stop: asyncio.Event) -> int:
    ip = opts.node_ip or node_ip(name)
    isolation = default_isolation() if opts.isolation == "auto" else opts.isolation
    async with Client(client_config(opts), user_agent=USER_AGENT) as client:
        if not await wait_for_apiserver(client, stop):
            return 0
        agent = NodeAgent(client, name, ip=ip, port=0, max_pods=opts.max_pods,
                          labels=dict(opts.node_labels), taints=opts.register_with_taints,
                          runtime_version=f"km-{isolation}://0.1")
        pod_cidr = opts.pod_cidr
        if isolation == "namespaces" and not pod_cidr:
            # kube's order: register, then take the podCIDR the controller-manager gives
            if await agent.register(stop) is None:
                return 0
            pod_cidr = await _pod_cidr(client, name, stop)
            if not pod_cidr:
                return 0
        runtime = open_runtime(isolation, opts.root_dir, name, pod_cidr, opts.cluster_cidr,
                               opts.service_cidr)
        if opts.cgroup_root and hasattr(runtime, "names"):
            runtime.names = dataclasses.replace(runtime.names, cgroup_parent=opts.cgroup_root)
        context = serving_context(opts.tls_cert_file, opts.tls_private_key_file,
                                  opts.client_ca_file, root_dir=opts.root_dir,
                                  node_name=name, node_ip=ip)
        recorder = EventRecorder(client, component="kubelet", host=name)
        services = Informer(client, SERVICES)  # the pods' service env vars
        kubelet = Kubelet(client, runtime, recorder, node_name=name, node_ip=ip,
                          root_dir=opts.root_dir, allocatable=agent.capacity,
                          cluster_dns=[d for d in opts.cluster_dns.split(",") if d],
                          cluster_domain=opts.cluster_domain, resolv_conf=opts.resolv_conf,
                          services=services)
        app = make_app(kubelet, stream_idle_timeout=opts.streaming_connection_idle_timeout)
        runners = [await _serve(app, opts.address, opts.port, context)]
        agent.port = _bound_port(runners[0])
        log.info("kubelet API serving on https://%s:%d", opts.address, agent.port)
        if opts.healthz_port:
            runners.append(await _serve(healthz_app(), "127.0.0.1", opts.healthz_port, None))
        halt = asyncio.Event()
        tasks: list[asyncio.Future[None]] = []
        try:
            if await agent.register(stop) is None:
                return 0
            pods = Informer(client, PODS, field_selector=f"spec.nodeName={name}")
            pods.add_handler(on_add=kubelet.update,
                             on_update=lambda old, new: kubelet.update(new),
                             on_delete=kubelet.delete)
            tasks = [asyncio.ensure_future(services.run(halt)),
                     asyncio.ensure_future(pods.run(halt)),
                     asyncio.ensure_future(recorder.run(halt)),
                     asyncio.ensure_future(agent.heartbeat(halt)),
                     asyncio.ensure_future(_rotate(kubelet, opts, halt)),
                     *hostports.start(pods, name, isolation, halt)]
            if await pods.wait_synced(timeout=None):  # only a synced list tells orphans
                tasks.append(asyncio.ensure_future(_housekeeping(kubelet, pods, halt)))
            await stop.wait()
        finally:
            halt.set()
            await kubelet.stop()
            await _finish(tasks, STOP_GRACE)
            for runner in runners:
                await runner.cleanup()
    return 0


async def _finish(tasks: list[asyncio.Future[None]], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``tasks`` to end, then cancel the rest."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _pod_cidr(client: Client, name: str, stop: asyncio.Event) -> str:
    """The Node's spec.podCIDR (set by the controller-manager), waited for."""
    log.info("waiting for node %s's spec.podCIDR (the controller-manager's node IPAM "
             "sets it; or give --pod-cidr)", name)
    while not stop.is_set():
        with contextlib.suppress(Exception):
            node = await client.get(NODES, name)
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return str(cidr)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return ""


async def _serve(app: web.Application, host: str, port: int,
                 context: object) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context)  # type: ignore[arg-type]
    await site.start()
    return runner


def _bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    return 0


async def _housekeeping(kubelet: Kubelet, pods: Informer, halt: asyncio.Event) -> None:
    """Remove the sandboxes of pods no longer bound to this node, at once (pods deleted
    while the kubelet was down) and then every ``HOUSEKEEPING`` s (kube's kubelet
    HandlePodCleanups on its housekeeping tick, with container GC removing the sandboxes)."""
    while not halt.is_set():
        try:
            await kubelet.remove_orphans({p["metadata"]["uid"] for p in pods.list()})
        except Exception as exc:  # a failed pass is tried again at the next tick
            log.warning("housekeeping: %s", exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(halt.wait(), HOUSEKEEPING)


async def _rotate(kubelet: Kubelet, opts: argparse.Namespace, halt: asyncio.Event) -> None:
    while not halt.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(halt.wait(), ROTATE_EVERY)
        with contextlib.suppress(Exception):
            await kubelet.rotate_logs(opts.container_log_max_size, opts.container_log_max_files)
