"""What the plugins read besides nodes and pods, from the scheduler's informers.

sched-algo's ``Lister`` protocol (``framework/lister.py``) over three informers: namespaces
(InterPodAffinity's ``namespaceSelector``), Services, and the pod owners whose selectors
PodTopologySpread's system default constraints spread by (``helper.DefaultSelector``):
ReplicationControllers, ReplicaSets and StatefulSets. Services are indexed by namespace as
they come, so a lookup is one dict access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from servers.client.resources import (
    NAMESPACES,
    REPLICASETS,
    REPLICATION_CONTROLLERS,
    SERVICES,
    STATEFULSETS,
)

if TYPE_CHECKING:
    from servers.client.informer import Informer, SharedInformerFactory

Obj = dict[str, Any]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


class InformerLister:
    """A ``Lister`` reading the informers' caches (see the module docstring)."""

    def __init__(self, factory: SharedInformerFactory) -> None:
        self._namespaces: Informer = factory.informer(NAMESPACES)
        self._controllers: dict[str, Informer] = {
            ref.kind: factory.informer(ref)
            for ref in (REPLICATION_CONTROLLERS, REPLICASETS, STATEFULSETS)}
        self._services: dict[str, dict[str, Obj]] = {}
        services = factory.informer(SERVICES)
        services.add_handler(self._service_added, lambda _old, new: self._service_added(new),
                             self._service_deleted)

    def _service_added(self, service: Obj) -> None:
        meta = _meta(service)
        self._services.setdefault(meta.get("namespace") or "default", {})[
            meta.get("name", "")] = service

    def _service_deleted(self, service: Obj) -> None:
        meta = _meta(service)
        self._services.get(meta.get("namespace") or "default", {}).pop(meta.get("name", ""),
                                                                        None)

    def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        """See ``Lister``."""
        namespace = self._namespaces.get(name)
        return None if namespace is None else (_meta(namespace).get("labels") or {})

    def namespaces(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        """See ``Lister``."""
        return [(_meta(n).get("name", ""), _meta(n).get("labels") or {})
                for n in self._namespaces.list()]

    def services(self, namespace: str) -> Iterable[Obj]:
        """See ``Lister``."""
        return self._services.get(namespace, {}).values()

    def controller(self, kind: str, namespace: str, name: str) -> Obj | None:
        """See ``Lister``."""
        informer = self._controllers.get(kind)
        return None if informer is None else informer.get(name, namespace)
