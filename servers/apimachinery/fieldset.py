"""Field sets for server-side apply: which fields a configuration sets, as paths.

A path is a tuple of elements in the notation of Kubernetes' ``FieldsV1``
(``sigs.k8s.io/structured-merge-digest/fieldpath``): ``f:<name>`` for a map member,
``k:{"<mergeKey>":<value>}`` for an item of a list merged by key, ``v:<json>`` for a member
of a set of scalars. Other lists and scalars are leaves. An item of a keyed list or set is
itself in the set (``.`` in FieldsV1), so an applier that stops naming an item gives it up.

Which lists are keyed comes from the same ``strategic.Schema`` the patch engine uses (km
keys a list by its patch merge key only, where Kubernetes uses all ``list-map-keys``).
Standard library only.
"""

from __future__ import annotations

import json
from typing import Any

from servers.apimachinery.strategic import Schema

__all__ = ["Path", "decode", "encode", "fields_of", "prune", "remove", "value_at"]

Path = tuple[str, ...]
_MISSING = object()


def fields_of(obj: dict[str, Any], schema: Schema) -> set[Path]:
    """Every path ``obj`` sets: leaves, plus the items of keyed lists and sets."""
    found: set[Path] = set()
    _walk_map(obj, schema, (), found)
    return found


def _walk_map(obj: dict[str, Any], schema: Schema, at: Path, found: set[Path]) -> None:
    for name, value in obj.items():
        path = (*at, "f:" + name)
        meta = schema.patch_meta(name)
        if isinstance(value, dict) and value:
            _walk_map(value, schema.field(name), path, found)
        elif isinstance(value, list) and meta.merges and value:
            _walk_list(value, meta.merge_key, schema.field(name), path, found)
        else:
            found.add(path)


def _walk_list(items: list[Any], merge_key: str, schema: Schema, at: Path,
               found: set[Path]) -> None:
    for item in items:
        if isinstance(item, dict) and merge_key in item:
            path = (*at, _key_element(merge_key, item[merge_key]))
            found.add(path)
            _walk_map(item, schema, path, found)
        elif not isinstance(item, (dict, list)):
            found.add((*at, "v:" + _json(item)))
        else:
            found.add(at)  # not mergeable: the list is one value


def _key_element(merge_key: str, value: Any) -> str:
    return "k:" + _json({merge_key: value})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def value_at(obj: Any, path: Path) -> Any:
    """The value ``path`` names in ``obj``, or a sentinel no JSON value equals."""
    for element in path:
        obj = _step(obj, element)
        if obj is _MISSING:
            break
    return obj


def _step(node: Any, element: str) -> Any:
    kind, _, text = element.partition(":")
    if kind == "f" and isinstance(node, dict):
        return node.get(text, _MISSING)
    if kind in ("k", "v") and isinstance(node, list):
        for item in node:
            if _matches(item, kind, text):
                return item
    return _MISSING


def _matches(item: Any, kind: str, text: str) -> bool:
    wanted = json.loads(text)
    if kind == "v":
        return bool(item == wanted and type(item) is type(wanted))
    if not isinstance(item, dict):
        return False
    return all(item.get(key) == value for key, value in wanted.items())


def remove(obj: dict[str, Any], path: Path) -> None:
    """Delete what ``path`` names from ``obj`` (in place); nothing if it is not there."""
    parent = value_at(obj, path[:-1])
    kind, _, text = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(text, None)
    elif kind in ("k", "v") and isinstance(parent, list):
        parent[:] = [item for item in parent if not _matches(item, kind, text)]


def prune(obj: dict[str, Any], paths: set[Path], *, keep: set[Path]) -> None:
    """Remove ``paths`` from ``obj`` (in place), then the maps and lists that this emptied,
    unless a path in ``keep`` names them or lies below them."""
    held = {path[:i] for path in keep for i in range(1, len(path) + 1)}
    for path in sorted(paths, key=len):
        remove(obj, path)
        for end in range(len(path) - 1, 0, -1):
            parent = path[:end]
            if parent in held or value_at(obj, parent) not in ({}, []):
                break
            remove(obj, parent)


def encode(paths: set[Path]) -> dict[str, Any]:
    """The FieldsV1 tree of ``paths``: nested maps, ``{}`` at leaves, ``"."`` for a path
    that is also the prefix of others."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return tree


def decode(tree: Any, at: Path = ()) -> set[Path]:
    """The paths of a FieldsV1 tree (what ``encode`` wrote, or Kubernetes' own)."""
    if not isinstance(tree, dict):
        return set()
    found: set[Path] = set()
    for element, sub in tree.items():
        if element == ".":
            found.add(at)
        elif isinstance(sub, dict) and sub:
            found |= decode(sub, (*at, element))
        else:
            found.add((*at, element))
    return found
