"""endpointslice_mirroring: EndpointSlices mirrored from the Endpoints of selector-less
Services, so readers of slices (``km proxy``, ``km dns``, kubectl) see hand-written Endpoints.

The sync of ``pkg/controller/endpointslicemirroring/endpointslicemirroring_controller.go``
(``syncEndpoints``) and its ``utils.go``:

* mirrored slices are deleted when the Service is gone, has a selector (then the endpoints
  and endpointslice controllers own both), the Endpoints is gone, or it is labelled
  ``endpointslice.kubernetes.io/skip-mirror=true`` or is a leader-election record;
* every subset's addresses (ready) and notReadyAddresses (not ready) become endpoints
  ``{addresses, conditions{ready}, hostname, nodeName, targetRef}`` with the subset's ports,
  at most ``--mirroring-max-endpoints-per-subset`` per subset (ready ones first), grouped by
  address type (an address that is no IP is skipped) and ports;
* the slices copy the Endpoints' labels and annotations (less kubectl's last-applied and the
  trigger time), carry ``kubernetes.io/service-name`` and ``managed-by =
  endpointslicemirroring-controller.k8s.io`` and a controller ownerReference to the Endpoints.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from servers.client.informer import object_key
from servers.client.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import endpointutil
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced
from servers.controller_manager.controllers.endpointslice import family
from servers.controller_manager.controllers.endpointslice_index import SliceIndex
from servers.controller_manager.controllers.endpointslice_reconciler import (
    MANAGED_BY,
    SERVICE_NAME,
    TRIGGER_TIME,
    Group,
    plan,
)

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

CONTROLLER = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
LEADER = "control-plane.alpha.kubernetes.io/leader"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEFAULT_MAX_PER_SUBSET = 1000


class MirroringController:
    """Keeps the slices of each selector-less Service equal to its Endpoints."""

    def __init__(self, ctx: Context, *, workers: int, max_per_subset: int) -> None:
        self.name = "endpointslicemirroring"
        self.client = ctx.client
        self.workers = workers
        self.max_per_subset = max_per_subset
        self.services = ctx.factory.informer(SERVICES)
        self.endpoints = ctx.factory.informer(ENDPOINTS)
        self.queue = ctx.queue("endpoint_slice_mirroring")
        self.slices = SliceIndex(ctx.factory.informer(ENDPOINTSLICES), CONTROLLER, self.queue)
        for informer in (self.services, self.endpoints):
            informer.add_handler(self._enqueue, lambda old, new: self._enqueue(new),
                                 self._enqueue)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.services, self.endpoints, self.slices.informer):
            return
        self.slices.queue_all(self.endpoints.list())
        await run_workers(self.queue, self.sync, self.workers, stop)

    def _enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    async def sync(self, key: str) -> None:
        """Mirror the Endpoints ``key`` into slices (or delete the mirrored ones)."""
        service = self.services.get_by_key(key)
        endpoints = self.endpoints.get_by_key(key)
        if (service is None or endpointutil.selector(service) or endpoints is None
                or not should_mirror(endpoints)):
            await self.slices.delete_all(self.client, key)
            return
        existing, strays = self.slices.current(key, endpoints)
        labels, annotations = mirrored_labels(endpoints), mirrored_annotations(endpoints)
        result = plan(existing, self.groups(endpoints), max_per_slice=self.max_per_subset,
                      labels=labels, annotations=annotations, address_types=[])
        await self.slices.write(self.client, key, result, strays,
                                lambda old: _metadata(endpoints, labels, annotations, old))

    def groups(self, endpoints: Obj) -> list[Group]:
        """The endpoints of every subset, by (address type, ports)."""
        found: dict[tuple[str, str], Group] = {}
        for subset in endpoints.get("subsets") or ():
            ports = [_port(p) for p in subset.get("ports") or ()]
            budget = self.max_per_subset
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                for address in (subset.get(field) or ())[:budget]:
                    budget -= 1
                    endpoint = _endpoint(address, ready)
                    if endpoint is None:
                        continue
                    group = Group(family(address["ip"]), ports)
                    group = found.setdefault(group.key, group)
                    if endpoint not in group.endpoints:
                        group.endpoints.append(endpoint)
                budget = max(budget, 0)
        return list(found.values())


def should_mirror(endpoints: Obj) -> bool:
    """``shouldMirror``: not marked skip-mirror, not a leader-election record."""
    if o.labels(endpoints).get(SKIP_MIRROR) == "true":
        return False
    return LEADER not in (o.meta(endpoints).get("annotations") or {})


def mirrored_labels(endpoints: Obj) -> dict[str, str]:
    labels = {k: v for k, v in o.labels(endpoints).items() if k not in (MANAGED_BY,
                                                                         SERVICE_NAME)}
    labels[SERVICE_NAME] = o.name(endpoints)
    labels[MANAGED_BY] = CONTROLLER
    return labels


def mirrored_annotations(endpoints: Obj) -> dict[str, str]:
    return {k: v for k, v in (o.meta(endpoints).get("annotations") or {}).items()
            if k not in (LAST_APPLIED, TRIGGER_TIME)}


def _metadata(endpoints: Obj, labels: dict[str, str], annotations: dict[str, str],
              old: Obj | None) -> Obj:
    meta: Obj = dict(o.meta(old)) if old is not None else {
        "generateName": f"{o.name(endpoints)}-", "namespace": o.namespace(endpoints)}
    meta["labels"] = dict(labels)
    meta["annotations"] = dict(annotations)
    # Mirrored slices belong to the Endpoints they mirror (kube's newEndpointSlice).
    meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Endpoints",
                                "name": o.name(endpoints), "uid": o.uid(endpoints),
                                "controller": True, "blockOwnerDeletion": True}]
    return meta


def _port(port: Obj) -> Obj:
    entry: Obj = {"name": port.get("name") or "", "port": int(port.get("port") or 0),
                  "protocol": port.get("protocol") or "TCP"}
    if port.get("appProtocol"):
        entry["appProtocol"] = port["appProtocol"]
    return entry


def _endpoint(address: Obj, ready: bool) -> Obj | None:
    """``addressToEndpoint``; None for an address that is no IP."""
    try:
        ip = str(ipaddress.ip_address(str(address.get("ip") or "")))
    except ValueError:
        return None
    endpoint: Obj = {"addresses": [ip], "conditions": {"ready": ready}}
    for field in ("hostname", "nodeName"):
        if address.get(field):
            endpoint[field] = address[field]
    if address.get("targetRef"):
        endpoint["targetRef"] = dict(address["targetRef"])
    return endpoint


def new(ctx: Context) -> MirroringController:
    return MirroringController(
        ctx, workers=getattr(ctx.opts, "mirroring_concurrent_service_endpoint_syncs", 5),
        max_per_subset=getattr(ctx.opts, "mirroring_max_endpoints_per_subset",
                               DEFAULT_MAX_PER_SUBSET))
