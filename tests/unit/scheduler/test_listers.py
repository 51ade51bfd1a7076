"""The scheduler's InformerLister: the pod owners default topology spreading reads."""

from __future__ import annotations

from typing import Any

from servers.scheduler.listers import InformerLister


class _Informer:
    def __init__(self) -> None:
        self.cache: dict[str, dict[str, Any]] = {}

    def add_handler(self, *_: Any) -> None:
        pass

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.cache.get(f"{namespace}/{name}")


class _Factory:
    def __init__(self) -> None:
        self.informers: dict[str, _Informer] = {}

    def informer(self, resource: Any, **_: Any) -> _Informer:
        return self.informers.setdefault(resource.plural, _Informer())


def test_replicasets_and_statefulsets_are_known_owners() -> None:
    factory = _Factory()
    lister = InformerLister(factory)  # type: ignore[arg-type]
    for plural, kind in (("replicationcontrollers", "ReplicationController"),
                         ("replicasets", "ReplicaSet"), ("statefulsets", "StatefulSet")):
        owner = {"kind": kind, "metadata": {"name": "web", "namespace": "ns"}}
        factory.informers[plural].cache["ns/web"] = owner
        assert lister.controller(kind, "ns", "web") is owner
        assert lister.controller(kind, "other", "web") is None
    assert lister.controller("Deployment", "ns", "web") is None
