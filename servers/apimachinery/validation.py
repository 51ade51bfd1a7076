"""Generic validation: Kubernetes' name rules, labels, annotations and object metadata.

The ``is_*`` functions (from ``_names``) return the list of things wrong with a string,
worded exactly like ``k8s.io/apimachinery/pkg/util/validation`` (an empty list means valid);
the ``name_is_*`` rules apply them to object names and ``generateName`` prefixes; the
``validate_*``
functions return ``field.Cause`` lists ready for ``errors.Invalid``, like
``k8s.io/apimachinery/pkg/api/validation``. ``expect_type`` is the guard for JSON members of
the wrong type, which kube-apiserver rejects while decoding (400), before validation proper.

Per-resource rules (what a Pod's spec must hold) are not here; the resource registry writes
them with these helpers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from servers.apimachinery import _goformat, field
from servers.apimachinery._names import (
    DNS1035_LABEL_MAX_LENGTH,
    DNS1123_LABEL_MAX_LENGTH,
    DNS1123_SUBDOMAIN_MAX_LENGTH,
    LABEL_VALUE_MAX_LENGTH,
    QUALIFIED_NAME_MAX_LENGTH,
    TOTAL_ANNOTATION_SIZE_LIMIT,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    size,
)
from servers.apimachinery.errors import BadRequest
from servers.apimachinery.field import Cause
from servers.apimachinery.meta import Obj

__all__ = [
    "DNS1035_LABEL_MAX_LENGTH", "DNS1123_LABEL_MAX_LENGTH", "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "FIELD_IMMUTABLE", "GENERATE_NAME_ALPHABET", "LABEL_VALUE_MAX_LENGTH",
    "MAX_GENERATED_PREFIX_LENGTH", "QUALIFIED_NAME_MAX_LENGTH", "TOTAL_ANNOTATION_SIZE_LIMIT",
    "NameRule", "expect_type", "generate_name", "is_dns1035_label", "is_dns1123_label",
    "is_dns1123_subdomain", "is_qualified_name", "is_valid_label_value",
    "name_is_dns1035_label", "name_is_dns_label", "name_is_dns_subdomain",
    "validate_annotations", "validate_finalizers", "validate_labels",
    "validate_nonnegative", "validate_object_meta", "validate_object_meta_update",
    "validate_owner_references",
]

FIELD_IMMUTABLE = "field is immutable"
GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters of a generated suffix: no vowels (no words), no 0/1/3 (confusable)."""
_RANDOM_LENGTH = 5
MAX_GENERATED_PREFIX_LENGTH = 63 - _RANDOM_LENGTH


# -- object names ------------------------------------------------------------------------------

NameRule = Callable[[str, bool], list[str]]
"""``rule(name, prefix)`` lists what is wrong with a name (``ValidateNameFunc``).

``prefix`` is true when checking a ``generateName``, which gets random characters appended,
so a trailing ``-`` is fine there.
"""


def _mask_trailing_dash(name: str) -> str:
    # Upstream's maskTrailingDash drops the last *two* characters before appending "a"; kept
    # as is because it decides which generateName prefixes validate.
    # https://github.com/kubernetes/apimachinery/blob/v0.32.0/pkg/api/validation/generic.go#L80
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """Name rule of most kinds (pods, configmaps, nodes, ...)."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """Name rule of namespaces (``ValidateNamespaceName``)."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """Name rule of services (``ValidateServiceName``)."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def generate_name(prefix: str) -> str:
    """A name for ``generateName: prefix``: the prefix (cut to 58) plus 5 random characters.

    Same alphabet and lengths as Kubernetes' ``SimpleNameGenerator``; the server still has to
    handle a collision (409 ``AlreadyExists``).
    """
    random = "".join(secrets.choice(GENERATE_NAME_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return prefix[:MAX_GENERATED_PREFIX_LENGTH] + random


# -- JSON types --------------------------------------------------------------------------------

_JSON_NAMES = {str: "string", bool: "bool", int: "number", float: "number", dict: "object",
               list: "array", type(None): "null"}
_GO_NAMES = {str: "string", bool: "bool", int: "int64", float: "float64", dict: "object",
             list: "array"}


def _json_type(value: object) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def expect_type(value: Any, types: tuple[type, ...], path: str) -> Any:
    """Return ``value`` if it is one of ``types``, else raise ``BadRequest``.

    For JSON members of the wrong type, which kube-apiserver's decoder rejects with a 400
    before any validation runs. ``bool`` is not an ``int`` here, and an ``int`` is accepted
    where ``float`` is; include ``type(None)`` to allow ``null``. The message reads like Go's:
    ``json: cannot unmarshal number into Go struct field spec.containers[0].name of type
    string``.
    """
    if _type_ok(value, types):
        return value
    # Go decodes null into anything, so its messages never offer "null".
    wanted = " or ".join(dict.fromkeys(_GO_NAMES.get(kind, kind.__name__)
                                       for kind in types if kind is not type(None)))
    msg = (f"json: cannot unmarshal {_json_type(value)} into Go struct field {path} "
           f"of type {wanted}")
    raise BadRequest(msg)


def _type_ok(value: object, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _string_map(value: Any, path: str) -> dict[str, str]:
    members = expect_type(value, (dict, type(None)), path) or {}
    for key, member in members.items():
        expect_type(member, (str,), f"{path}[{key}]")
    return dict(members)


def _string_list(value: Any, path: str) -> list[str]:
    items = expect_type(value, (list, type(None)), path) or []
    for index, item in enumerate(items):
        expect_type(item, (str,), f"{path}[{index}]")
    return list(items)


# -- metadata ----------------------------------------------------------------------------------

def validate_nonnegative(value: int, path: str) -> list[Cause]:
    """``must be greater than or equal to 0`` when ``value`` is negative."""
    return [field.invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []


def validate_labels(labels: Any, path: str = "metadata.labels") -> list[Cause]:
    """Label keys must be qualified names and values label values (``ValidateLabels``)."""
    causes = []
    for key, value in sorted(_string_map(labels, path).items()):
        causes += [field.invalid(path, key, msg) for msg in is_qualified_name(key)]
        causes += [field.invalid(path, value, msg) for msg in is_valid_label_value(value)]
    return causes


def validate_annotations(annotations: Any, path: str = "metadata.annotations") -> list[Cause]:
    """Keys are qualified names (case-insensitive); keys plus values at most 256 KiB."""
    members = _string_map(annotations, path)
    causes = []
    for key in sorted(members):
        causes += [field.invalid(path, key, msg) for msg in is_qualified_name(key.lower())]
    total = sum(size(key) + size(value) for key, value in members.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(field.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_finalizers(finalizers: Any, path: str = "metadata.finalizers") -> list[Cause]:
    """Finalizers are qualified names; ``orphan`` and ``foregroundDeletion`` exclude each other."""
    names = _string_list(finalizers, path)
    causes = [field.invalid(path, name, msg) for name in names for msg in is_qualified_name(name)]
    if "orphan" in names and "foregroundDeletion" in names:
        causes.append(field.invalid(path, names,
                                    "finalizer orphan and foregroundDeletion cannot be both set"))
    return causes


def _owner_reference_causes(ref: Any, index: int, path: str) -> list[Cause]:
    item = f"{path}[{index}]"
    ref = expect_type(ref, (dict,), item)
    members = {member: _string_member(ref, member, item)
               for member in ("apiVersion", "kind", "name", "uid")}
    api_version = members["apiVersion"]
    # schema.ParseGroupVersion: "v1", "apps/v1"; anything with more slashes has no version.
    group, _, version = api_version.rpartition("/") if api_version.count("/") < 2 else ("", "", "")
    present = {**members, "apiVersion": version}
    causes = [field.invalid(f"{path}.{member}", members[member], f"{noun} must not be empty")
              for member, noun in (("apiVersion", "version"), ("kind", "kind"),
                                   ("name", "name"), ("uid", "uid"))
              if not present[member]]
    if (group, version, members["kind"]) == ("", "v1", "Event"):
        causes.append(field.invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
    return causes


def validate_owner_references(refs: Any, path: str = "metadata.ownerReferences") -> list[Cause]:
    """Each reference names apiVersion, kind, name and uid; at most one is the controller."""
    items = expect_type(refs, (list, type(None)), path) or []
    causes: list[Cause] = []
    controller = ""
    for index, ref in enumerate(items):
        causes += _owner_reference_causes(ref, index, path)
        if ref.get("controller") is not True:
            continue
        current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
        if controller:
            causes.append(field.invalid(path, items, (
                'Only one reference can have Controller set to true. Found "true" in references '
                f"for {controller} and {current}")))
        else:
            controller = current
    return causes


def _string_member(meta: Obj, name: str, path: str) -> str:
    return expect_type(meta.get(name), (str, type(None)), f"{path}.{name}") or ""


def _int_member(meta: Obj, name: str, path: str) -> int:
    return expect_type(meta.get(name), (int, type(None)), f"{path}.{name}") or 0


def _name_causes(meta: Obj, path: str, name_rule: NameRule) -> list[Cause]:
    causes = []
    generate = _string_member(meta, "generateName", path)
    if generate:
        causes += [field.invalid(f"{path}.generateName", generate, msg)
                   for msg in name_rule(generate, True)]
    name = _string_member(meta, "name", path)
    if not name:
        return [*causes, field.required(f"{path}.name", "name or generateName is required")]
    return causes + [field.invalid(f"{path}.name", name, msg) for msg in name_rule(name, False)]


def _namespace_causes(meta: Obj, path: str, namespaced: bool) -> list[Cause]:
    namespace = _string_member(meta, "namespace", path)
    if not namespaced:
        forbidden = field.forbidden(f"{path}.namespace", "not allowed on this type")
        return [forbidden] if namespace else []
    if not namespace:
        return [field.required(f"{path}.namespace")]
    return [field.invalid(f"{path}.namespace", namespace, msg)
            for msg in name_is_dns_label(namespace, False)]


def _common_causes(meta: Obj, path: str) -> list[Cause]:
    return [
        *validate_labels(meta.get("labels"), f"{path}.labels"),
        *validate_annotations(meta.get("annotations"), f"{path}.annotations"),
        *validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"),
        *validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"),
    ]


def validate_object_meta(meta: Any, *, namespaced: bool, name_rule: NameRule,
                         path: str = "metadata") -> list[Cause]:
    """Validate ``metadata`` of an object being created (``ValidateObjectMeta``).

    Call after ``generate_name`` filled ``name`` in. Returns the causes for an
    ``errors.Invalid`` (empty when valid); raises ``BadRequest`` for members of the wrong JSON
    type. Cluster-scoped kinds (``namespaced=False``) must not carry a namespace.
    """
    meta = expect_type(meta, (dict, type(None)), path) or {}
    return [
        *_name_causes(meta, path, name_rule),
        *_namespace_causes(meta, path, namespaced),
        *validate_nonnegative(_int_member(meta, "generation", path), f"{path}.generation"),
        *_common_causes(meta, path),
    ]


_IMMUTABLE = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds")


def validate_object_meta_update(new: Any, old: Obj, path: str = "metadata") -> list[Cause]:
    """Validate ``metadata`` of an update against the stored one (``ValidateObjectMetaUpdate``).

    ``resourceVersion`` must be set (the server fills it in first for unconditional updates),
    ``generation`` may not go down, identity and deletion fields are immutable, and no
    finalizer may be added once ``deletionTimestamp`` is set.
    """
    new = expect_type(new, (dict,), path)
    causes = []
    if old.get("deletionTimestamp"):
        causes += _no_new_finalizers(new, old, path)
    if not _string_member(new, "resourceVersion", path):
        causes.append(
            field.invalid(f"{path}.resourceVersion", "", "must be specified for an update"))
    generation = _int_member(new, "generation", path)
    if generation < (old.get("generation") or 0):
        causes.append(field.invalid(f"{path}.generation", generation, "must not be decremented"))
    causes += [field.invalid(f"{path}.{member}", new.get(member), FIELD_IMMUTABLE)
               for member in _IMMUTABLE if new.get(member) != old.get(member)]
    return causes + _common_causes(new, path)


def _no_new_finalizers(new: Obj, old: Obj, path: str) -> list[Cause]:
    added = sorted(set(_string_list(new.get("finalizers"), f"{path}.finalizers"))
                   - set(old.get("finalizers") or []))
    if not added:
        return []
    shown = "[]string{" + ", ".join(_goformat.quote(name) for name in added) + "}"
    return [field.forbidden(f"{path}.finalizers", "no new finalizers can be added if the object "
                            f"is being deleted, found new finalizers {shown}")]
