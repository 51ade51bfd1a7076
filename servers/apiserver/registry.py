"""The registry: Kubernetes object semantics on top of the revisioned key-value storage.

It is the only code that talks to storage. It owns what the server sets on objects (uid,
creationTimestamp, resourceVersion, generation, namespace), optimistic concurrency (a stale
resourceVersion is 409 Conflict), the split between an object and its status subresource,
graceful deletion and finalizers, and the subresources that are not plain writes
(pods/binding, every kind's /scale). Storage errors become API errors here, at this
seam, and nowhere else.

resourceVersion is the storage revision of an object's last write; it is not stored inside
the value but set on every object read back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from servers.apimachinery import errors, field, jsonio
from servers.apimachinery.meta import Obj, now_rfc3339
from servers.apimachinery.selectors import FieldSelector, LabelSelector
from servers.apimachinery.validation import generate_name
from servers.apiserver import (
    admission,
    codec,
    deletion,
    kinds,
    objectmeta,
    paging,
    resources,
)
from servers.apiserver.kinds import certificates, scale
from servers.apiserver.resources import Resource
from servers.apiserver.routing import Target
from servers.apiserver.serviceallocation import ServiceRanges
from servers.apiserver.storage import interface as st
from servers.apiserver.stored import decode, encode, raw
from servers.apiserver.watchcache import WatchCache

log = logging.getLogger(__name__)

GENERATE_NAME_ATTEMPTS = 8
CONFLICT_RETRIES = 64  # a write that keeps losing races (kube retries until its timeout)
NAMESPACE_CACHE_SECONDS = 5.0
LIST_PAGE = 500


@dataclass(frozen=True)
class Filter:
    """Label and field selectors of a list or watch; None means everything."""

    labels: LabelSelector | None = None
    fields: FieldSelector | None = None

    def matches(self, resource: Resource, obj: Obj) -> bool:
        if self.labels is not None and not self.labels.matches(obj["metadata"].get("labels")):
            return False
        if self.fields is not None:
            return self.fields.matches(resources.selectable_fields(resource, obj))
        return True

    @property
    def everything(self) -> bool:
        return self.labels is None and self.fields is None


class Registry:
    """Create, read, update, patch and delete objects of every resource in one storage."""

    def __init__(self, storage: st.Storage, service_ranges: ServiceRanges | None = None
                 ) -> None:
        self.storage = storage
        self._service_ips = asyncio.Lock()
        self.service_ranges = service_ranges or ServiceRanges.parse()
        self.watch_cache = WatchCache(storage)
        self.admission = admission.Admission(storage, self.watch_cache)
        self.watchers = 0  # HTTP watches being served (watch.py counts them)
        self._namespaces_seen: dict[str, float] = {}  # name -> known to exist until

    # -- reads ------------------------------------------------------------------------------

    async def get(self, target: Target) -> Obj:
        return decode(await self._get_kv(target))

    async def get_json(self, target: Target) -> bytes:
        return raw(await self._get_kv(target))

    async def _get_kv(self, target: Target) -> st.KeyValue:
        try:
            return await self.storage.get(_key(target))
        except st.KeyNotFound:
            raise _not_found(target) from None

    async def list(self, target: Target, flt: Filter, *, limit: int = 0,
                   continue_: str = "", at_rev: int = 0) -> Obj:
        """A List of the matching objects, paged by `limit` and `continue_` as Kubernetes;
        `at_rev` reads it as of that revision (resourceVersionMatch=Exact)."""
        found, meta = await self._list(target, flt, limit, continue_, at_rev)
        return {"kind": target.resource.list_kind, "apiVersion": target.resource.api_version,
                "metadata": meta, "items": [obj or decode(kv) for kv, obj in found]}

    async def list_json(self, target: Target, flt: Filter, *, limit: int = 0,
                        continue_: str = "", at_rev: int = 0) -> bytes:
        """The same List, as JSON bytes built without decoding the items."""
        found, meta = await self._list(target, flt, limit, continue_, at_rev)
        head = jsonio.dumps({"kind": target.resource.list_kind,
                             "apiVersion": target.resource.api_version, "metadata": meta})
        return head[:-1] + b',"items":[' + b",".join(raw(kv) for kv, _ in found) + b"]}"

    async def _list(self, target: Target, flt: Filter, limit: int, continue_: str,
                    exact_rev: int) -> tuple[list[tuple[st.KeyValue, Obj | None]], Obj]:
        prefix = resources.prefix_for(target.resource, target.namespace)
        start, at_rev = (paging.parse_continue(continue_, prefix) if continue_
                         else (prefix, exact_rev))
        try:
            found, rev, next_key, remaining = await self._collect(prefix, start, at_rev, flt,
                                                                  target.resource, limit)
        except st.Compacted as exc:
            if continue_:
                raise errors.Gone(errors.CONTINUE_EXPIRED) from None
            raise errors.Gone(errors.TOO_OLD_RESOURCE_VERSION.format(
                requested=exc.requested_rev, current=exc.compact_rev)) from None
        meta: Obj = {"resourceVersion": str(rev)}
        if next_key:
            meta["continue"] = paging.make_continue(rev, next_key, prefix)
            if flt.everything and remaining is not None:
                meta["remainingItemCount"] = remaining
        return found, meta

    async def _collect(self, prefix: str, start: str, at_rev: int, flt: Filter,
                       resource: Resource, limit: int
                       ) -> tuple[list[tuple[st.KeyValue, Obj | None]], int, str, int | None]:
        """Matching (kv, decoded-or-None) pairs; items are decoded only to apply selectors."""
        items: list[tuple[st.KeyValue, Obj | None]] = []
        while True:
            want = (limit - len(items)) if limit else 0
            page = await self._list_page(prefix, start, at_rev, want if flt.everything else
                                         max(want, LIST_PAGE) if limit else 0)
            at_rev = page.revision
            for kv in page.items:
                obj = None if flt.everything else decode(kv)
                if obj is None or flt.matches(resource, obj):
                    items.append((kv, obj))
                    if limit and len(items) == limit:
                        left = page.remaining + paging.rest(page, kv)
                        # No continue token when no key is left (etcd's range says "no more"
                        # and kube's list has none either).
                        return items, at_rev, paging.after(kv.key) if left else "", left
            if not page.more:
                return items, at_rev, "", None
            start = paging.after(page.items[-1].key)

    async def _list_page(self, prefix: str, start: str, at_rev: int, limit: int) -> st.ListResult:
        try:
            return await self.storage.list(prefix, limit=limit, start_key=start, at_rev=at_rev)
        except st.FutureRevision as exc:
            raise too_large_rv(exc) from None

    async def watch(self, target: Target, after_rev: int) -> AsyncIterator[list[st.Event]]:
        """Storage events under the target's prefix after `after_rev`, in batches (watch.py)."""
        prefix = resources.prefix_for(target.resource, target.namespace)
        if target.name:
            prefix += target.name  # a watch of one object
        async for batch in self.watch_cache.batches(prefix, after_rev):
            if target.name:
                batch = [event for event in batch if event.kv.key == prefix]
            if batch:
                yield batch

    async def close(self) -> None:
        await self.admission.close()
        await self.watch_cache.close()

    # -- writes -----------------------------------------------------------------------------

    async def create(self, target: Target, obj: Obj, *, dry_run: bool = False) -> Obj:
        return (await self.create_json(target, obj, dry_run=dry_run))[0]

    async def create_json(self, target: Target, obj: Obj, *, dry_run: bool = False
                          ) -> tuple[Obj, bytes]:
        """Create; the object back both decoded and as the JSON the response sends."""
        resource = target.resource
        objectmeta.prepare_for_create(target, obj)
        if resource.namespaced:
            await self._require_namespace(target, obj)
        admission.prepare_create(resource, obj)
        await self.admission.admit_create(resource, obj)
        _check(resource, obj, admission.validate_create(resource, obj))
        if resource.plural == "services":
            async with self._service_ips:
                await self._allocate_cluster_ip(obj)
                return await self._store_new(target, obj, dry_run)
        return await self._store_new(target, obj, dry_run)

    async def _store_new(self, target: Target, obj: Obj, dry_run: bool) -> tuple[Obj, bytes]:
        meta = obj["metadata"]
        generated = not meta.get("name")
        for _ in range(GENERATE_NAME_ATTEMPTS if generated else 1):
            if generated:
                meta["name"] = generate_name(meta["generateName"])
            key = resources.key_for(target.resource, meta.get("namespace"), meta["name"])
            value = encode(obj)
            if dry_run:
                meta["resourceVersion"] = ""
                return obj, encode(obj)
            try:
                rev = await self.storage.create(key, value)
            except st.KeyExists:
                continue
            meta["resourceVersion"] = str(rev)
            return obj, raw(st.KeyValue(key, value, rev, rev))
        raise errors.AlreadyExists(target.resource.plural, meta["name"], target.resource.group)

    async def update(self, target: Target, obj: Obj, *, dry_run: bool = False) -> Obj:
        """PUT: replace the object (or its status), checking resourceVersion if one is given."""
        body_meta = objectmeta.require_meta(obj)
        objectmeta.check_name(target, body_meta)
        objectmeta.check_namespace(target, body_meta)
        wanted = parse_rv(body_meta.get("resourceVersion"))
        uid = body_meta.get("uid") or None  # a precondition, as kube's UpdatedObjectInfo
        return await self._write(target, lambda current: obj, wanted, dry_run, uid)

    async def patch(self, target: Target, apply: Callable[[Obj], Obj], *,
                    dry_run: bool = False) -> Obj:
        """PATCH: `apply` turns the current object into the new one; retried on conflicts."""
        return await self._write(target, apply, None, dry_run)

    async def _write(self, target: Target, change: Callable[[Obj], Obj], wanted: int | None,
                     dry_run: bool, uid: Any = None) -> Obj:
        """Read, change, check and store, retried on conflicts. A PUT's ``uid`` must be the
        stored object's (409); a patched object must keep its name (400) and uid (422)."""
        for _ in range(CONFLICT_RETRIES):
            kv = await self._get_kv(target)
            current = decode(kv)
            objectmeta.check_uid_precondition(target, current, uid)
            new = change(decode(kv))
            if not isinstance(new, dict):
                raise errors.BadRequest("the patched object is not a JSON object")
            new_meta = objectmeta.require_meta(new)
            objectmeta.check_name(target, new_meta)
            objectmeta.check_uid_unchanged(target, current, new_meta)
            expected = wanted
            if expected is None:
                named = parse_rv(new_meta.get("resourceVersion"))
                # A patch that leaves resourceVersion alone carries the current one: that is
                # no precondition, so losing a race means applying it again to the newer
                # object (kube's GuaranteedUpdate), not a 409.
                expected = None if named == kv.mod_revision else named
            if expected is not None and expected != kv.mod_revision:
                raise _conflict(target)
            merged = self._merge_update(target, current, new)
            if dry_run:
                return merged
            try:
                if target.resource.plural == "services" and not target.subresource:
                    async with self._service_ips:  # an update may take a new node port
                        await self._allocate_cluster_ip(merged, current)
                        return await self._commit_update(target, merged, kv.mod_revision)
                return await self._commit_update(target, merged, kv.mod_revision)
            except st.RevisionMismatch:
                if wanted is not None or expected is not None:
                    raise _conflict(target) from None
        raise _conflict(target)

    def _merge_update(self, target: Target, current: Obj, new: Obj) -> Obj:
        resource = target.resource
        objectmeta.check_namespace(target, new["metadata"])
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        if target.subresource == "status":
            new = objectmeta.keep_all_but_status(current, new)
        elif target.subresource == "approval":  # CertificateSigningRequests'
            new = certificates.keep_all_but_conditions(current, new)
        elif resource.has_status and "status" in current:
            new["status"] = current["status"]
        elif resource.has_status:
            new.pop("status", None)
        deletion.keep_namespace_finalizers(resource, target.subresource, current, new)
        objectmeta.keep_server_meta(current, new, target)
        admission.prepare_update(resource, new, current)
        self.admission.admit_update(resource, new, current, target.subresource)
        _check(resource, new, admission.validate_update(resource, new, current,
                                                        target.subresource))
        if kinds.tracks_generation(resource) and (
                kinds.generation_part(resource, new) != kinds.generation_part(resource, current)):
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        return new

    async def _commit_update(self, target: Target, obj: Obj, rev: int, *,
                             may_delete: bool = True) -> Obj:
        meta = obj["metadata"]
        meta.pop("resourceVersion", None)
        key = _key(target)
        if may_delete and deletion.delete_on_update(target.resource, obj):
            kv = await self.storage.delete(key, rev)
            return decode(kv)
        new_rev = await self.storage.update(key, encode(obj), rev)
        meta["resourceVersion"] = str(new_rev)
        return obj

    # -- deletes ----------------------------------------------------------------------------

    async def delete(self, target: Target, options: Obj, *, dry_run: bool = False) -> Obj:
        for _ in range(CONFLICT_RETRIES):
            kv = await self._get_kv(target)
            obj = decode(kv)
            admission.validate_delete(target.resource, obj)
            deletion.check_preconditions(target, obj, options.get("preconditions") or {})
            if deletion.namespace_pending(target.resource, obj):
                return obj
            marked = self._mark(target, obj, options, dry_run)
            if dry_run:
                return marked or obj
            try:
                if marked is not None:
                    # A mark is written as it is: a namespace without spec.finalizers stays
                    # Terminating until its controller deletes it (as kube's storage.go).
                    return await self._commit_update(target, marked, kv.mod_revision,
                                                     may_delete=False)
                return decode(await self.storage.delete(_key(target), kv.mod_revision))
            except st.RevisionMismatch:
                if (options.get("preconditions") or {}).get("resourceVersion"):
                    raise _conflict(target) from None
            except st.KeyNotFound:
                raise _not_found(target) from None
        raise _conflict(target)

    async def delete_collection(self, target: Target, flt: Filter, options: Obj, *,
                                dry_run: bool = False) -> Obj:
        listed = await self.list(target, flt)
        for obj in listed["items"]:
            one = Target(target.resource, obj["metadata"].get("namespace"),
                         obj["metadata"]["name"])
            try:
                await self.delete(one, options, dry_run=dry_run)
            except errors.NotFound:
                continue
        return listed

    def _mark(self, target: Target, obj: Obj, options: Obj, dry_run: bool
                    ) -> Obj | None:
        """What a DELETE writes: the object marked for deletion, or None to delete it now.
        A namespace is first only marked Terminating (its controller empties it)."""
        if target.resource is _NAMESPACES:
            deletion.check_namespace_delete(target.name)
            if not dry_run:
                self._namespaces_seen.pop(target.name, None)
            marked = deletion.mark_namespace(obj, options)
            if marked is not None:
                return marked
        return deletion.mark_for_deletion(target.resource, obj, options)

    async def finalize_namespace(self, target: Target, obj: Obj, *,
                                 dry_run: bool = False) -> Obj:
        """PUT namespaces/NAME/finalize: only spec.finalizers changes; once they and the
        metadata finalizers are empty on a terminating namespace, it is deleted."""
        body_meta = objectmeta.require_meta(obj)
        objectmeta.check_name(target, body_meta)
        spec = obj.get("spec")
        _check(target.resource, obj, deletion.validate_spec_finalizers(
            spec.get("finalizers") if isinstance(spec, dict) else None))
        wanted = parse_rv(body_meta.get("resourceVersion"))
        return await self._write(target, lambda current: obj, wanted, dry_run)

    # -- subresources -----------------------------------------------------------------------

    async def bind(self, target: Target, binding: Obj) -> Obj:
        """pods/binding: set spec.nodeName once (409 when already bound or being deleted)."""
        ref = binding.get("target") if isinstance(binding, dict) else None
        node = ref.get("name") if isinstance(ref, dict) else None
        if not node or not isinstance(node, str):
            raise errors.Invalid("Binding", target.name, [
                field.required("target.name", "")])
        pod_target = Target(target.resource, target.namespace, target.name)

        def assign(pod: Obj) -> Obj:
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.Conflict("pods/binding", target.name,
                                      f"pod {target.name} is being deleted, cannot be assigned "
                                      "to a host")
            bound = (pod.get("spec") or {}).get("nodeName")
            if bound:
                raise errors.Conflict("pods/binding", target.name,
                                      f'pod {target.name} is already assigned to node "{bound}"')
            pod["spec"]["nodeName"] = node
            _set_condition(pod, "PodScheduled", "True")
            return pod

        await self._write_spec_and_status(pod_target, assign)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "code": 201}

    async def _write_spec_and_status(self, target: Target, change: Callable[[Obj], Obj]) -> Obj:
        """A server-side change that may touch spec and status alike (binding)."""
        for _ in range(CONFLICT_RETRIES):
            kv = await self._get_kv(target)
            obj = change(decode(kv))
            try:
                return await self._commit_update(target, obj, kv.mod_revision)
            except st.RevisionMismatch:
                continue
        raise _conflict(target)

    async def get_scale(self, target: Target) -> Obj:
        """``<resource>/scale``: the autoscaling/v1 Scale view (``kinds.scale``)."""
        r = target.resource
        return scale.to_scale(r.group, r.kind, await self.get(_parent(target)))

    async def update_scale(self, target: Target, change: Callable[[Obj], Obj], *,
                           dry_run: bool = False) -> Obj:
        """Write ``<resource>/scale``: only the object's spec.replicas changes (and its
        generation, as any spec change)."""
        r = target.resource

        def apply(obj: Obj) -> Obj:
            return scale.apply_scale(obj, change(scale.to_scale(r.group, r.kind, obj)),
                                     target.name)

        return scale.to_scale(r.group, r.kind,
                              await self._write(_parent(target), apply, None, dry_run))

    # -- helpers ----------------------------------------------------------------------------

    async def _require_namespace(self, target: Target, obj: Obj) -> None:
        """404 for a namespace that does not exist, 403 for one being terminated
        (NamespaceLifecycle admission); answers for active namespaces are kept a few seconds
        (like kube-apiserver's informer cache), so creates pay no read."""
        namespace = obj["metadata"]["namespace"]
        now = time.monotonic()
        if self._namespaces_seen.get(namespace, 0.0) > now:
            return
        try:
            ns = decode(await self.storage.get(resources.key_for(_NAMESPACES, None, namespace)))
        except st.KeyNotFound:
            raise errors.NotFound("namespaces", namespace) from None
        if (ns.get("status") or {}).get("phase") == "Terminating":
            raise _terminating(target, obj, namespace)
        self._namespaces_seen[namespace] = now + NAMESPACE_CACHE_SECONDS

    async def _allocate_cluster_ip(self, svc: Obj, old: Obj | None = None) -> None:
        """Cluster IP and node ports against every stored Service (see serviceallocation);
        on an update (``old``) only what the Service did not hold yet."""
        stored = [jsonio.loads(kv.value)
                  for kv in (await self.storage.list(_SERVICES.key_prefix)).items]
        if old is None:
            self.service_ranges.allocate(svc, stored)
            return
        uid = old["metadata"].get("uid")
        others = [s for s in stored if s.get("metadata", {}).get("uid") != uid]
        self.service_ranges.allocate_update(svc, old, others)


_NAMESPACES = resources.by_plural("", "v1", "namespaces")  # type: ignore[assignment]
_SERVICES = resources.by_plural("", "v1", "services")  # type: ignore[assignment]
assert _NAMESPACES is not None and _SERVICES is not None


def too_large_rv(exc: st.FutureRevision) -> errors.Timeout:
    """504, as kube-apiserver answers a resourceVersion it has not reached."""
    return errors.Timeout(f"Too large resource version: {exc.requested_rev}, current: "
                          f"{exc.current_rev}", retry_after_seconds=1)


def _key(target: Target) -> str:
    return resources.key_for(target.resource, target.namespace, target.name)


def _parent(target: Target) -> Target:
    return Target(target.resource, target.namespace, target.name)


def _not_found(target: Target) -> errors.NotFound:
    return errors.NotFound(target.resource.plural, target.name, target.resource.group)


def _conflict(target: Target) -> errors.Conflict:
    return errors.Conflict(target.resource.plural, target.name, group=target.resource.group)


def _terminating(target: Target, obj: Obj, namespace: str) -> errors.Forbidden:
    # plugin/pkg/admission/namespace/lifecycle/admission.go, with its NamespaceTerminating
    # cause.
    r = target.resource
    err = errors.Forbidden(r.plural, obj["metadata"].get("name") or "",
                           deletion.TERMINATING_MESSAGE.format(namespace), group=r.group)
    details = err.details if err.details is not None else {}
    err.details = details
    details.setdefault("causes", []).append({
        "reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
        "field": "metadata.namespace"})
    return err


def _check(resource: Resource, obj: Obj, causes: list[field.Cause]) -> None:
    if causes:
        raise errors.Invalid(resource.kind, obj["metadata"].get("name", ""), causes,
                             group=resource.group)


def parse_rv(value: Any) -> int | None:
    """A resourceVersion given by a client (body or query): None when absent, else 0..int64."""
    if value in (None, ""):
        return None
    try:
        rv = int(value)
    except (TypeError, ValueError):
        raise errors.BadRequest(f'invalid resource version "{value}"') from None
    if not 0 <= rv <= codec.INT64_MAX:
        raise errors.BadRequest(f'invalid resource version "{value}"')
    return rv


def _set_condition(pod: Obj, kind: str, status: str) -> None:
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    now = now_rfc3339()
    for cond in conditions:
        if cond.get("type") == kind:
            if cond.get("status") != status:
                cond.update(status=status, lastTransitionTime=now)
            return
    conditions.append({"type": kind, "status": status, "lastProbeTime": None,
                       "lastTransitionTime": now})


