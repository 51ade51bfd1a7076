"""endpointslice_reconciler: turn the endpoints a Service should have into slice writes.

Both EndpointSlice controllers (from pods, and mirrored from Endpoints) say what they want as
groups ``(addressType, ports) -> endpoints`` and hand over the slices they already manage for
the Service; ``plan`` works out the fewest writes, the idea of kube's
``staging/src/k8s.io/endpointslice/reconciler.go`` (``reconcileByPortMapping``):

1. an existing slice whose address type and ports no longer occur is deleted;
2. in a slice that keeps its group, endpoints still wanted stay in place (replaced when they
   changed), the others are dropped; a slice left empty is deleted, a changed one updated;
3. wanted endpoints that are in no slice yet go first into the slices already being updated
   (while they have room), then into new slices of at most ``max_per_slice``; a last partial
   new slice goes into an unchanged slice with room instead, when there is one;
4. a Service with no endpoints at all keeps one empty placeholder slice per address type.

``SliceTracker`` is kube's ``EndpointSliceTracker`` in small: the resource versions this
controller wrote, so a sync over an informer cache that has not seen them yet is retried
rather than creating the same slices twice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.client.resources import ENDPOINTSLICES
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating

if TYPE_CHECKING:
    from collections.abc import Callable

Obj = dict[str, Any]
GroupKey = tuple[str, str]

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


class StaleCache(Exception):
    """The slice informer has not yet seen a write of ours: retry the sync later."""


def ports_key(ports: list[Obj] | None) -> str:
    """A canonical text for a port list (its order does not matter)."""
    norm = sorted((p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP",
                   p.get("appProtocol") or "") for p in ports or ())
    return repr(norm)


def endpoint_key(endpoint: Obj) -> str:
    """What identifies one endpoint across syncs: its target and its addresses."""
    ref = endpoint.get("targetRef") or {}
    return repr((ref.get("namespace"), ref.get("name"), tuple(endpoint.get("addresses") or ())))


@dataclass
class Group:
    """The endpoints one (address type, ports) group should have."""

    address_type: str
    ports: list[Obj]
    endpoints: list[Obj] = field(default_factory=list)

    @property
    def key(self) -> GroupKey:
        return (self.address_type, ports_key(self.ports))


@dataclass
class Plan:
    """The writes one sync makes: new slices (no metadata yet), changed ones, gone ones."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def slice_key(slice_: Obj) -> GroupKey:
    return (str(slice_.get("addressType") or ""), ports_key(slice_.get("ports")))


def owned_by(slices: list[Obj], uid: str) -> tuple[list[Obj], list[Obj]]:
    """``slices`` split into those whose controller owner has ``uid`` and the others (left
    by an earlier object of the same name: deleted, as kube's ``ownedBy`` check)."""
    mine: list[Obj] = []
    others: list[Obj] = []
    for slice_ in slices:
        refs = (slice_.get("metadata") or {}).get("ownerReferences") or ()
        (mine if any(r.get("uid") == uid for r in refs) else others).append(slice_)
    return mine, others


def plan(existing: list[Obj], groups: list[Group], *, max_per_slice: int,
         labels: dict[str, str], address_types: list[str],
         annotations: dict[str, str] | None = None) -> Plan:
    """The writes that make ``existing`` hold ``groups`` (see the module docstring).

    ``labels`` are the labels every slice must carry (a slice whose labels differ is
    updated), and so are ``annotations`` when given; ``address_types`` the ones that get a
    placeholder when nothing is wanted.
    """
    result = Plan()
    wanted = {g.key: g for g in groups if g.endpoints}
    by_group: dict[GroupKey, list[Obj]] = {}
    for slice_ in sorted(existing, key=o.name):
        key = slice_key(slice_)
        if key in wanted:
            by_group.setdefault(key, []).append(slice_)
        else:
            result.delete.append(slice_)
    meta = {"labels": labels}
    if annotations is not None:
        meta["annotations"] = annotations
    for key, group in wanted.items():
        _plan_group(result, group, by_group.get(key, []), max_per_slice, meta)
    if not wanted:
        _placeholders(result, address_types, labels)
    return result


def _plan_group(result: Plan, group: Group, slices: list[Obj], max_per_slice: int,
                meta: dict[str, dict[str, str]]) -> None:
    remaining = {endpoint_key(e): e for e in group.endpoints}
    updating: list[Obj] = []
    unchanged: list[Obj] = []
    for slice_ in slices:
        kept: list[Obj] = []
        changed = _meta_differs(slice_, meta)
        for endpoint in slice_.get("endpoints") or ():
            want = remaining.pop(endpoint_key(endpoint), None)
            if want is None:
                changed = True
                continue
            changed = changed or want != endpoint
            kept.append(want)
        if not kept:
            result.delete.append(slice_)
        elif changed:
            new = copy.deepcopy(slice_)
            new["endpoints"] = kept
            updating.append(new)
        else:
            unchanged.append(slice_)
    left = _fill(updating, list(remaining.values()), max_per_slice)
    result.update += updating
    _place(result, group, unchanged, left, max_per_slice)


def _meta_differs(slice_: Obj, meta: dict[str, dict[str, str]]) -> bool:
    have = slice_.get("metadata") or {}
    return any((have.get(field) or {}) != want for field, want in meta.items())


def _fill(updating: list[Obj], left: list[Obj], max_per_slice: int) -> list[Obj]:
    """Step 3: put new endpoints into the slices written anyway; what did not fit."""
    for slice_ in updating:
        room = max_per_slice - len(slice_["endpoints"])
        if room > 0 and left:
            slice_["endpoints"] += left[:room]
            left = left[room:]
    return left


def _place(result: Plan, group: Group, unchanged: list[Obj], left: list[Obj],
           max_per_slice: int) -> None:
    """Step 4: new slices for the rest, the last partial one into an unchanged slice."""
    while left:
        chunk, left = left[:max_per_slice], left[max_per_slice:]
        if not left and len(chunk) < max_per_slice:
            roomy = [s for s in unchanged
                     if max_per_slice - len(s.get("endpoints") or ()) >= len(chunk)]
            if roomy:  # the fullest unchanged slice that still fits the rest
                target = max(roomy, key=lambda s: len(s.get("endpoints") or ()))
                new = copy.deepcopy(target)
                new["endpoints"] = list(new.get("endpoints") or ()) + chunk
                result.update.append(new)
                break
        result.create.append({"addressType": group.address_type,
                              "ports": copy.deepcopy(group.ports), "endpoints": chunk})


def _placeholders(result: Plan, address_types: list[str], labels: dict[str, str]) -> None:
    """One empty slice per address type: kept, reused (updated) or made."""
    for address_type in address_types:
        candidates = [s for s in result.delete if s.get("addressType") == address_type]
        exact = [s for s in candidates if not s.get("endpoints") and not s.get("ports")
                 and (s.get("metadata") or {}).get("labels") == labels]
        if exact:
            result.delete.remove(exact[0])
        elif candidates:
            new = copy.deepcopy(candidates[0])
            result.delete.remove(candidates[0])
            new["endpoints"], new["ports"] = [], []
            new["metadata"]["labels"] = dict(labels)
            result.update.append(new)
        else:
            result.create.append({"addressType": address_type, "ports": [], "endpoints": []})


class SliceTracker:
    """The slice versions this controller wrote, per service key, until the cache has them."""

    def __init__(self) -> None:
        self._written: dict[str, dict[str, int]] = {}  # -1: deleted

    def wrote(self, service_key: str, slice_: Obj, *, deleted: bool = False) -> None:
        version = -1 if deleted else _rv(slice_)
        self._written.setdefault(service_key, {})[o.name(slice_)] = version

    def forget_slice(self, service_key: str, name: str) -> None:
        """A slice deleted by anyone: nothing of it to wait for."""
        written = self._written.get(service_key)
        if written is not None:
            written.pop(name, None)

    def forget(self, service_key: str) -> None:
        self._written.pop(service_key, None)

    def stale(self, service_key: str, cached: list[Obj]) -> bool:
        """Whether ``cached`` (the informer's slices of the service) lacks a write of ours."""
        written = self._written.get(service_key)
        if not written:
            return False
        seen = {o.name(s): _rv(s) for s in cached}
        for name, version in written.items():
            have = seen.get(name)
            if (version < 0 and have is not None) or (version >= 0 and (
                    have is None or have < version)):
                return True
        self._written.pop(service_key)
        return False


def _rv(slice_: Obj) -> int:
    text = str((slice_.get("metadata") or {}).get("resourceVersion") or "0")
    return int(text) if text.isdigit() else 0


async def apply(client: Any, tracker: SliceTracker, service_key: str, result: Plan,
                metadata: Callable[[Obj | None], Obj]) -> None:
    """Make the writes of ``result``: deletes last, so a Service never goes without its
    endpoints in between. ``metadata(old)`` gives each written slice its metadata."""
    namespace = service_key.rpartition("/")[0]
    for body in result.create:
        new = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": metadata(None), **body}
        try:
            tracker.wrote(service_key, await client.create(ENDPOINTSLICES, new, namespace))
        except StatusError as exc:
            if namespace_terminating(exc):
                return  # the namespace is going, the Service with it: no retry
            raise
    for new in result.update:
        new["metadata"] = metadata(new)
        try:
            tracker.wrote(service_key, await client.update(ENDPOINTSLICES, new))
        except NotFound:
            raise Conflict("endpointslices", o.name(new),
                           "the slice went away meanwhile; retrying") from None
    for old in result.delete:
        try:
            await client.delete(ENDPOINTSLICES, o.name(old), namespace)
        except NotFound:
            continue
        tracker.wrote(service_key, old, deleted=True)
