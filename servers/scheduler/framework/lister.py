"""What some plugins read besides nodes and pods: namespaces, Services and pod owners.

InterPodAffinity needs namespace labels (``namespaceSelector``); PodTopologySpread's system
default constraints need the Services selecting a pod and the selector of its controlling
ReplicationController, ReplicaSet or StatefulSet (``helper.DefaultSelector``). The scheduler
server passes its informer caches through this small protocol; ``Objects`` is the plain-list
version (tests, one-off callers), ``NO_OBJECTS`` the empty one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

Obj = dict[str, Any]


class Lister(Protocol):
    """Read access to the cluster objects the plugins consult."""

    def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        """The labels of namespace ``name`` (None if unknown)."""
        ...

    def namespaces(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        """Every namespace as ``(name, labels)``."""
        ...

    def services(self, namespace: str) -> Iterable[Obj]:
        """The Services of ``namespace``."""
        ...

    def controller(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The ReplicationController/ReplicaSet/StatefulSet ``namespace/name`` of ``kind``."""
        ...


class Objects:
    """A ``Lister`` over plain lists of objects (JSON dicts)."""

    def __init__(self, namespaces: Iterable[Obj] = (), services: Iterable[Obj] = (),
                 controllers: Iterable[Obj] = ()) -> None:
        self._namespaces = {
            (n.get("metadata") or {}).get("name", ""): (n.get("metadata") or {}).get("labels")
            or {} for n in namespaces}
        self._services: dict[str, list[Obj]] = {}
        for service in services:
            ns = (service.get("metadata") or {}).get("namespace") or "default"
            self._services.setdefault(ns, []).append(service)
        self._controllers = {
            (c.get("kind", ""), (c.get("metadata") or {}).get("namespace") or "default",
             (c.get("metadata") or {}).get("name", "")): c for c in controllers}

    def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        """See ``Lister``."""
        return self._namespaces.get(name)

    def namespaces(self) -> Iterable[tuple[str, Mapping[str, str]]]:
        """See ``Lister``."""
        return self._namespaces.items()

    def services(self, namespace: str) -> Iterable[Obj]:
        """See ``Lister``."""
        return self._services.get(namespace, ())

    def controller(self, kind: str, namespace: str, name: str) -> Obj | None:
        """See ``Lister``."""
        return self._controllers.get((kind, namespace, name))


NO_OBJECTS = Objects()
