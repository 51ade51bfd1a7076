"""The strategic-merge schema of a kind, read from km's OpenAPI schemas.

Lists that merge carry ``x-kubernetes-patch-strategy`` (``merge``, ``retainKeys``,
``merge,retainKeys``) and ``x-kubernetes-patch-merge-key`` on their property, as in
kube-apiserver's published OpenAPI, so the published document, ``kubectl`` (which builds
client-side apply patches from it) and the server's patch engine share one table.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from servers.apimachinery.strategic import NO_SCHEMA, PatchMeta, Schema
from servers.apiserver.schemas._dsl import REF_PREFIX

Obj = dict[str, Any]

MERGE_KEY = "x-kubernetes-patch-merge-key"
STRATEGY = "x-kubernetes-patch-strategy"


class OpenAPISchema:
    """A ``strategic.Schema`` over one object schema of ``components.schemas``."""

    def __init__(self, table: Mapping[str, Obj], node: Obj) -> None:
        self._table = table
        self._node = _resolve(table, node)

    @classmethod
    def named(cls, table: Mapping[str, Obj], name: str) -> Schema:
        """The schema called ``name`` (``NO_SCHEMA`` for a name the table lacks)."""
        return cls(table, table[name]) if name in table else NO_SCHEMA

    def _property(self, name: str) -> Obj | None:
        props = self._node.get("properties")
        if isinstance(props, dict) and name in props:
            return props[name]  # type: ignore[no-any-return]
        extra = self._node.get("additionalProperties")
        return extra if isinstance(extra, dict) else None

    def field(self, name: str) -> Schema:
        prop = self._property(name)
        if prop is None:
            return NO_SCHEMA
        resolved = _resolve(self._table, prop)
        if resolved.get("type") == "array" and isinstance(resolved.get("items"), dict):
            resolved = _resolve(self._table, resolved["items"])
        return OpenAPISchema(self._table, resolved)

    def patch_meta(self, name: str) -> PatchMeta:
        prop = self._property(name)
        if prop is None:
            return PatchMeta()
        strategy = prop.get(STRATEGY, "")
        return PatchMeta(prop.get(MERGE_KEY, ""),
                         frozenset(s for s in strategy.split(",") if s))


def _resolve(table: Mapping[str, Obj], node: Obj) -> Obj:
    """Follow ``$ref`` and single-entry ``allOf`` wrappers to the schema they name."""
    for _ in range(32):
        if "$ref" in node:
            node = table.get(node["$ref"].removeprefix(REF_PREFIX), {})
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            break
    return node
