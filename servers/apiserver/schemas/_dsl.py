"""A tiny vocabulary for writing OpenAPI v3 schemas as Python data.

Each helper returns a plain JSON-able dict in the shape kube-apiserver publishes under
``components.schemas`` (references to named schemas with a description are wrapped in
``allOf``, as OpenAPI 3.0 ignores siblings of ``$ref``). Nothing here validates; see
``servers.apiserver.schemas.check`` for the walker that reads the same dicts.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
REF_PREFIX = "#/components/schemas/"


def _described(schema: Obj, desc: str) -> Obj:
    if desc:
        schema["description"] = desc
    return schema


def string(desc: str = "", *, enum: tuple[str, ...] = (), fmt: str = "") -> Obj:
    """A string, optionally limited to ``enum`` or carrying a ``format``."""
    schema: Obj = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    if enum:
        schema["enum"] = list(enum)
    return _described(schema, desc)


def integer(desc: str = "", fmt: str = "int32") -> Obj:
    """An integer (``int32`` or ``int64``)."""
    return _described({"type": "integer", "format": fmt}, desc)


def int64(desc: str = "") -> Obj:
    """A 64-bit integer."""
    return integer(desc, "int64")


def boolean(desc: str = "") -> Obj:
    """A boolean."""
    return _described({"type": "boolean"}, desc)


def number(desc: str = "") -> Obj:
    """A floating-point number."""
    return _described({"type": "number", "format": "double"}, desc)


def time(desc: str = "") -> Obj:
    """An RFC 3339 timestamp (``metav1.Time``)."""
    return ref(META + "Time", desc)


def ref(name: str, desc: str = "") -> Obj:
    """A reference to a named schema; a bare name means ``io.k8s.api.core.v1.<name>``."""
    full = name if "." in name else CORE + name
    target = {"$ref": REF_PREFIX + full}
    if not desc:
        return target
    return {"allOf": [target], "description": desc, "default": {}}


def array(items: Obj, desc: str = "", *, list_type: str = "", keys: tuple[str, ...] = (),
          patch: str = "", merge_key: str = "") -> Obj:
    """A list of ``items``; ``list_type``/``keys`` become Kubernetes' list extensions, and
    ``patch``/``merge_key`` its strategic-merge-patch ones (``x-kubernetes-patch-strategy``
    such as ``merge`` or ``merge,retainKeys``, and ``x-kubernetes-patch-merge-key``)."""
    schema: Obj = {"type": "array", "items": items}
    if list_type:
        schema["x-kubernetes-list-type"] = list_type
    if keys:
        schema["x-kubernetes-list-map-keys"] = list(keys)
    if merge_key:
        schema["x-kubernetes-patch-merge-key"] = merge_key
    if patch:
        schema["x-kubernetes-patch-strategy"] = patch
    return _described(schema, desc)


def refs(name: str, desc: str = "", *, key: str = "", patch: str = "") -> Obj:
    """A list of named objects, a ``map`` list keyed by ``key`` when given; with ``patch``
    (a strategy, usually ``merge``) strategic merge patches merge it by ``key``."""
    if key:
        return array(ref(name), desc, list_type="map", keys=(key,), patch=patch,
                     merge_key=key if patch else "")
    return array(ref(name), desc, list_type="atomic")


def strings(desc: str = "") -> Obj:
    """A list of strings."""
    return array(string(), desc, list_type="atomic")


def map_of(values: Obj, desc: str = "") -> Obj:
    """A map from string keys to ``values``."""
    return _described({"type": "object", "additionalProperties": values}, desc)


def string_map(desc: str = "") -> Obj:
    """A ``map[string]string``."""
    return map_of(string(), desc)


def quantities(desc: str = "") -> Obj:
    """A ``map[string]Quantity`` such as ``requests`` or ``capacity``."""
    return map_of(ref(QUANTITY), desc)


def free(desc: str = "") -> Obj:
    """An object km does not model deeply: any fields are accepted and kept."""
    return _described({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, desc)


def obj(
    desc: str,
    props: dict[str, Obj],
    required: tuple[str, ...] = (),
    *,
    gvk: tuple[str, str, str] | None = None,
) -> Obj:
    """A named object schema; ``gvk`` (group, version, kind) marks a top-level kind."""
    schema: Obj = {"description": desc, "type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if gvk is not None:
        group, version, kind = gvk
        schema["x-kubernetes-group-version-kind"] = [
            {"group": group, "kind": kind, "version": version}
        ]
    return schema


def kind_header(kind_desc: str) -> dict[str, Obj]:
    """The ``apiVersion``, ``kind`` and ``metadata`` properties every top-level kind has."""
    return {
        "apiVersion": string(
            "APIVersion defines the versioned schema of this representation of an object."
        ),
        "kind": string("Kind is a string value representing the REST resource this object "
                       "represents. " + kind_desc),
        "metadata": ref(META + "ObjectMeta", "Standard object's metadata."),
    }
