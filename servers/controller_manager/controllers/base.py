"""What every controller of ``km controller-manager`` is given, and the shape it has (R18).

A controller is built from a ``Context`` (the client, the shared informers, the flags, event
recorders and work queues with metrics), registers informer handlers that only enqueue keys,
and ``run(stop)`` runs its workers until ``stop``. ``PodIndex`` is the shared pods-by-namespace
and pods-by-node view that several controllers need (client-go's namespace and nodeName
indexers). Imports no aiohttp: unit tests build a Context over fakes.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any, Protocol

from servers.apimachinery.errors import StatusError
from servers.client.events import EventRecorder
from servers.client.informer import object_key
from servers.client.resources import PODS
from servers.client.workqueue import WorkQueue

if TYPE_CHECKING:
    import argparse

    from servers.client.informer import Informer
    from servers.client.workqueue import QueueMetrics

Obj = dict[str, Any]


class InformerSource(Protocol):
    """What controllers ask of ``SharedInformerFactory``."""

    def informer(self, resource: Any, *, namespace: str | None = None,
                 label_selector: str | None = None,
                 field_selector: str | None = None) -> Informer: ...


class MetricsSource(Protocol):
    def queue(self, name: str) -> QueueMetrics: ...


class Controller(Protocol):
    """One control loop: handlers enqueue keys; ``run`` syncs them until ``stop``."""

    name: str

    async def run(self, stop: asyncio.Event) -> None: ...


async def wait_synced(stop: asyncio.Event, *informers: Informer,
                      timeout: float | None = None) -> bool:
    """Wait until each informer has listed once (kube's ``WaitForNamedCacheSync``); False
    when ``stop`` came first or ``timeout`` seconds passed."""
    synced: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(i.wait_synced() for i in informers)))
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({synced, stopper}, timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if synced not in done:
        synced.cancel()
        await asyncio.gather(synced, return_exceptions=True)
        return False
    return True


class PodIndex:
    """Pods by namespace and by node, kept by handlers of the shared pod informer."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self._by_namespace: dict[str, dict[str, Obj]] = {}
        self._by_node: dict[str, dict[str, Obj]] = {}
        informer.add_handler(self._add, self._update, self._delete)

    def _add(self, pod: Obj) -> None:
        key = object_key(pod)
        meta = pod.get("metadata") or {}
        self._by_namespace.setdefault(meta.get("namespace") or "", {})[key] = pod
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            self._by_node.setdefault(node, {})[key] = pod

    def _update(self, old: Obj, new: Obj) -> None:
        self._delete(old)
        self._add(new)

    def _delete(self, pod: Obj) -> None:
        key = object_key(pod)
        meta = pod.get("metadata") or {}
        _discard(self._by_namespace, meta.get("namespace") or "", key)
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            _discard(self._by_node, node, key)

    def in_namespace(self, namespace: str) -> list[Obj]:
        return list(self._by_namespace.get(namespace, {}).values())

    def on_node(self, node: str) -> list[Obj]:
        return list(self._by_node.get(node, {}).values())

    def nodes(self) -> list[str]:
        """Every node name some pod is bound to."""
        return list(self._by_node)


def _discard(index: dict[str, dict[str, Obj]], bucket: str, key: str) -> None:
    entries = index.get(bucket)
    if entries is not None:
        entries.pop(key, None)
        if not entries:
            del index[bucket]


class Context:
    """Everything a controller is built from; one per controller-manager run."""

    def __init__(self, client: Any, factory: InformerSource, opts: argparse.Namespace, *,
                 metrics: MetricsSource | None = None, host: str | None = None) -> None:
        self.client = client
        self.factory = factory
        self.opts = opts
        self.metrics = metrics
        self.host = socket.gethostname() if host is None else host
        self.recorders: dict[str, EventRecorder] = {}
        self._pods: PodIndex | None = None

    def recorder(self, component: str) -> EventRecorder:
        """The event recorder of ``component`` (kube: each controller's own source)."""
        recorder = self.recorders.get(component)
        if recorder is None:
            recorder = EventRecorder(self.client, component=component, host=self.host,
                                     writers=2)
            self.recorders[component] = recorder
        return recorder

    def queue(self, name: str, **options: float) -> WorkQueue:
        """A new work queue called ``name`` (its metrics labelled so)."""
        metrics = self.metrics.queue(name) if self.metrics is not None else None
        return WorkQueue(name, metrics=metrics, **options)

    @property
    def pods(self) -> PodIndex:
        """The shared pod index (built on first use, over the shared pod informer)."""
        if self._pods is None:
            self._pods = PodIndex(self.factory.informer(PODS))
        return self._pods


def namespace_terminating(exc: StatusError) -> bool:
    """Whether a create was refused because its namespace is being deleted: controllers drop
    that one silently, as kube's do (every later create would fail too, and the namespace
    controller is emptying it; ``replica_set.go`` ``manageReplicas``)."""
    causes = (exc.details or {}).get("causes") or ()
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)
