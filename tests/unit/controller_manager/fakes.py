"""Fakes for controller unit tests: informers with a cache the test fills (handlers run as
an informer's would) and a client that records every write and answers from a dict."""

from __future__ import annotations

import argparse
import copy
import itertools
from typing import Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.client.informer import object_key
from servers.controller_manager import server
from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]


class FakeInformer:
    def __init__(self, resource: Any) -> None:
        self.resource = resource
        self.cache: dict[str, Obj] = {}
        self.handlers: list[tuple[Any, Any, Any]] = []

    def add_handler(self, on_add: Any = None, on_update: Any = None,
                    on_delete: Any = None) -> None:
        self.handlers.append((on_add, on_update, on_delete))

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        return self.cache.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self) -> list[Obj]:
        return list(self.cache.values())

    def keys(self) -> list[str]:
        return list(self.cache)

    def has_synced(self) -> bool:
        return True

    def add(self, obj: Obj) -> Obj:
        key = object_key(obj)
        old = self.cache.get(key)
        self.cache[key] = obj
        for on_add, on_update, _ in self.handlers:
            if old is None and on_add:
                on_add(obj)
            elif old is not None and on_update:
                on_update(old, obj)
        return obj

    def delete(self, obj: Obj) -> None:
        self.cache.pop(object_key(obj), None)
        for _, _, on_delete in self.handlers:
            if on_delete:
                on_delete(obj)


class FakeFactory:
    def __init__(self) -> None:
        self.informers: dict[str, FakeInformer] = {}

    def informer(self, resource: Any, **_: Any) -> FakeInformer:
        return self.informers.setdefault(resource.plural, FakeInformer(resource))

    def __getitem__(self, plural: str) -> FakeInformer:
        return self.informers[plural]


class FakeClient:
    """Records writes as (verb, plural, namespace, name, body); GETs answer from objects."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str | None, str, Any]] = []
        self.objects: dict[tuple[str, str | None, str], Obj] = {}
        self.fail: dict[str, StatusError] = {}
        self._names = itertools.count()

    def verbs(self, verb: str, plural: str | None = None) -> list[tuple[Any, ...]]:
        return [w for w in self.writes if w[0] == verb and (plural is None or w[1] == plural)]

    def _maybe_fail(self, verb: str) -> None:
        if verb in self.fail:
            raise self.fail[verb]

    async def get(self, resource: Any, name: str, namespace: str | None = None, **_: Any) -> Obj:
        found = self.objects.get((resource.plural, namespace, name))
        if found is None:
            raise NotFound(resource.plural, name)
        return copy.deepcopy(found)

    async def create(self, resource: Any, obj: Obj, namespace: str | None = None,
                     **_: Any) -> Obj:
        self._maybe_fail("create")
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if "name" not in meta:
            meta["name"] = f"{meta.get('generateName', 'x-')}{next(self._names):05d}"
        meta.setdefault("uid", f"uid-{meta['name']}")
        if namespace:
            meta["namespace"] = namespace
        self.writes.append(("create", resource.plural, namespace, meta["name"], obj))
        return obj

    async def update(self, resource: Any, obj: Obj, subresource: str | None = None,
                     **_: Any) -> Obj:
        self._maybe_fail("update")
        meta = obj["metadata"]
        verb = f"update/{subresource}" if subresource else "update"
        self.writes.append((verb, resource.plural, meta.get("namespace"), meta["name"],
                            copy.deepcopy(obj)))
        return obj

    async def patch(self, resource: Any, name: str, patch: Any, *,
                    namespace: str | None = None, subresource: str | None = None,
                    patch_type: str = "merge", **_: Any) -> Obj:
        self._maybe_fail("patch")
        verb = f"patch/{subresource}" if subresource else "patch"
        self.writes.append((verb, resource.plural, namespace, name, copy.deepcopy(patch)))
        return {"metadata": {"name": name, "namespace": namespace}}

    async def delete(self, resource: Any, name: str, namespace: str | None = None,
                     **options: Any) -> Obj:
        self._maybe_fail("delete")
        self.writes.append(("delete", resource.plural, namespace, name, options))
        return {}


def options(*args: str) -> argparse.Namespace:
    return server().make_parser("km controller-manager").parse_args(list(args))


def context(*args: str) -> tuple[Context, FakeFactory, FakeClient]:
    factory, client = FakeFactory(), FakeClient()
    return Context(client, factory, options(*args), host="test"), factory, client


__all__ = ["Conflict", "FakeClient", "FakeFactory", "FakeInformer", "context", "options"]
