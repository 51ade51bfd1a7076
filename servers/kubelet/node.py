"""The kubelet's Node: registration with this host's capacity, Lease renewal, status.

As kube's ``pkg/kubelet/kubelet_node_status.go``: create the Node with its whole status
(on AlreadyExists take it over: labels patched in, status posted afresh), then renew the
Lease ``kube-node-lease/NAME`` every 10 s and post the status every ``report`` seconds (kube:
on change or 5 min). The builders it shares with hollow-node are in
``servers.kubelet.nodestatus`` (labels, conditions, Lease); here the figures are the host's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import socket
from typing import TYPE_CHECKING

from servers.apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.informer import Backoff
from servers.client.resources import LEASES, NODES
from servers.kubelet.nodestatus import (
    ATTACH_DETACH,
    LEASE_NAMESPACE,
    conditions,
    default_labels,
    lease,
    micro_time,
    transitions,
)

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.rest import Client

__all__ = ["NodeAgent", "host_capacity", "node_ip"]

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.0-km"
LEASE_DURATION = 40  # kube's nodeLeaseDurationSeconds
LEASE_RENEW = 10.0
STATUS_REPORT = 60.0
# kube's heartbeat client times out after min(nodeStatusUpdateFrequency, lease duration), 10 s
# (cmd/kubelet/app/server.go): a request stuck on a half-open connection after a partition
# (kubernetes#48638) must not hold the Lease unrenewed for the client's whole 60 s.
HEARTBEAT_TIMEOUT = 10.0


def host_capacity(max_pods: int) -> dict[str, str]:
    """cpu, memory, ephemeral-storage and pods of this host (kube's cadvisor figures)."""
    memory_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    disk = os.statvfs("/")
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib}Ki",
            "ephemeral-storage": f"{disk.f_blocks * disk.f_frsize // 1024}Ki",
            "pods": str(max_pods)}


def node_ip(hostname: str) -> str:
    """The host name's address, else 127.0.0.1 (kube: hostname lookup, then the default
    route's interface; km never guesses a routable address it was not given)."""
    try:
        return socket.gethostbyname(hostname)
    except OSError:
        return "127.0.0.1"


def _node_info(runtime_version: str) -> Obj:
    def read(path: str) -> str:
        try:
            with open(path, encoding="ascii") as f:
                return f.read().strip()
        except OSError:
            return ""
    uname = platform.uname()
    pretty = "Linux"
    with contextlib.suppress(OSError), open("/etc/os-release", encoding="utf-8") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    return {"machineID": read("/etc/machine-id"),
            "systemUUID": read("/sys/class/dmi/id/product_uuid") or read("/etc/machine-id"),
            "bootID": read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": uname.release, "osImage": pretty,
            "containerRuntimeVersion": runtime_version, "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux",
            "architecture": "amd64" if uname.machine == "x86_64" else uname.machine}


class NodeAgent:
    """Registers the Node and keeps its Lease and status fresh."""

    def __init__(self, client: Client, name: str, *, ip: str, port: int, max_pods: int,
                 labels: dict[str, str], taints: list[Obj], runtime_version: str) -> None:
        self.client = client
        self.name = name
        self.ip = ip
        self.port = port
        self.labels = default_labels(name, labels)
        self.taints = taints
        self.runtime_version = runtime_version
        self.node: Obj | None = None
        self.since: dict[str, str] = {}
        self.lease: Obj | None = None
        self.capacity = host_capacity(max_pods)

    def status(self) -> Obj:
        return {"capacity": dict(self.capacity), "allocatable": dict(self.capacity),
                "conditions": conditions(self.since),
                "addresses": [{"type": "InternalIP", "address": self.ip},
                              {"type": "Hostname", "address": self.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
                "nodeInfo": _node_info(self.runtime_version)}

    def node_object(self) -> Obj:
        spec: Obj = {"taints": self.taints} if self.taints else {}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": self.labels,
                             "annotations": {ATTACH_DETACH: "true"}},
                "spec": spec, "status": {}}

    async def register(self, stop: asyncio.Event) -> Obj | None:
        """Create or take over the Node (100 ms doubling to 7 s between tries)."""
        backoff = Backoff(initial=0.1, cap=7.0)
        while not stop.is_set():
            try:
                try:
                    node = await self.client.create(NODES, self.node_object())
                except AlreadyExists:
                    node = await self.client.get(NODES, self.name)
                    node = await self.client.patch(
                        NODES, self.name, {"metadata": {"labels": self.labels}})
                self.since = transitions(node)
                self.node = await self.client.patch(NODES, self.name,
                                                    {"status": self.status()},
                                                    patch_type="strategic",
                                                    subresource="status")
                await self._ensure_lease()
                log.info("registered node %s (%s, kubelet port %d)", self.name, self.ip,
                         self.port)
                return self.node
            except (StatusError, ClientError) as exc:
                if isinstance(exc, StatusError) and exc.code < 500 and exc.code != 429:
                    raise
                log.info("registering node %s: %s", self.name, exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff.next())
        return None

    async def _ensure_lease(self) -> None:
        uid = (self.node or {}).get("metadata", {}).get("uid", "")
        fresh = lease(self.name, uid, LEASE_DURATION)
        try:
            self.lease = await self.client.create(LEASES, fresh, LEASE_NAMESPACE)
        except AlreadyExists:
            current = await self.client.get(LEASES, self.name, LEASE_NAMESPACE)
            self.lease = await self.client.update(LEASES, {**current, "spec": fresh["spec"],
                                                           "metadata": {
                                                               **current["metadata"],
                                                               "ownerReferences": fresh[
                                                                   "metadata"][
                                                                   "ownerReferences"]}})

    async def heartbeat(self, stop: asyncio.Event) -> None:
        """Renew the Lease every 10 s; post the node status every ``STATUS_REPORT`` s, or at
        once when its conditions were changed by someone else."""
        loop = asyncio.get_running_loop()
        last_report = loop.time()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), LEASE_RENEW)
            if stop.is_set():
                return
            try:
                await asyncio.wait_for(self._renew(), HEARTBEAT_TIMEOUT)
                due = loop.time() - last_report >= STATUS_REPORT
                if due or await asyncio.wait_for(self._drifted(), HEARTBEAT_TIMEOUT):
                    await asyncio.wait_for(self.client.patch(NODES, self.name, {"status": {
                        "conditions": conditions(self.since)}}, patch_type="strategic",
                        subresource="status"), HEARTBEAT_TIMEOUT)
                    last_report = loop.time()
            except (StatusError, ClientError) as exc:
                log.warning("node heartbeat: %s", exc)
            except asyncio.TimeoutError:
                log.warning("node heartbeat: no answer within %.0fs", HEARTBEAT_TIMEOUT)

    async def _drifted(self) -> bool:
        """Whether the Node's conditions are no longer the ones this kubelet posts (the
        node-lifecycle controller set them Unknown while it was cut off): kube's kubelet reads
        its Node every nodeStatusUpdateFrequency and patches it when it changed
        (``kubelet_node_status.go`` ``nodeStatusHasChanged``), so a node that comes back is
        Ready again within one heartbeat rather than at the next report."""
        node = await self.client.get(NODES, self.name)
        found = {c.get("type"): c.get("status")
                 for c in (node.get("status") or {}).get("conditions") or ()}
        wanted = {c["type"]: c["status"] for c in conditions(self.since)}
        if all(found.get(kind) == status for kind, status in wanted.items()):
            return False
        self.since = transitions(node)
        log.info("node %s: conditions changed elsewhere; posting its status", self.name)
        return True

    async def _renew(self) -> None:
        if self.lease is None:
            await self._ensure_lease()
            return
        spec = {**self.lease["spec"], "renewTime": micro_time()}
        try:
            self.lease = await self.client.update(LEASES, {**self.lease, "spec": spec})
        except Conflict:
            current = await self.client.get(LEASES, self.name, LEASE_NAMESPACE)
            self.lease = await self.client.update(LEASES, {**current, "spec": spec})
        except NotFound:
            self.lease = None
            await self._ensure_lease()
