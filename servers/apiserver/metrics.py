"""The apiserver's Prometheus metrics, in kube-apiserver's names, and ``GET /metrics``.

    apiserver_request_total                 counter    verb, dry_run, group, version,
                                                       resource, subresource, scope,
                                                       component, code
    apiserver_request_duration_seconds      histogram  the same but code (not WATCH, CONNECT)
    apiserver_longrunning_requests          gauge      open watches (and pods/log follows)
    apiserver_terminated_watchers_total     counter    resource: watchers closed for falling
                                                       behind (bumped by the watch code)
    etcd_request_duration_seconds           histogram  operation, type: storage latency
    process_*                               the process collector's

Verbs are kube's metric verbs (``endpoints/metrics.CleanVerb``): LIST and WATCH for reads of a
collection, GET for one object, POST PUT PATCH APPLY DELETE DELETECOLLECTION for writes, and
the HTTP method for non-resource paths (their ``subresource`` is the path when it is one of
the server's own, so unknown paths cannot grow the label sets without bound).

One ``ApiserverMetrics`` per app, its own ``CollectorRegistry`` (never the global one), under
``METRICS``; other modules add named metrics to the class and reach them as
``request.app[METRICS]``. The middleware keeps the hot path cheap: label children are looked
up once per label set and kept.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from servers.apiserver import resources
from servers.apiserver.storage import interface as st

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COMPONENT = "apiserver"
# metrics.go: requestLatencies and etcd_request_duration_seconds buckets
_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
            6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
_REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope",
                   "component")
_LONG_RUNNING = ("WATCH", "CONNECT")
#: exec, attach and port-forward sessions (servers.apiserver.podstream): long-running.
_CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")
_WRITE_VERBS = {"POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
                "HEAD": "GET"}
_KNOWN_PLURALS = frozenset(r.plural for r in resources.RESOURCES)
_OWN_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/version", "/openapi/v3", "/api",
              "/apis")


class ApiserverMetrics:
    """The apiserver's metrics, in one registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "apiserver_request", "Counter of apiserver requests broken out for each verb, dry "
            "run value, group, version, resource, scope, component, and HTTP response code.",
            (*_REQUEST_LABELS, "code"), registry=r)
        self.request_duration = Histogram(
            "apiserver_request_duration_seconds", "Response latency distribution in seconds "
            "for each verb, dry run value, group, version, resource, subresource, scope and "
            "component.", _REQUEST_LABELS, buckets=_BUCKETS, registry=r)
        self.longrunning = Gauge(
            "apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
            "requests broken out by verb, group, version, resource, scope and component.",
            ("verb", "group", "version", "resource", "subresource", "scope", "component"),
            registry=r)
        self.terminated_watchers = Counter(
            "apiserver_terminated_watchers", "Counter of watchers closed due to "
            "unresponsiveness broken by resource type.", ("resource",), registry=r)
        self.storage_duration = Histogram(
            "etcd_request_duration_seconds", "Etcd request latency in seconds for each "
            "operation and object type.", ("operation", "type"), buckets=_BUCKETS, registry=r)
        ProcessCollector(registry=r)
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def _request_children(self, labels: tuple[str, ...], code: str) -> tuple[Any, Any]:
        key = (*labels, code)
        found = self._children.get(key)
        if found is None:
            found = (self.requests.labels(*labels, code),
                     self.request_duration.labels(*labels))
            self._children[key] = found
        return found

    def observe(self, labels: tuple[str, ...], code: int, seconds: float) -> None:
        """Count one finished request and (unless long-running) its latency."""
        counter, histogram = self._request_children(labels, str(code))
        counter.inc()
        if labels[0] not in _LONG_RUNNING:
            histogram.observe(seconds)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Outermost: counts every request with the code the client gets."""
        start = time.perf_counter()
        labels = request_labels(request)
        gauge = None
        if labels[0] in _LONG_RUNNING:
            gauge = self.longrunning.labels(*labels[:1], *labels[2:])
            gauge.inc()
        try:
            response = await handler(request)
        except BaseException:
            # Only a client gone mid-stream gets here (the error middleware, inside, makes
            # every error a Status): its watch was a 200 stream.
            if gauge is not None:
                self.observe(labels, 200, time.perf_counter() - start)
            raise
        finally:
            if gauge is not None:
                gauge.dec()
        self.observe(labels, response.status, time.perf_counter() - start)
        return response

    async def serve(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the Prometheus text format, version 0.0.4 (as kube serves it)."""
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


#: Where an app keeps its metrics (``request.app[METRICS]``).
METRICS = web.AppKey("metrics", ApiserverMetrics)


def request_labels(request: web.Request) -> tuple[str, ...]:
    """kube's request labels (``_REQUEST_LABELS`` order) from the route's match."""
    info = request.match_info
    rest = info.get("rest")
    dry_run = "All" if "dryRun" in request.query else ""
    if rest is None or "version" not in info:
        path = request.path.rstrip("/") or "/"
        own = next((p for p in _OWN_PATHS if path == p or path.startswith(p + "/")), "")
        return (request.method, dry_run, "", "", "", own, "", COMPONENT)
    group, version = info.get("group", ""), info["version"]
    parts = rest.split("/")
    verb = ""
    if parts[0] == "watch" and len(parts) > 1:  # the legacy /api/v1/watch/... paths
        verb, parts = "WATCH", parts[1:]
    scope = "cluster"
    if parts[0] == "namespaces" and len(parts) > 2:
        scope, parts = "namespace", parts[2:]
    resource = parts[0] if parts[0] in _KNOWN_PLURALS else ""
    named = len(parts) > 1
    subresource = parts[2] if len(parts) > 2 else ""
    if named:
        scope = "resource"
    verb = verb or _verb(request, named, subresource)
    return (verb, dry_run, group, version, resource, subresource, scope, COMPONENT)


def _verb(request: web.Request, named: bool, subresource: str) -> str:
    method = request.method
    if subresource in _CONNECT_SUBRESOURCES:  # kube's connect routes, GET or POST
        return "CONNECT"
    if method == "GET":
        if subresource == "log" and request.query.get("follow") in ("true", "1"):
            return "CONNECT"
        if named:
            return "GET"
        return "WATCH" if request.query.get("watch") in ("true", "1") else "LIST"
    if method == "PATCH" and request.content_type == "application/apply-patch+yaml":
        return "APPLY"
    if method == "DELETE" and not named:
        return "DELETECOLLECTION"
    return _WRITE_VERBS.get(method, method)


class InstrumentedStorage:
    """A storage whose reads and writes are timed into ``etcd_request_duration_seconds``
    (``type`` is the resource, as kube 1.32 labels it); everything else passes through."""

    def __init__(self, storage: st.Storage, metrics: ApiserverMetrics) -> None:
        self._storage = storage
        self._histogram = metrics.storage_duration
        self._children: dict[tuple[str, str], Any] = {}
        self._types: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def _observe(self, operation: str, key: str, start: float) -> None:
        seconds = time.perf_counter() - start
        kind = self._types.get(key[:key.rfind("/") + 1])
        if kind is None:
            kind = self._types[key[:key.rfind("/") + 1]] = _resource_of(key)
        child = self._children.get((operation, kind))
        if child is None:
            child = self._children[(operation, kind)] = self._histogram.labels(operation, kind)
        child.observe(seconds)

    async def get(self, key: str) -> st.KeyValue:
        start = time.perf_counter()
        try:
            return await self._storage.get(key)
        finally:
            self._observe("get", key, start)

    async def create(self, key: str, value: bytes) -> int:
        start = time.perf_counter()
        try:
            return await self._storage.create(key, value)
        finally:
            self._observe("create", key, start)

    async def update(self, key: str, value: bytes, expected_rev: int) -> int:
        start = time.perf_counter()
        try:
            return await self._storage.update(key, value, expected_rev)
        finally:
            self._observe("update", key, start)

    async def delete(self, key: str, expected_rev: int | None = None) -> st.KeyValue:
        start = time.perf_counter()
        try:
            return await self._storage.delete(key, expected_rev)
        finally:
            self._observe("delete", key, start)

    async def list(self, prefix: str, *, limit: int = 0, start_key: str | None = None,
                   at_rev: int = 0) -> st.ListResult:
        start = time.perf_counter()
        try:
            return await self._storage.list(prefix, limit=limit, start_key=start_key,
                                            at_rev=at_rev)
        finally:
            self._observe("list", prefix, start)


def _resource_of(key: str) -> str:
    """``pods``, ``leases.coordination.k8s.io``: the resource whose prefix ``key`` is under."""
    best = max((r for r in resources.RESOURCES if key.startswith(r.key_prefix)),
               key=lambda r: len(r.key_prefix), default=None)
    return best.group_resource if best is not None else "other"

