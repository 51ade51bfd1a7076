"""The resource endpoints: one aiohttp handler that maps (method, path) to a registry verb.

    GET    collection         list (or watch with ?watch=true)      item: get
    GET    pods/NAME/log      the kubelet's log, proxied (podlogs.py)
    POST   collection         create          pods/NAME/binding: bind, pods/NAME/eviction: evict
    PUT    item[/status|/scale]   update                             PATCH: patch
    DELETE item               delete                                 collection: deletecollection

    GET    watch/...          the legacy watch paths (/api/v1/watch/namespaces/NS/pods[/NAME])

A verb the resource does not support is 405 MethodNotAllowed; everything else that goes wrong
is a StatusError, rendered by the error middleware in app.py. Lists honour resourceVersion and
resourceVersionMatch as kube's ``ValidateListOptions`` and storage do (a revision the store
has not reached is 504 "Too large resource version"; Exact reads at that revision), and
fieldManager is checked as kube's ``ValidateFieldManager`` (at most 128 bytes, printable).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from servers.apimachinery import errors, field, selectors
from servers.apimachinery.meta import Obj
from servers.apimachinery.validation import expect_type
from servers.apiserver import codec, deletion, eviction, openapi, routing, tables, watch
from servers.apiserver.podlogs import PodLogs
from servers.apiserver.registry import Filter, Registry, parse_rv, too_large_rv
from servers.apiserver.resources import RESOURCES, Resource
from servers.apiserver.routing import Target
from servers.apiserver.schemas import schema_name, schemas
from servers.apiserver.schemas.check import check
from servers.apiserver.storage import interface as st

log = logging.getLogger(__name__)

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
FIELD_MANAGER_MAX_BYTES = 128
RV_MATCHES = ("Exact", "NotOlderThan")
META_GROUP = "meta.k8s.io"


class ResourceHandler:
    """Serves /api/v1/... and /apis/GROUP/VERSION/... for the resources of `table`."""

    def __init__(self, registry: Registry, logs: PodLogs, stopping: asyncio.Event,
                 table: tuple[Resource, ...] = RESOURCES) -> None:
        self.registry = registry
        self.logs = logs
        self.stopping = stopping
        self.table = table

    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        rest = info["rest"]
        legacy_watch = rest.startswith("watch/")
        target = routing.parse(info.get("group", ""), info["version"],
                               rest.removeprefix("watch/"), self.table)
        method = request.method
        if legacy_watch:
            return await self._legacy_watch(request, target)
        if target.subresource == "log" and method == "GET":
            return await self.logs.serve(request, target)  # text/plain, Accept aside
        codec.check_acceptable(request.headers.get("Accept"))
        if method == "GET":
            return await self._get(request, target)
        if method == "POST":
            return await self._post(request, target)
        if method == "PUT":
            return await self._put(request, target)
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE":
            return await self._delete(request, target)
        raise _not_allowed(target, method.lower())

    # -- reads ------------------------------------------------------------------------------

    async def _legacy_watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        """``/api/v1/watch/namespaces/NS/pods[/NAME]``: kube still serves these (deprecated)
        as a watch of the collection, or of the one object named."""
        if target.subresource:
            raise routing.PathNotFound
        if request.method != "GET":
            raise _not_allowed(target, request.method.lower())
        codec.check_acceptable(request.headers.get("Accept"))
        _require_verb(target, "watch")
        _check_watch_options(request.query)
        return await watch.serve(request, self.registry, target,
                                 _filter(target, request.query), self.stopping)

    async def _get(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = request.query
        if target.is_collection:
            _require_verb(target, "list")
            flt = _filter(target, query)
            if codec.bool_param(query, "watch"):
                _require_verb(target, "watch")
                _check_watch_options(query)
                return await watch.serve(request, self.registry, target, flt, self.stopping)
            limit = codec.int_param(query, "limit") or 0
            continue_ = query.get("continue", "")
            at_rev = await self._list_revision(query)
            wanted = codec.output_as(request.headers.get("Accept"))
            if wanted == codec.PARTIAL:
                raise codec.not_acceptable_shape(wanted, is_list=True)
            if not wanted:
                return _bytes(await self.registry.list_json(target, flt, limit=limit,
                                                            continue_=continue_, at_rev=at_rev))
            listed = await self.registry.list(target, flt, limit=limit, continue_=continue_,
                                              at_rev=at_rev)
            if wanted == codec.PARTIAL_LIST:
                return _json(codec.partial_metadata_list(listed))
            return self._respond(request, target, listed, items=listed["items"])
        if target.subresource == "scale":
            return _json(await self.registry.get_scale(target))
        wanted = codec.output_as(request.headers.get("Accept"))
        if wanted == codec.PARTIAL_LIST:
            raise codec.not_acceptable_shape(wanted, is_list=False)
        if not wanted:
            return _bytes(await self.registry.get_json(target))
        obj = await self.registry.get(target)
        if wanted == codec.PARTIAL:
            return _json(codec.partial_metadata(obj))
        return self._respond(request, target, obj, items=[obj])

    async def _list_revision(self, query: Any) -> int:
        """The revision a list reads at (0: the current one), from resourceVersion and
        resourceVersionMatch: 422 for a bad combination (kube's ``ValidateListOptions``), 400
        for a resourceVersion that is no revision, 504 for one the store has not reached."""
        text, match = query.get("resourceVersion", ""), query.get("resourceVersionMatch", "")
        continue_ = query.get("continue", "")
        causes = []
        if match:
            path = "resourceVersionMatch"
            if not text:
                causes.append(field.forbidden(path, "resourceVersionMatch is forbidden unless "
                                              "resourceVersion is provided"))
            if continue_:
                causes.append(field.forbidden(path, "resourceVersionMatch is forbidden when "
                                              "continue is provided"))
            if match not in RV_MATCHES:
                causes.append(field.not_supported(path, match, (*RV_MATCHES, "")))
            if match == "Exact" and text == "0":
                causes.append(field.forbidden(path, 'resourceVersionMatch "exact" is forbidden '
                                              'for resourceVersion "0"'))
        if causes:
            raise errors.Invalid("ListOptions", "", causes, group=META_GROUP)
        rev = parse_rv(text)
        if continue_ and text not in ("", "0"):
            raise errors.BadRequest("specifying resource version is not allowed when using "
                                    "continue")
        if not rev:
            return 0
        current = await self.registry.storage.current_revision()
        if rev > current:
            raise too_large_rv(st.FutureRevision(rev, current))
        return rev if match == "Exact" else 0  # NotOlderThan: the current state is newer

    def _respond(self, request: web.Request, target: Target, obj: Obj,
                 items: list[Obj]) -> web.Response:
        if not codec.wants_table(request.headers.get("Accept")):
            return _json(obj)
        include = request.query.get("includeObject", "Metadata")
        if include not in codec.INCLUDE_OBJECT:
            raise errors.BadRequest(f'includeObject must be one of {codec.INCLUDE_OBJECT}')
        meta = obj.get("metadata", {})
        table = tables.to_table(
            target.resource, items, include_object=include,  # type: ignore[arg-type]
            resource_version=meta.get("resourceVersion", ""),
            continue_token=meta.get("continue", "") if target.is_collection else "",
            remaining_item_count=meta.get("remainingItemCount"))
        return _json(table)

    # -- writes -----------------------------------------------------------------------------

    async def _post(self, request: web.Request, target: Target) -> web.Response:
        if target.subresource == "binding":
            binding = await _body(request, codec.BODY_TYPES)
            return _json(await self.registry.bind(target, binding), status=201)
        if target.subresource == "eviction":
            body = await _body(request, codec.BODY_TYPES)
            return _json(await eviction.evict(self.registry, target, body,
                                              dry_run=codec.dry_run(request.query)), status=201)
        if not target.is_collection:
            raise _not_allowed(target, "create")
        _require_verb(target, "create")
        _check_field_manager(request.query, "CreateOptions")
        obj = await _body(request, codec.BODY_TYPES)
        warnings = _validate_fields(request, target.resource, obj)
        _, body = await self.registry.create_json(target, obj,
                                                  dry_run=codec.dry_run(request.query))
        return _bytes(body, status=201, warnings=warnings)

    async def _put(self, request: web.Request, target: Target) -> web.Response:
        if target.is_collection or target.subresource == "binding":
            raise _not_allowed(target, "update")
        _require_verb(target, "update")
        _check_field_manager(request.query, "UpdateOptions")
        obj = await _body(request, codec.BODY_TYPES)
        dry = codec.dry_run(request.query)
        if target.subresource == "scale":
            return _json(await self.registry.update_scale(target, lambda _: obj, dry_run=dry))
        if target.subresource == "finalize":
            return _json(await self.registry.finalize_namespace(target, obj, dry_run=dry))
        warnings = _validate_fields(request, target.resource, obj)
        return _json(await self.registry.update(target, obj, dry_run=dry), warnings=warnings)

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        if target.is_collection or target.subresource == "binding":
            raise _not_allowed(target, "patch")
        _require_verb(target, "patch")
        _check_field_manager(request.query, "PatchOptions")
        content_type = request.headers.get("Content-Type")
        body = await _body(request, codec.PATCH_TYPES)
        dry = codec.dry_run(request.query)
        if codec.media_type(content_type) == codec.APPLY_PATCH:
            if target.subresource == "scale":
                raise errors.UnsupportedMediaType(codec.PATCH_TYPES[:-1])
            return await self._apply(request, target, body, dry)
        apply = _patcher(codec.media_type(content_type), body, target.resource)
        if target.subresource == "scale":
            return _json(await self.registry.update_scale(target, apply, dry_run=dry))
        warnings: list[str] = []

        def checked(obj: Obj) -> Obj:
            new = apply(obj)
            warnings.extend(_validate_fields(request, target.resource, new))
            return new

        return _json(await self.registry.patch(target, checked, dry_run=dry), warnings=warnings)

    async def _apply(self, request: web.Request, target: Target, body: Any,
                     dry: bool) -> web.Response:
        from servers.apiserver import apply

        warnings: list[str] = []
        obj, status = await apply.apply(
            self.registry, target, body, manager=request.query.get("fieldManager", ""),
            force=codec.bool_param(request.query, "force"), dry_run=dry,
            check=lambda new: warnings.extend(_validate_fields(request, target.resource, new)))
        return _json(obj, status=status, warnings=warnings)

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        options = await _delete_options(request)
        dry = codec.dry_run(request.query)
        if target.is_collection:
            _require_verb(target, "deletecollection")
            listed = await self.registry.delete_collection(
                target, _filter(target, request.query), options, dry_run=dry)
            return _json(listed)
        if target.subresource:
            raise _not_allowed(target, "delete")
        _require_verb(target, "delete")
        return _json(await self.registry.delete(target, options, dry_run=dry))


def _json(obj: Obj, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    return _bytes(codec.encode(obj), status, warnings)


def _bytes(body: bytes, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = ({"Warning": ", ".join(f'299 - "{_quoted(w)}"' for w in warnings)}
               if warnings else None)
    if not body.endswith(b"\n"):  # stored bytes sent as they are: kube ends with a newline
        body += b"\n"
    return web.Response(body=body, status=status, headers=headers, content_type=codec.JSON)


def _quoted(text: str) -> str:
    # A header value cannot carry control characters (a field name in a body can).
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


# The HTTP methods that carry each verb, on a collection and on one object.
_COLLECTION_METHODS = (("GET", ("list", "watch")), ("POST", ("create",)),
                       ("DELETE", ("deletecollection",)))
_OBJECT_METHODS = (("GET", ("get",)), ("PUT", ("update",)), ("PATCH", ("patch",)),
                   ("DELETE", ("delete",)))
_SUBRESOURCE_METHODS = (("GET", ("get",)), ("POST", ("create",)), ("PUT", ("update",)),
                        ("PATCH", ("patch",)))


def _not_allowed(target: Target, verb: str) -> errors.MethodNotAllowed:
    plural = target.resource.plural + (f"/{target.subresource}" if target.subresource else "")
    return errors.MethodNotAllowed(plural, verb, target.resource.group,
                                   allowed=_allowed_methods(target))


def _allowed_methods(target: Target) -> tuple[str, ...]:
    verbs: tuple[str, ...] = target.resource.verbs
    table = _COLLECTION_METHODS if target.is_collection else _OBJECT_METHODS
    if target.subresource:
        sub = target.resource.subresource(target.subresource)
        verbs, table = (sub.verbs if sub else ()), _SUBRESOURCE_METHODS
    return tuple(method for method, carried in table if any(v in verbs for v in carried))


def _require_verb(target: Target, verb: str) -> None:
    verbs = target.resource.verbs
    if target.subresource:
        sub = target.resource.subresource(target.subresource)
        verbs = sub.verbs if sub else ()
    if verb not in verbs:
        raise _not_allowed(target, verb)


def _check_watch_options(query: Any) -> None:
    """A watch takes no resourceVersionMatch (kube's ``validateWatchOptions``; km has no
    sendInitialEvents)."""
    if query.get("resourceVersionMatch"):
        raise errors.Invalid("ListOptions", "", [field.forbidden(
            "resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless "
            "sendInitialEvents is provided")], group=META_GROUP)


def _check_field_manager(query: Any, options_kind: str) -> None:
    """422 for a fieldManager longer than 128 bytes or with a character that is not
    printable (kube's ``ValidateFieldManager``; the index is a byte offset, as in Go)."""
    manager = query.get("fieldManager", "")
    encoded = manager.encode("utf-8", "surrogatepass")
    causes = []
    if len(encoded) > FIELD_MANAGER_MAX_BYTES:
        causes.append(field.too_long("fieldManager", FIELD_MANAGER_MAX_BYTES))
    bad = next((i for i, char in enumerate(manager) if not char.isprintable()), None)
    if bad is not None:
        at = len(manager[:bad].encode("utf-8", "surrogatepass"))
        causes.append(field.invalid("fieldManager", manager, f"invalid character at index {at}"))
    if causes:
        raise errors.Invalid(options_kind, "", causes, group=META_GROUP)


def _filter(target: Target, query: Any) -> Filter:
    labels = query.get("labelSelector")
    fields = query.get("fieldSelector")
    return Filter(
        selectors.parse_label_selector(labels) if labels else None,
        selectors.parse_field_selector(fields, target.resource.field_selectors)
        if fields else None)


async def _body(request: web.Request, allowed: tuple[str, ...]) -> Any:
    if request.content_length is not None and request.content_length > codec.MAX_BODY_BYTES:
        raise _too_large()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    if not raw:
        raise errors.BadRequest("the request has no body")
    return codec.decode_body(raw, request.headers.get("Content-Type"), allowed)


def _too_large() -> errors.RequestEntityTooLarge:
    return errors.RequestEntityTooLarge(
        f"limit is {codec.MAX_BODY_BYTES} bytes")


async def _delete_options(request: web.Request) -> Obj:
    options: Obj = {}
    if request.can_read_body:
        raw = await request.read()
        if raw.strip():
            body = codec.decode_body(raw, request.headers.get("Content-Type"), codec.BODY_TYPES)
            if not isinstance(body, dict):
                raise errors.BadRequest("DeleteOptions must be a JSON object")
            expect_type(body.get("preconditions"), (dict, type(None)),
                        "DeleteOptions.preconditions")
            expect_type(body.get("gracePeriodSeconds"), (int, type(None)),
                        "DeleteOptions.gracePeriodSeconds")
            options = body
    grace = codec.int_param(request.query, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    return deletion.parse_options(options, request.query)


def _validate_fields(request: web.Request, resource: Resource, obj: Any) -> list[str]:
    """Type mismatches are 400; unknown fields per ?fieldValidation (Strict/Warn/Ignore)."""
    mode = request.query.get("fieldValidation", "Warn")
    if mode not in FIELD_VALIDATION:
        raise errors.BadRequest(f'fieldValidation must be one of {", ".join(FIELD_VALIDATION)}')
    if not isinstance(obj, dict):
        raise errors.BadRequest(openapi.decode_error_message(
            resource.kind, resource.version, "the object must be a JSON object"))
    findings = check(schemas(), schema_name(resource.gvk), obj)
    if findings.type_errors:
        raise errors.BadRequest(openapi.decode_error_message(
            resource.kind, resource.version, findings.type_errors[0]))
    if not findings.unknown or mode == "Ignore":
        return []
    if mode == "Strict":
        raise errors.BadRequest(openapi.strict_decoding_error(findings.unknown))
    return [f'unknown field "{path}"' for path in findings.unknown]


def _patcher(kind: str, patch: Any, resource: Resource) -> Callable[[Obj], Obj]:
    from servers.apimachinery import patch as patches
    from servers.apimachinery import strategic
    from servers.apiserver.schemas.patchmeta import OpenAPISchema

    if kind == codec.JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.BadRequest("a JSON patch must be a list of operations")
        return lambda obj: codec.check_depth(patches.json_patch(obj, patch))  # add can nest
    if not isinstance(patch, dict):
        raise errors.BadRequest("a merge patch must be a JSON object")
    if kind == codec.STRATEGIC_PATCH:
        schema = OpenAPISchema.named(schemas(), schema_name(resource.gvk))
        return lambda obj: strategic.apply(obj, patch, schema)
    return lambda obj: patches.merge_patch(obj, patch)
