"""OpenAPI v3 documents (``/openapi/v3``, ``/openapi/v3/api/v1``) and the decoding checks
derived from the same schemas.

What kubectl 1.32 needs (see the API notes, section 1.4): for every kind a PATCH operation that
carries ``x-kubernetes-group-version-kind`` and a ``fieldValidation`` query parameter. kubectl
then sends ``?fieldValidation=Strict`` and leaves validation to the server, which calls
``unknown_fields`` and ``type_errors`` here. The PATCH request bodies list
``application/strategic-merge-patch+json``, so client-side apply computes its patches from
these schemas: they carry ``x-kubernetes-patch-merge-key``/``-strategy`` on the lists that
merge, which the server's patch engine reads too (``schemas.patchmeta``). ``components.schemas``
holds full schemas so ``kubectl explain`` works.

Pure functions over the resource table; no HTTP. Documents are built once per table and
served as bytes (``document_bytes``); the index hash is a content hash of those bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from servers.apiserver.resources import RESOURCES, GroupVersionKind, Resource, group_versions
from servers.apiserver.schemas import schema_name, schemas
from servers.apiserver.schemas.check import check

Obj = dict[str, Any]

OPENAPI_VERSION = "3.0.0"
#: The ``info.version`` kube-apiserver 1.32 reports.
INFO_VERSION = "v1.32.4"
_JSON = "application/json"
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_PATCH_SCHEMA = {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
_DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"


def gv_path(group: str, version: str) -> str:
    """The document path of a group/version: ``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _query(name: str, desc: str, kind: str = "string") -> Obj:
    return {"name": name, "in": "query", "description": desc, "schema": {"type": kind},
            "uniqueItems": True}


_PARAMS = {
    "dryRun": _query("dryRun", "When present (All), the change is not persisted."),
    "fieldManager": _query("fieldManager", "Name of the actor making the change."),
    "fieldValidation": _query(
        "fieldValidation",
        "How to treat unknown or duplicate fields: Ignore, Warn or Strict (400 on the first).",
    ),
    "force": _query("force", "Force server-side apply over conflicts.", "boolean"),
    "pretty": _query("pretty", "Pretty-print the output."),
}
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


def _path_params(resource: Resource) -> list[Obj]:
    names = ["name", "namespace"] if resource.namespaced else ["name"]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"},
             "uniqueItems": True} for n in names]


def _content(schema_ref: str) -> Obj:
    return {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def _operation(op_id: str, action: str, gvk: GroupVersionKind, params: tuple[str, ...]) -> Obj:
    op: Obj = {
        "description": f"{action} {gvk.kind}",
        "operationId": op_id,
        "parameters": [_PARAMS[p] for p in params],
        "responses": {"200": {"description": "OK", "content": _content(schema_name(gvk))},
                      "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": gvk.group, "version": gvk.version,
                                            "kind": gvk.kind},
    }
    if action in ("put", "post"):
        op["requestBody"] = {"content": _content(schema_name(gvk)), "required": True}
        op["responses"]["201"] = {"description": "Created", "content": _content(schema_name(gvk))}
    if action == "delete":
        op["requestBody"] = {"content": _content(_DELETE_OPTIONS)}
    if action == "patch":
        op["requestBody"] = {"content": {t: {"schema": _PATCH_SCHEMA} for t in _PATCH_TYPES},
                             "required": True}
        op["responses"]["201"] = {"description": "Created", "content": _content(schema_name(gvk))}
    return op


def _op_id(verb: str, resource: Resource, suffix: str = "") -> str:
    """``patchCoreV1NamespacedPodStatus``, in kube-apiserver's operationId style."""
    group = "".join(p.capitalize() for p in resource.group.split(".")[:1]) or "Core"
    scope = "Namespaced" if resource.namespaced else ""
    return f"{verb}{group}{resource.version.capitalize()}{scope}{resource.kind}{suffix}"


_ITEM_VERBS = (  # (verb, HTTP method, operationId verb, query parameters)
    ("get", "get", "read", ("pretty",)),
    ("update", "put", "replace", ("pretty", *_WRITE_PARAMS)),
    ("patch", "patch", "patch", ("pretty", *_WRITE_PARAMS, "force")),
    ("delete", "delete", "delete", ("pretty", "dryRun")),
    ("create", "post", "create", ("pretty", *_WRITE_PARAMS)),
)


def _item_ops(
    resource: Resource, gvk: GroupVersionKind, verbs: tuple[str, ...], sub: str = ""
) -> Obj:
    ops: Obj = {}
    for verb, method, id_verb, params in _ITEM_VERBS:
        if verb in verbs:
            op_id = _op_id(id_verb, resource, sub.capitalize())
            ops[method] = _operation(op_id, method, gvk, params)
    if ops:
        ops["parameters"] = _path_params(resource)
    return ops


def _collection_ops(resource: Resource) -> Obj:
    ops: Obj = {}
    list_gvk = GroupVersionKind(resource.group, resource.version, resource.list_kind)
    if "list" in resource.verbs:
        ops["get"] = _operation(_op_id("list", resource), "list", list_gvk, ("pretty",))
    if "create" in resource.verbs:
        ops["post"] = _operation(
            _op_id("create", resource), "post", resource.gvk, ("pretty", *_WRITE_PARAMS)
        )
    if ops and resource.namespaced:
        ops["parameters"] = _path_params(resource)[1:]
    return ops


def _base(resource: Resource) -> str:
    prefix = "/" + gv_path(resource.group, resource.version)
    if resource.namespaced:
        prefix += "/namespaces/{namespace}"
    return f"{prefix}/{resource.plural}"


def _paths(resource: Resource) -> Obj:
    base = _base(resource)
    paths: Obj = {base: _collection_ops(resource)}
    item_verbs = tuple(v for v in resource.verbs if v != "create")
    if item_verbs:
        paths[base + "/{name}"] = _item_ops(resource, resource.gvk, item_verbs)
    for sub in resource.subresources:
        if sub.name in _CONNECT_PARAMS:
            paths[f"{base}/{{name}}/{sub.name}"] = _connect_ops(resource, sub.kind, sub.name)
            continue
        sub_ops = _item_ops(resource, sub.kind, sub.verbs, sub.name)
        if sub.name == "log":
            sub_ops["get"]["responses"]["200"]["content"] = {"text/plain": {
                "schema": {"type": "string"}}}
        paths[f"{base}/{{name}}/{sub.name}"] = sub_ops
    return {path: ops for path, ops in paths.items() if ops}


#: pods/exec|attach|portforward: kube's connect operations (GET and POST, a string answer),
#: with the options as query parameters (servers.apiserver.podstream serves them).
_STREAM_FLAGS = (*(_query(f, f"Redirect the {f} of the process.", "boolean")
                   for f in ("stderr", "stdin", "stdout")),
                 _query("tty", "Allocate a terminal for the process.", "boolean"))
_CONNECT_PARAMS = {
    "attach": (_query("container", "The container to attach to."), *_STREAM_FLAGS),
    "exec": (_query("command", "The command and its arguments, one parameter each."),
             _query("container", "The container to run the command in."), *_STREAM_FLAGS),
    "portforward": (_query("ports", "The pod's ports to forward to.", "integer"),),
}


def _connect_ops(resource: Resource, gvk: GroupVersionKind, sub: str) -> Obj:
    ops: Obj = {}
    scoped = ("Namespaced" if resource.namespaced else "") + resource.kind + sub.capitalize()
    prefix = _op_id("connect", resource, sub.capitalize())[:-len(scoped)]  # connectCoreV1
    for method in ("get", "post"):
        ops[method] = {
            "description": f"connect {method.upper()} requests to {sub} of {resource.kind}",
            "operationId": prefix + method.capitalize() + scoped,
            "responses": {"200": {"description": "OK", "content": {"*/*": {
                "schema": {"type": "string"}}}}, "401": {"description": "Unauthorized"}},
            "x-kubernetes-action": "connect",
            "x-kubernetes-group-version-kind": {"group": gvk.group, "version": gvk.version,
                                                "kind": gvk.kind},
        }
    ops["parameters"] = [*_path_params(resource), *_CONNECT_PARAMS[sub]]
    return ops


def _referenced(doc_paths: Obj, table: dict[str, Obj]) -> dict[str, Obj]:
    """The schemas reachable from ``doc_paths``, so each document carries what it uses."""
    wanted: set[str] = set()
    pending = [doc_paths]
    while pending:
        node = pending.pop()
        for ref in _refs_in(node):
            name = ref.removeprefix("#/components/schemas/")
            if name not in wanted:
                wanted.add(name)
                pending.append(table[name])
    return {name: table[name] for name in sorted(wanted)}


def _refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs_in(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs_in(v)]
    return []


def document(group: str, version: str, resources: tuple[Resource, ...] = RESOURCES) -> Obj:
    """The OpenAPI v3 document of one group/version (empty ``paths`` if nothing is served)."""
    paths: Obj = {}
    for resource in resources:
        if (resource.group, resource.version) == (group, version):
            paths.update(_paths(resource))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Kubernetes", "version": INFO_VERSION},
        "paths": paths,
        "components": {"schemas": _referenced(paths, schemas(resources))},
    }


@functools.lru_cache(maxsize=16)
def _documents(resources: tuple[Resource, ...]) -> dict[str, bytes]:
    return {
        gv_path(g, v): json.dumps(document(g, v, resources), separators=(",", ":")).encode()
        for g, v in group_versions(resources)
    }


def document_bytes(path: str, resources: tuple[Resource, ...] = RESOURCES) -> bytes | None:
    """The serialized document for ``api/v1`` or ``apis/<g>/<v>``, or None if not served."""
    return _documents(resources).get(path.strip("/"))


def document_hash(path: str, resources: tuple[Resource, ...] = RESOURCES) -> str | None:
    """Uppercase hex SHA-512 of ``document_bytes(path)`` (what kube-apiserver uses)."""
    body = document_bytes(path, resources)
    return hashlib.sha512(body).hexdigest().upper() if body is not None else None


def index(resources: tuple[Resource, ...] = RESOURCES) -> Obj:
    """``GET /openapi/v3``: each served group/version with a content-hashed URL."""
    return {"paths": {
        path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(path, resources)}"}
        for path in _documents(resources)
    }}


def unknown_fields(kind: str, obj: Obj, *, group: str = "", version: str = "v1") -> list[str]:
    """Paths of fields in ``obj`` that the schema of ``kind`` does not know, in document order
    (``spec.foo``, ``spec.containers[0].bar``). Raises KeyError for a kind without a schema."""
    return check(schemas(), schema_name(GroupVersionKind(group, version, kind)), obj).unknown


def type_errors(kind: str, obj: Obj, *, group: str = "", version: str = "v1") -> list[str]:
    """Go-style messages for values of the wrong JSON type (``json: cannot unmarshal ...``).
    Raises KeyError for a kind without a schema."""
    return check(schemas(), schema_name(GroupVersionKind(group, version, kind)), obj).type_errors


def strict_decoding_error(paths: list[str]) -> str:
    """The detail Kubernetes gives for unknown fields under ``fieldValidation=Strict``."""
    fields = ", ".join(f'unknown field "{p}"' for p in paths)
    return f"strict decoding error: {fields}"


def decode_error_message(kind: str, version: str, detail: str) -> str:
    """The 400 BadRequest message: ``Pod in version "v1" cannot be handled as a Pod: <detail>``."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'
