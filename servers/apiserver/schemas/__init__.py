"""The OpenAPI v3 schemas of every kind km serves, by their Kubernetes names.

``schemas()`` is the one table: ``components.schemas`` of ``/openapi/v3/...`` publishes it (so
``kubectl explain pod.spec.containers`` works) and ``servers.apiserver.openapi`` checks request
bodies against it (unknown fields for ``fieldValidation=Strict``, type mismatches always).
Standard library only; the dicts are built once and must be treated as read-only.
"""

from __future__ import annotations

import functools

from servers.apiserver.resources import RESOURCES, GroupVersionKind, Resource
from servers.apiserver.schemas import (
    affinity,
    apps,
    authentication,
    batch,
    certificates,
    container,
    coordination,
    core,
    discovery,
    meta,
    node,
    pod,
    policy,
    rbac,
    scheduling,
    secret,
)
from servers.apiserver.schemas._dsl import META, Obj, kind_header, obj, ref, refs

_GROUP_PACKAGES = {"": "io.k8s.api.core.", "autoscaling": "io.k8s.api.autoscaling."}


def schema_name(gvk: GroupVersionKind) -> str:
    """The ``components.schemas`` name of a kind, e.g. ``io.k8s.api.core.v1.Pod``."""
    if gvk.kind in ("Status", "DeleteOptions", "WatchEvent") and not gvk.group:
        return META + gvk.kind
    package = _GROUP_PACKAGES.get(gvk.group, f"io.k8s.api.{gvk.group.split('.')[0]}.")
    return f"{package}{gvk.version}.{gvk.kind}"


def _list_schema(resource: Resource) -> tuple[str, Obj]:
    item = schema_name(resource.gvk)
    header = kind_header("In CamelCase.")
    header["metadata"] = ref(META + "ListMeta", "Standard list metadata.")
    schema = obj(
        f"{resource.list_kind} is a list of {resource.kind} objects.",
        {**header, "items": refs(item, f"List of {resource.plural}.")},
        ("items",),
        gvk=(resource.group, resource.version, resource.list_kind),
    )
    return item.rsplit(".", 1)[0] + "." + resource.list_kind, schema


def _generic_schema(gvk: GroupVersionKind) -> Obj:
    """A stand-in for a kind km has no schema for: any content is accepted and kept."""
    schema = obj(f"{gvk.kind} ({gvk.api_version}); km does not describe its fields.",
                 kind_header("In CamelCase."), gvk=(gvk.group, gvk.version, gvk.kind))
    schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


@functools.cache
def schemas(resources: tuple[Resource, ...] = RESOURCES) -> dict[str, Obj]:
    """Every schema by full name: kinds, their parts, meta types and ``<Kind>List`` types.

    A served kind without a hand-written schema (a group added to the resource table later)
    gets a generic one that accepts any fields, so the OpenAPI documents stay complete.
    """
    table: dict[str, Obj] = {}
    for module in (meta, container, pod, core, node, rbac, coordination, scheduling,
                   authentication, affinity, apps, batch, policy, discovery, secret,
                   certificates):
        table.update(module.SCHEMAS)
    for resource in resources:
        for gvk in (resource.gvk, *(sub.kind for sub in resource.subresources)):
            table.setdefault(schema_name(gvk), _generic_schema(gvk))
        if "list" in resource.verbs:
            name, schema = _list_schema(resource)
            table[name] = schema
    return table


def kind_schema(gvk: GroupVersionKind, resources: tuple[Resource, ...] = RESOURCES) -> str | None:
    """The schema name for ``gvk`` when km has one, else None."""
    name = schema_name(gvk)
    return name if name in schemas(resources) else None
