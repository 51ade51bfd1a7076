"""Strategic merge patch (``application/strategic-merge-patch+json``) on plain JSON objects.

A strategic merge patch is a JSON merge patch (objects merge, ``null`` deletes a key) in
which some lists are merged instead of replaced: a list whose schema says strategy ``merge``
and names a merge key (``containers`` by ``name``, ``ports`` by ``containerPort``, ...) is
merged item by item, a ``merge`` list of scalars (``finalizers``) is a set union; every other
list is replaced. The patch may carry directives, as in Kubernetes' ``strategicpatch`` package
(``staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go``):

* ``{"$patch": "replace"}`` in a map: the map replaces the original one; as a list item: the
  rest of the list replaces the original list;
* ``{"$patch": "delete"}`` in a map: the map becomes empty; as a list item with a merge key:
  the original item with that key is removed;
* ``{"$patch": "merge"}``: the default, merge;
* ``"$setElementOrder/<list>": [...]``: the order of the merged list (by merge key, or the
  scalars themselves); items the server has and the order does not name keep their place;
* ``"$retainKeys": [...]``: keys of the original map not listed are cleared;
* ``"$deleteFromPrimitiveList/<list>": [...]``: scalars removed from a ``merge`` list.

Which list is which comes from a ``Schema`` (see ``servers.apiserver.schemas.patchmeta``,
which reads ``x-kubernetes-patch-merge-key`` and ``x-kubernetes-patch-strategy`` from the
OpenAPI schemas); ``NO_SCHEMA`` knows no lists, which makes every list atomic. A malformed
patch or directive is ``BadRequest`` (400). ``diff`` (``strategic_diff``) computes patches.
Standard library only; arguments are never modified.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple, Protocol

from servers.apimachinery.errors import BadRequest

__all__ = ["NO_SCHEMA", "PatchMeta", "Schema", "apply", "strip_directives"]

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
REPLACE, DELETE, MERGE = "replace", "delete", "merge"


class PatchMeta(NamedTuple):
    """How one field's list is patched: its merge key ("" for none) and strategies."""

    merge_key: str = ""
    strategies: frozenset[str] = frozenset()

    @property
    def merges(self) -> bool:
        return MERGE in self.strategies


class Schema(Protocol):
    """The schema of one map: what each of its fields holds and how it is patched."""

    def field(self, name: str) -> Schema:
        """The schema of the value of ``name`` (of its items when it is a list)."""

    def patch_meta(self, name: str) -> PatchMeta:
        """Merge key and strategies of the list held by ``name``."""


class _NoSchema:
    def field(self, name: str) -> Schema:
        return self

    def patch_meta(self, name: str) -> PatchMeta:
        return PatchMeta()


#: A schema that knows nothing: lists are replaced, the directives still apply.
NO_SCHEMA: Schema = _NoSchema()


def apply(original: dict[str, Any], patch: dict[str, Any], schema: Schema = NO_SCHEMA
          ) -> dict[str, Any]:
    """The result of applying strategic merge ``patch`` to ``original``."""
    if not isinstance(patch, dict):
        raise BadRequest("a strategic merge patch must be a JSON object")
    base = copy.deepcopy(original) if isinstance(original, dict) else {}
    return _merge_map(base, patch, schema)


def strip_directives(value: Any) -> Any:
    """A copy of ``value`` without directive keys or directive list items."""
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not _is_directive_key(k)}
    if isinstance(value, list):
        return [strip_directives(v) for v in value
                if not (isinstance(v, dict) and DIRECTIVE in v)]
    return value


# -- maps --------------------------------------------------------------------------------------

def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema
               ) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` (which is ours to change) and return the result."""
    directive = patch.get(DIRECTIVE, MERGE)
    if directive == REPLACE:
        return _merge_map({}, {k: v for k, v in patch.items() if k != DIRECTIVE}, schema)
    if directive == DELETE:
        return {}
    if directive != MERGE:
        raise BadRequest(f"Unknown patch type: {directive} in map: {patch}")
    _retain_keys(original, patch)
    orders = _list_directives(original, patch)
    for key, value in patch.items():
        if _is_directive_key(key):
            continue
        if value is None:
            original.pop(key, None)
        else:
            original[key] = _merge_value(original.get(key), value, key, schema)
    for key, order in orders.items():
        if isinstance(original.get(key), list):
            original[key] = _set_order(original[key], order, schema.patch_meta(key).merge_key)
    return original


def _is_directive_key(key: str) -> bool:
    # Other keys that start with "$" are data, as in Kubernetes.
    return key in (DIRECTIVE, RETAIN_KEYS) or key.startswith((SET_ORDER, DELETE_PRIMITIVE))


def _list_directives(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply ``$deleteFromPrimitiveList`` now; return ``$setElementOrder`` for later."""
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith(SET_ORDER):
            orders[key.removeprefix(SET_ORDER)] = _list_arg(key, value)
        elif key.startswith(DELETE_PRIMITIVE):
            _delete_from_primitive_list(original, key.removeprefix(DELETE_PRIMITIVE), key, value)
    return orders


def _merge_value(original: Any, patch: Any, key: str, schema: Schema) -> Any:
    if isinstance(patch, dict):
        meta = schema.patch_meta(key)
        base = original if isinstance(original, dict) and REPLACE not in meta.strategies else {}
        return _merge_map(base, patch, schema.field(key))
    if isinstance(patch, list):
        meta = schema.patch_meta(key)
        if meta.merges:
            items = original if isinstance(original, list) else []
            return _merge_list(items, patch, meta, schema.field(key))
        return _replace_list(patch, schema.field(key))
    return patch


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = _list_arg(RETAIN_KEYS, patch[RETAIN_KEYS])
    for key, value in patch.items():
        if not _is_directive_key(key) and value is not None and key not in keep:
            msg = f'the patch has the key "{key}", which is not in $retainKeys {keep}'
            raise BadRequest(msg)
    for key in list(original):
        if key not in keep:
            del original[key]


def _delete_from_primitive_list(original: dict[str, Any], name: str, key: str,
                                value: Any) -> None:
    gone = _list_arg(key, value)
    if isinstance(original.get(name), list):
        original[name] = [item for item in original[name] if item not in gone]


def _list_arg(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"invalid patch: {key} must be a list, not {value!r}")
    return value


# -- lists -------------------------------------------------------------------------------------

def _replace_list(patch: list[Any], item_schema: Schema) -> list[Any]:
    """An atomic list: the patch's items, with directives resolved against nothing."""
    items = [item for item in patch if not _is_directive(item, REPLACE)]
    return [_merge_map({}, item, item_schema) if isinstance(item, dict) else item
            for item in items]


def _merge_list(original: list[Any], patch: list[Any], meta: PatchMeta,
                item_schema: Schema) -> list[Any]:
    if any(_is_directive(item, REPLACE) for item in patch):
        return _replace_list(patch, item_schema)
    if not patch:
        return original
    if any(isinstance(item, dict) for item in patch) and meta.merge_key:
        return _merge_keyed(original, patch, meta.merge_key, item_schema)
    if all(not isinstance(item, (dict, list)) for item in patch + original):
        return original + [item for i, item in enumerate(patch)
                           if item not in original and item not in patch[:i]]
    return _replace_list(patch, item_schema)


def _merge_keyed(original: list[Any], patch: list[Any], merge_key: str,
                 item_schema: Schema) -> list[Any]:
    result = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise BadRequest(f"invalid patch: list item {item!r} is not a map")
        if merge_key not in item:
            if _is_directive(item, MERGE):
                continue
            msg = f"map: {item} does not contain declared merge key: {merge_key}"
            raise BadRequest(msg)
        at = _find(result, merge_key, item[merge_key])
        if _is_directive(item, DELETE):
            result = [o for o in result
                      if not (isinstance(o, dict) and o.get(merge_key) == item[merge_key])]
        elif at is None:
            result.append(_merge_map({}, item, item_schema))
        else:
            result[at] = _merge_map(result[at], item, item_schema)
    return result


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get(merge_key) == value:
            return index
    return None


def _is_directive(item: Any, which: str) -> bool:
    return isinstance(item, dict) and item.get(DIRECTIVE) == which


def _set_order(merged: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    """``merged`` sorted by ``order``; items it does not name keep their place among them.

    Kubernetes' ``normalizeElementOrder`` + ``mergeSortedSlice``: the named items in the
    given order and the other items in their own order are interleaved by their positions
    in the merged (server) list.
    """
    def ident(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [ident(item) for item in order]
    named = sorted((i for i in merged if ident(i) in wanted), key=lambda i: wanted.index(ident(i)))
    others = [i for i in merged if ident(i) not in wanted]
    position = {id(item): index for index, item in enumerate(merged)}
    result: list[Any] = []
    while named and others:
        if position[id(named[0])] < position[id(others[0])]:
            result.append(named.pop(0))
        else:
            result.append(others.pop(0))
    return result + named + others
