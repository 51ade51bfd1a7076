"""endpoints: every Service with a selector gets an Endpoints object listing its pods.

The sync of ``pkg/controller/endpoint/endpoints_controller.go`` (``syncService``):

* a Service that is gone takes its Endpoints with it; one without a selector is left alone
  (its Endpoints are written by hand);
* every pod the selector matches that has an IP and is not terminal (nor being deleted,
  unless the service publishes not-ready addresses) is an address ``{ip, nodeName,
  targetRef}`` (``hostname`` when ``spec.hostname`` is set and ``spec.subdomain`` names the
  service); ready pods (or all, with ``publishNotReadyAddresses``) go to ``addresses``, the
  others to ``notReadyAddresses``;
* ports are the service's, each with its number resolved against the pod: a numeric
  ``targetPort`` as is, a named one from the pod's container ports (a pod without that name
  is left out of that port); addresses with the same ports share a subset (``RepackSubsets``);
* the Endpoints copies the service's labels (+ ``service.kubernetes.io/headless`` for a
  headless service) and is written only when it changed, stamped with the
  ``endpoints.kubernetes.io/last-change-trigger-time`` annotation.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, Conflict, NotFound
from servers.apimachinery.selectors import label_selector_from_dict
from servers.client.informer import object_key
from servers.client.resources import ENDPOINTS, SERVICES
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import endpointutil
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "endpoints-controller"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_CAPACITY = 1000


class EndpointsController:
    """Keeps each selector Service's Endpoints equal to its pods."""

    def __init__(self, ctx: Context, *, workers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = "endpoint"
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.pods = ctx.pods
        self.services = ctx.factory.informer(SERVICES)
        self.endpoints = ctx.factory.informer(ENDPOINTS)
        self.queue = ctx.queue("endpoint")
        self.services.add_handler(self._service_changed,
                                  lambda old, new: self._service_changed(new),
                                  self._service_changed)
        self.endpoints.add_handler(None, None, self._endpoints_deleted)
        ctx.pods.informer.add_handler(self._pod_added, self._pod_updated, self._pod_added)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.services, self.endpoints, self.pods.informer):
            return
        for service in self.services.list():
            self.queue.add(object_key(service))
        # Endpoints whose Service is gone while we were away (checkLeftoverEndpoints).
        for endpoints in self.endpoints.list():
            if self.services.get_by_key(object_key(endpoints)) is None:
                self.queue.add(object_key(endpoints))
        await run_workers(self.queue, self.sync, self.workers, stop)

    # -- handlers -----------------------------------------------------------------------------

    def _service_changed(self, service: Obj) -> None:
        self.queue.add(object_key(service))

    def _endpoints_deleted(self, endpoints: Obj) -> None:
        if self.services.get_by_key(object_key(endpoints)) is not None:
            self.queue.add(object_key(endpoints))  # someone deleted ours: write it again

    def _pod_added(self, pod: Obj) -> None:
        for key in self._services_selecting(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if o.meta(old).get("resourceVersion") == o.meta(new).get("resourceVersion"):
            return
        keys = set(self._services_selecting(new))
        if o.labels(old) != o.labels(new):
            keys.update(self._services_selecting(old))
        for key in keys:
            self.queue.add(key)

    def _services_selecting(self, pod: Obj) -> list[str]:
        return endpointutil.services_selecting(self.services.list(), pod)

    # -- sync -----------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Write (or delete) the Endpoints of the service ``key``."""
        namespace, _, name = key.rpartition("/")
        service = self.services.get_by_key(key)
        if service is None:
            with contextlib.suppress(NotFound):
                await self.client.delete(ENDPOINTS, name, namespace)
            return
        selector = endpointutil.selector(service)
        if not selector:
            return  # a selector-less service: Endpoints are managed by hand
        current = self.endpoints.get_by_key(key)
        desired = self.desired(service, current)
        if desired is None:
            return
        await self._write(desired, current)

    def desired(self, service: Obj, current: Obj | None) -> Obj | None:
        """The Endpoints ``service`` should have, or None if ``current`` already is it."""
        selector = label_selector_from_dict(endpointutil.selector(service))
        namespace = o.namespace(service)
        pods = [p for p in self.pods.in_namespace(namespace) if selector.matches(o.labels(p))]
        subsets, truncated = endpoint_subsets(service, pods)
        labels = dict(o.labels(service))
        if o.spec(service).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        if current is not None and _same(current, subsets, labels, truncated):
            return None
        annotations = dict((o.meta(current).get("annotations") or {}) if current else {})
        annotations[TRIGGER_TIME] = o.rfc3339_nano(self.clock())
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        metadata: Obj = {"name": o.name(service), "namespace": namespace,
                         "annotations": annotations}
        if labels:
            metadata["labels"] = labels
        if current is not None:
            metadata = {**copy.deepcopy(o.meta(current)), **metadata}
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata}
        if subsets:
            body["subsets"] = subsets
        return body

    async def _write(self, desired: Obj, current: Obj | None) -> None:
        if current is None:
            try:
                await self.client.create(ENDPOINTS, desired, o.namespace(desired))
            except AlreadyExists:
                raise Conflict("endpoints", o.name(desired),
                               "the Endpoints appeared meanwhile; retrying") from None
            return
        await self.client.update(ENDPOINTS, desired)


def _same(current: Obj, subsets: list[Obj], labels: dict[str, str], truncated: bool) -> bool:
    annotations = o.meta(current).get("annotations") or {}
    return ((current.get("subsets") or []) == subsets
            and (o.meta(current).get("labels") or {}) == labels
            and (annotations.get(OVER_CAPACITY) == "truncated") == truncated)


def _address(pod: Obj, service: Obj) -> Obj:
    address: Obj = {"ip": o.status(pod)["podIP"]}
    hostname = endpointutil.hostname(pod, service)
    if hostname:
        address["hostname"] = hostname
    if o.spec(pod).get("nodeName"):
        address["nodeName"] = o.spec(pod)["nodeName"]
    address["targetRef"] = endpointutil.target_ref(pod)
    return address


def _endpoint_ports(pod: Obj, service: Obj) -> list[Obj] | None:
    if not o.spec(service).get("ports"):
        return []  # headless without ports: addresses only
    return endpointutil.resolved_ports(pod, service) or None


def endpoint_subsets(service: Obj, pods: list[Obj]) -> tuple[list[Obj], bool]:
    """The repacked, sorted subsets of ``service`` over ``pods``; and whether truncated."""
    publish = bool(o.spec(service).get("publishNotReadyAddresses"))
    groups: dict[str, tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not endpointutil.include(pod, include_terminating=publish):
            continue
        ports = _endpoint_ports(pod, service)
        if ports is None:
            continue
        ports = sorted(ports, key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        group = groups.setdefault(repr(ports), (ports, [], []))
        group[1 if publish or o.is_ready(pod) else 2].append(_address(pod, service))
    subsets, total = [], 0
    for ports, ready, not_ready in sorted(groups.values(), key=lambda g: repr(g[0])):
        subset: Obj = {}
        ready.sort(key=lambda a: (a["ip"], a["targetRef"]["name"]))
        not_ready.sort(key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if ports:
            subset["ports"] = ports
        total += len(ready) + len(not_ready)
        subsets.append(subset)
    if total <= MAX_CAPACITY:
        return subsets, False
    return _truncate(subsets), True


def _truncate(subsets: list[Obj]) -> list[Obj]:
    """Keep at most MAX_CAPACITY addresses, ready ones first (``truncateEndpoints``)."""
    budget = MAX_CAPACITY
    for field in ("addresses", "notReadyAddresses"):
        for subset in subsets:
            kept = subset.get(field, [])[:budget]
            budget -= len(kept)
            if kept:
                subset[field] = kept
            else:
                subset.pop(field, None)
    return [s for s in subsets if s.get("addresses") or s.get("notReadyAddresses")]


def new(ctx: Context) -> EndpointsController:
    return EndpointsController(ctx, workers=ctx.opts.concurrent_endpoint_syncs)
