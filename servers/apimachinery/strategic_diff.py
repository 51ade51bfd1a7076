"""Compute a strategic merge patch: ``diff(original, modified)`` turns one into the other.

This is the two-way patch kubectl computes from Go types (``CreateTwoWayMergePatch`` in
``k8s.io/apimachinery/pkg/util/strategicpatch``), written for km's tests and tools: removed
keys become ``null``, ``merge`` lists of maps list only their changed items (removed ones as
``{"$patch": "delete", <key>: ...}``) plus ``$setElementOrder/<list>``, ``merge`` lists of
scalars use ``$deleteFromPrimitiveList/<list>``, and other lists are replaced whole. It
assumes merge keys and set items are unique and values are never ``null``, as in Kubernetes
objects. ``strategic.apply(original, diff(original, modified))`` equals ``modified``.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery.patch import json_equal
from servers.apimachinery.strategic import (
    DELETE,
    DELETE_PRIMITIVE,
    DIRECTIVE,
    NO_SCHEMA,
    SET_ORDER,
    PatchMeta,
    Schema,
)

__all__ = ["diff"]


def diff(original: dict[str, Any], modified: dict[str, Any], schema: Schema = NO_SCHEMA
         ) -> dict[str, Any]:
    """The strategic merge patch from ``original`` to ``modified`` ({} when they are equal)."""
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, new in modified.items():
        old = original.get(key)
        if key in original and json_equal(old, new):
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            patch[key] = diff(old, new, schema.field(key))
        elif isinstance(old, list) and isinstance(new, list) and (
                schema.patch_meta(key).merges):
            patch.update(_diff_list(key, old, new, schema.patch_meta(key), schema.field(key)))
        else:
            patch[key] = new
    return patch


def _diff_list(key: str, old: list[Any], new: list[Any], meta: PatchMeta, item_schema: Schema
               ) -> dict[str, Any]:
    if all(isinstance(i, dict) for i in old + new) and meta.merge_key:
        return _diff_keyed(key, old, new, meta.merge_key, item_schema)
    if any(isinstance(i, (dict, list)) for i in old + new):
        return {key: new}
    patch: dict[str, Any] = {SET_ORDER + key: new}
    added = [item for item in new if item not in old]
    removed = [item for item in old if item not in new]
    if added:
        patch[key] = added
    if removed:
        patch[DELETE_PRIMITIVE + key] = removed
    return patch


def _diff_keyed(key: str, old: list[dict[str, Any]], new: list[dict[str, Any]],
                merge_key: str, item_schema: Schema) -> dict[str, Any]:
    by_key = {json_key(item.get(merge_key)): item for item in old}
    items: list[Any] = []
    for item in new:
        before = by_key.get(json_key(item.get(merge_key)))
        if before is None:
            items.append(item)
        elif not json_equal(before, item):
            items.append({**diff(before, item, item_schema), merge_key: item[merge_key]})
    kept = {json_key(item.get(merge_key)) for item in new}
    items += [{DIRECTIVE: DELETE, merge_key: item[merge_key]} for item in old
              if json_key(item.get(merge_key)) not in kept]
    patch: dict[str, Any] = {SET_ORDER + key: [{merge_key: i[merge_key]} for i in new]}
    if items:
        patch[key] = items
    return patch


def json_key(value: Any) -> Any:
    """A hashable stand-in for a merge key's value (``1`` and ``True`` stay apart)."""
    return (type(value).__name__, repr(value))
