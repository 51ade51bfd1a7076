"""The ``default/kubernetes`` Service, its Endpoints and EndpointSlice: how pods find the apiserver.

kube-apiserver keeps them itself (pkg/controlplane/controller/kubernetesservice/controller.go,
and the endpoint reconciler of pkg/controlplane/reconcilers): the Service takes the first
address of --service-cluster-ip-range, port 443 named ``https`` with the secure port as target;
the Endpoints (``endpointslice.kubernetes.io/skip-mirror``) and the EndpointSlice name the
advertise address and the secure port. They are made at start and checked again every ten
seconds (kube's --endpoint-reconciler interval), so a deleted or edited one comes back.
The advertise address is --advertise-address, else --bind-address unless it is unspecified
(0.0.0.0 or ::), else the host name's address, else 127.0.0.1. km keeps one apiserver's
address (kube's lease reconciler merges several); it is not removed at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

from servers.apimachinery import errors
from servers.apiserver.registry import Registry
from servers.apiserver.resources import RESOURCES
from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NAME = "kubernetes"
NAMESPACE = "default"
INTERVAL_SECONDS = 10.0
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}
SKIP_MIRROR = {"endpointslice.kubernetes.io/skip-mirror": "true"}
SLICE_LABELS = {"kubernetes.io/service-name": NAME}


def advertise_address(advertise: str | None, bind: str) -> str:
    """--advertise-address, else a specific --bind-address, else this host's address."""
    if advertise:
        return advertise
    with contextlib.suppress(ValueError):
        if not ipaddress.ip_address(bind).is_unspecified:
            return bind
    if bind == "localhost":
        return "127.0.0.1"
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def service(cluster_ip: str, port: int) -> Obj:
    return {"metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SERVICE_LABELS)},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "sessionAffinity": "None", "ports": _service_ports(port)}}


def endpoints(address: str, port: int) -> Obj:
    return {"metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SKIP_MIRROR)},
            "subsets": [{"addresses": [{"ip": address}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def endpoint_slice(address: str, port: int) -> Obj:
    family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SLICE_LABELS)},
            "addressType": family,
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}


async def ensure(registry: Registry, address: str, port: int) -> None:
    """Create what is missing; put back ports and addresses that differ."""
    first = registry.service_ranges.first_ip()
    await _ensure(registry, "services", "", service(first, port),
                  lambda cur: (cur.get("spec") or {}).get("ports") == _service_ports(port),
                  _with_ports(port))
    wanted = endpoints(address, port)
    await _ensure(registry, "endpoints", "", wanted,
                  lambda cur: cur.get("subsets") == wanted["subsets"],
                  lambda cur: {**cur, "subsets": wanted["subsets"]})
    piece = endpoint_slice(address, port)
    await _ensure(registry, "endpointslices", "discovery.k8s.io", piece,
                  lambda cur: all(cur.get(k) == piece[k]
                                  for k in ("addressType", "endpoints", "ports")),
                  lambda cur: {**cur, **{k: piece[k]
                                         for k in ("addressType", "endpoints", "ports")}})


@contextlib.asynccontextmanager
async def maintained(registry: Registry, address: str, port: int,
                     interval: float = INTERVAL_SECONDS) -> AsyncIterator[None]:
    """Keep the three objects while the block runs (a failed round is logged and retried)."""

    async def once() -> None:
        try:
            await ensure(registry, address, port)
        except errors.StatusError as exc:
            log.warning("default/kubernetes not reconciled: %s", exc)

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            await once()

    log.info("default/kubernetes: %s, endpoint %s:%d", registry.service_ranges.first_ip(),
             address, port)
    await once()  # in place before the server says it is ready
    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _service_ports(port: int) -> list[Obj]:
    return [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": port}]


def _with_ports(port: int) -> Any:
    def fix(cur: Obj) -> Obj:
        return {**cur, "spec": {**(cur.get("spec") or {}), "ports": _service_ports(port)}}
    return fix


async def _ensure(registry: Registry, plural: str, group: str, wanted: Obj,
                  good: Any, fix: Any) -> None:
    resource = next(r for r in RESOURCES if r.plural == plural and r.group == group)
    target = Target(resource, NAMESPACE, NAME)
    try:
        current = await registry.get(target)
    except errors.NotFound:
        with contextlib.suppress(errors.AlreadyExists):
            await registry.create(Target(resource, NAMESPACE), wanted)
        return
    if not good(current):
        with contextlib.suppress(errors.Conflict, errors.NotFound):
            await registry.update(target, fix(current))
