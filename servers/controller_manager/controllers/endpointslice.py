"""endpointslice: every Service with a selector gets EndpointSlices listing its pods.

The sync of ``pkg/controller/endpointslice/endpointslice_controller.go`` (``syncService``)
and the endpoints of ``staging/src/k8s.io/endpointslice/utils.go`` (``podToEndpoint``):

* a Service without a selector is left to the mirroring controller, an ExternalName one
  gets nothing; one that is gone has its slices deleted (kube leaves that to the garbage
  collector through the ownerReference; km deletes them too, so a controller-manager run
  without the GC leaves nothing stale);
* every matching pod with an IP that is not terminal counts, terminating ones included: an
  endpoint ``{addresses, conditions{ready, serving, terminating}, nodeName, zone, targetRef,
  hostname}`` in the slices of each of the Service's address types the pod has an IP of;
  ``serving`` is the pod's readiness, ``ready`` that and not terminating (or always, with
  ``publishNotReadyAddresses``);
* ports are resolved per pod (a named targetPort can mean a different number on each pod):
  pods with the same port set share slices, at most ``--max-endpoints-per-slice`` each;
* the slices, named ``<service>-<random>``, carry the Service's labels plus
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``, a controller
  ownerReference to the Service and the ``last-change-trigger-time`` annotation; writes are
  the fewest that get there (``endpointslice_reconciler``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from typing import TYPE_CHECKING, Any

from servers.client.informer import object_key
from servers.client.resources import ENDPOINTSLICES, NODES, SERVICES
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import endpointutil
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced
from servers.controller_manager.controllers.endpointslice_index import SliceIndex
from servers.controller_manager.controllers.endpointslice_reconciler import (
    MANAGED_BY,
    SERVICE_NAME,
    TRIGGER_TIME,
    Group,
    plan,
    ports_key,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

CONTROLLER = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"
ZONE = "topology.kubernetes.io/zone"
DEFAULT_MAX_PER_SLICE = 100


class EndpointSliceController:
    """Keeps each selector Service's EndpointSlices equal to its pods."""

    def __init__(self, ctx: Context, *, workers: int, max_per_slice: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = "endpointslice"
        self.client = ctx.client
        self.workers = workers
        self.max_per_slice = max_per_slice
        self.clock = clock
        self.pods = ctx.pods
        self.services = ctx.factory.informer(SERVICES)
        self.nodes = ctx.factory.informer(NODES)
        self.queue = ctx.queue("endpoint_slice")
        self.slices = SliceIndex(ctx.factory.informer(ENDPOINTSLICES), CONTROLLER, self.queue)
        self.services.add_handler(self._enqueue, lambda old, new: self._enqueue(new),
                                  self._enqueue)
        ctx.pods.informer.add_handler(self._pod_added, self._pod_updated, self._pod_added)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.services, self.nodes, self.slices.informer,
                                 self.pods.informer):
            return
        self.slices.queue_all(self.services.list())
        await run_workers(self.queue, self.sync, self.workers, stop)

    # -- handlers -----------------------------------------------------------------------------

    def _enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    def _pod_added(self, pod: Obj) -> None:
        for key in endpointutil.services_selecting(self.services.list(), pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not endpointutil.endpoints_changed(old, new):
            return
        keys = set(endpointutil.services_selecting(self.services.list(), new))
        if o.labels(old) != o.labels(new):
            keys.update(endpointutil.services_selecting(self.services.list(), old))
        for key in keys:
            self.queue.add(key)

    # -- sync -----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Write the EndpointSlices of the service ``key`` (or delete them, if it is gone)."""
        service = self.services.get_by_key(key)
        if service is None:
            await self.slices.delete_all(self.client, key)
            return
        if not endpointutil.selector(service):
            return  # selector-less: the mirroring controller's
        if o.spec(service).get("type") == "ExternalName":
            return  # a DNS alias has no endpoints (kube issue 105986)
        existing, strays = self.slices.current(key, service)
        pods = [p for p in self.pods.in_namespace(o.namespace(service))
                if endpointutil.selects(service, p)]
        types = address_types(service)
        result = plan(existing, self.groups(service, pods, types),
                      max_per_slice=self.max_per_slice, labels=slice_labels(service),
                      address_types=types)
        now = o.rfc3339_nano(self.clock())
        await self.slices.write(self.client, key, result, strays,
                                lambda old: self._metadata(service, old, now))

    def groups(self, service: Obj, pods: list[Obj], types: list[str]) -> list[Group]:
        """The wanted endpoints by (address type, resolved ports)."""
        found: dict[tuple[str, str], Group] = {}
        for pod in sorted(pods, key=o.name):
            if not endpointutil.include(pod, include_terminating=True):
                continue
            ports = [{"name": p.get("name", ""), **p}
                     for p in endpointutil.resolved_ports(pod, service)]
            for address_type in types:
                addresses = pod_addresses(pod, address_type)
                if not addresses:
                    continue
                group = Group(address_type, ports)
                group = found.setdefault(group.key, group)
                group.endpoints.append(self.endpoint(pod, service, addresses))
        return list(found.values())

    def endpoint(self, pod: Obj, service: Obj, addresses: list[str]) -> Obj:
        """``podToEndpoint``."""
        serving = o.is_ready(pod)
        terminating = o.deleting(pod)
        publish = bool(o.spec(service).get("publishNotReadyAddresses"))
        endpoint: Obj = {"addresses": addresses, "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving, "terminating": terminating}}
        hostname = endpointutil.hostname(pod, service)
        if hostname:
            endpoint["hostname"] = hostname
        node_name = o.spec(pod).get("nodeName")
        if node_name:
            endpoint["nodeName"] = node_name
            node = self.nodes.get(node_name)
            zone = o.labels(node).get(ZONE) if node is not None else None
            if zone:
                endpoint["zone"] = zone
        endpoint["targetRef"] = endpointutil.target_ref(pod)
        return endpoint

    def _metadata(self, service: Obj, old: Obj | None, now: str) -> Obj:
        meta: Obj = dict(o.meta(old)) if old is not None else {
            "generateName": f"{o.name(service)}-", "namespace": o.namespace(service)}
        meta["labels"] = slice_labels(service)
        meta["annotations"] = {**(meta.get("annotations") or {}), TRIGGER_TIME: now}
        meta["ownerReferences"] = [owner_reference(service)]
        return meta


def owner_reference(service: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "name": o.name(service),
            "uid": o.uid(service), "controller": True, "blockOwnerDeletion": True}


def slice_labels(service: Obj) -> dict[str, str]:
    """``setEndpointSliceLabels``: the service's own labels, headless, and the two keys."""
    labels = {k: v for k, v in o.labels(service).items()
              if k not in (SERVICE_NAME, MANAGED_BY, HEADLESS)}
    if o.spec(service).get("clusterIP") in (None, "", "None"):  # isServiceIPSet
        labels[HEADLESS] = ""
    labels[SERVICE_NAME] = o.name(service)
    labels[MANAGED_BY] = CONTROLLER
    return labels


def address_types(service: Obj) -> list[str]:
    """``getAddressTypesForService``: the ipFamilies, else the clusterIP's, else both."""
    families = o.spec(service).get("ipFamilies")
    if families:
        return [str(f) for f in families if f in ("IPv4", "IPv6")]
    cluster_ip = o.spec(service).get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        with contextlib.suppress(ValueError):
            return [family(cluster_ip)]
    return ["IPv4", "IPv6"]


def family(ip: str) -> str:
    return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"


def pod_addresses(pod: Obj, address_type: str) -> list[str]:
    """The pod's IPs of ``address_type`` (``getEndpointAddresses``)."""
    status = o.status(pod)
    ips = [str(p.get("ip")) for p in status.get("podIPs") or () if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    found = []
    for ip in ips:
        with contextlib.suppress(ValueError):
            if family(ip) == address_type:
                found.append(str(ipaddress.ip_address(ip)))
    return found


def new(ctx: Context) -> EndpointSliceController:
    return EndpointSliceController(
        ctx, workers=ctx.opts.concurrent_service_endpoint_syncs,
        max_per_slice=getattr(ctx.opts, "max_endpoints_per_slice", DEFAULT_MAX_PER_SLICE))


__all__ = ["EndpointSliceController", "new", "ports_key"]
