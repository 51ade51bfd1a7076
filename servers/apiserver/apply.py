"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``), a simple version.

The applied configuration is merged into the live object with the strategic merge engine
(lists merge by their patch merge keys). Each field manager's applied fields are recorded in
``metadata.managedFields`` (an ``operation: Apply`` entry with a ``FieldsV1`` set, as
Kubernetes writes them), so that when the same manager applies again, fields it set before
and no longer sets are removed, unless another manager applied them too: a second apply of
a changed manifest converges to the manifest. A field another manager applied with a
different value is a 409 conflict unless ``force=true``.

Simpler than Kubernetes: only ``Apply`` managers own fields (updates by PUT or other patch
types are not recorded), and list items are keyed by their patch merge key alone. A missing
object is created (201). See https://kubernetes.io/docs/reference/using-api/server-side-apply/
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from servers.apimachinery import errors, field, fieldset, strategic
from servers.apimachinery.meta import Obj, now_rfc3339
from servers.apiserver.schemas import schema_name, schemas
from servers.apiserver.schemas.patchmeta import OpenAPISchema

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.apiserver.registry import Registry
    from servers.apiserver.routing import Target

APPLY = "Apply"
#: Identity fields every configuration names; Kubernetes does not record them as owned.
IDENTITY = {("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"),
            ("f:metadata", "f:namespace")}


class ApplyConflict(errors.Conflict):
    """409 ``Apply failed with N conflicts: conflict with "m": .spec.replicas`` (Kubernetes'
    ``NewApplyConflict``), one ``FieldManagerConflict`` cause per field."""

    def __init__(self, conflicts: list[tuple[str, fieldset.Path]]) -> None:
        shown = [(manager, _dotted(path)) for manager, path in conflicts]
        noun = "conflict" if len(shown) == 1 else "conflicts"
        lines = "\n".join(f'conflict with "{m}": {p}' for m, p in shown)
        message = f"Apply failed with {len(shown)} {noun}: {lines}"
        causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"',
                   "field": p} for m, p in shown]
        errors.StatusError.__init__(self, message, {"causes": causes})


async def apply(registry: Registry, target: Target, config: Any, *, manager: str,
                force: bool, dry_run: bool, check: Callable[[Obj], None]) -> tuple[Obj, int]:
    """Apply ``config`` to the object ``target`` names: (object, 200), or (object, 201) when
    it was created. ``check`` validates the resulting object (raises to refuse it)."""
    _check_request(target, config, manager)
    schema = OpenAPISchema.named(schemas(), schema_name(target.resource.gvk))

    def change(live: Obj) -> Obj:
        new = merge(live, config, schema, manager=manager, force=force)
        check(new)
        return new

    for _ in range(2):
        try:
            return await registry.patch(target, change, dry_run=dry_run), 200
        except errors.NotFound:
            if target.subresource:
                raise
        created = merge({}, config, schema, manager=manager, force=True)
        check(created)
        collection = type(target)(target.resource, target.namespace)
        try:
            return await registry.create(collection, created, dry_run=dry_run), 201
        except errors.AlreadyExists:
            continue  # created meanwhile: apply to it
    raise errors.Conflict(target.resource.plural, target.name, group=target.resource.group)


def _check_request(target: Target, config: Any, manager: str) -> None:
    if not manager:
        raise errors.Invalid("PatchOptions", "", [field.required(
            "fieldManager", "is required for apply patch")], group="meta.k8s.io")
    if not isinstance(config, dict):
        raise errors.BadRequest("an apply patch must be a YAML or JSON object")
    meta = config.get("metadata")
    if not isinstance(meta, dict):
        raise errors.BadRequest("an apply patch must have metadata")
    if meta.get("name", target.name) != target.name:
        raise errors.BadRequest(f"the name of the object ({meta.get('name')}) does not match "
                                f"the name on the URL ({target.name})")


def merge(live: Obj, config: Obj, schema: strategic.Schema, *, manager: str,
          force: bool) -> Obj:
    """``live`` with ``config`` applied by ``manager`` (a new object; managedFields updated).

    Raises ``ApplyConflict`` when ``config`` changes a field another manager applied,
    unless ``force``, which takes the field from that manager.
    """
    entries = [e for e in (live.get("metadata") or {}).get("managedFields") or []
               if isinstance(e, dict)]
    mine = _owned(entries, manager)
    others = {e["manager"]: _owned(entries, e["manager"]) for e in entries
              if e.get("operation") == APPLY and e.get("manager") != manager}
    clean = strategic.strip_directives(config)
    (clean.get("metadata") or {}).pop("managedFields", None)
    applied = fieldset.fields_of(clean, schema) - IDENTITY
    conflicts = _conflicts(live, clean, applied, others)
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for other, path in conflicts:
        others[other].discard(path)  # forced: the field changes hands
    result = copy.deepcopy(live)
    theirs = set().union(*others.values()) if others else set()
    fieldset.prune(result, mine - applied - theirs, keep=applied | theirs)
    result = strategic.apply(result, _ordered(clean, schema), schema)
    result.setdefault("metadata", {})["managedFields"] = _record(
        entries, manager, applied, others, result.get("apiVersion", ""))
    return result


def _ordered(config: Any, schema: strategic.Schema) -> Any:
    """``config`` with ``$setElementOrder`` for its merged lists: applied items come in the
    applied order (items other managers own keep their places among them)."""
    if not isinstance(config, dict):
        return config
    result = {}
    for key, value in config.items():
        meta = schema.patch_meta(key)
        if isinstance(value, list) and meta.merges:
            key_of = meta.merge_key
            result[strategic.SET_ORDER + key] = [
                {key_of: item[key_of]} if key_of and isinstance(item, dict) else item
                for item in value if not isinstance(item, dict) or key_of in item]
            value = [_ordered(item, schema.field(key)) for item in value]
        elif isinstance(value, dict):
            value = _ordered(value, schema.field(key))
        result[key] = value
    return result


def _owned(entries: list[Obj], manager: str) -> set[fieldset.Path]:
    for entry in entries:
        if entry.get("manager") == manager and entry.get("operation") == APPLY:
            return fieldset.decode(entry.get("fieldsV1"))
    return set()


def _conflicts(live: Obj, config: Obj, applied: set[fieldset.Path],
               others: dict[str, set[fieldset.Path]]) -> list[tuple[str, fieldset.Path]]:
    found = []
    for other, owned in sorted(others.items()):
        for path in sorted(applied & owned):
            if path[-1][:2] in ("k:", "v:"):
                continue  # an item both name: only its fields can differ
            if fieldset.value_at(live, path) != fieldset.value_at(config, path):
                found.append((other, path))
    return found


def _record(entries: list[Obj], manager: str, applied: set[fieldset.Path],
            others: dict[str, set[fieldset.Path]], api_version: str) -> list[Obj]:
    kept, mine = [], {"manager": manager, "operation": APPLY, "apiVersion": api_version,
                      "time": now_rfc3339(), "fieldsType": "FieldsV1",
                      "fieldsV1": fieldset.encode(applied)}
    for entry in entries:
        if entry.get("operation") != APPLY:
            kept.append(entry)
        elif entry.get("manager") in others:
            owned = others[entry["manager"]]
            if owned != fieldset.decode(entry.get("fieldsV1")):
                entry = {**entry, "fieldsV1": fieldset.encode(owned)}
            if owned:
                kept.append(entry)
        elif entry.get("fieldsV1") == mine["fieldsV1"]:
            mine["time"] = entry.get("time", mine["time"])  # unchanged: no new timestamp
    return [*kept, mine]


def _dotted(path: fieldset.Path) -> str:
    """``.spec.containers[name="a"].image``, as Kubernetes prints conflicting fields."""
    text = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            text += "." + rest
        else:
            text += f"[{rest}]"
    return text
