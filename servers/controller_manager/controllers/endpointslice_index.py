"""endpointslice_index: the EndpointSlices one controller manages, by the key of the object
they are made from, and the informer wiring the endpointslice and mirroring controllers share.

Both controllers of ``pkg/controller/endpointslice`` and ``pkg/controller/endpointslicemirroring``
watch slices the same way (``onEndpointSliceAdd/Update/Delete``): a slice carrying their
``managed-by`` label queues its Service's key again, so someone else's edit of it is undone,
and a deleted one is first forgotten by the tracker (kube's ``endpointSliceTracker``), so the
next sync does not wait for a generation that will never come. The key comes from the
``kubernetes.io/service-name`` label, so a slice whose Service (or Endpoints) is gone is still
found and deleted. The two syncs share their ends too: delete every slice of a key whose
source is gone, take the slices the source owns (retrying while the cache is behind the
controller's own writes) and carry out the reconciler's plan.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound
from servers.client.informer import object_key
from servers.client.resources import ENDPOINTSLICES
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.endpointslice_reconciler import (
    MANAGED_BY,
    SERVICE_NAME,
    SliceTracker,
    StaleCache,
    apply,
    owned_by,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from servers.client.workqueue import WorkQueue
    from servers.controller_manager.controllers.endpointslice_reconciler import Plan

Obj = dict[str, Any]


class SliceIndex:
    """The slices labelled ``managed-by = managed_by``, by their Service's key; their changes
    queue that key on ``queue``, their deletions are also forgotten by ``tracker`` (the
    controller's record of its own writes)."""

    def __init__(self, informer: Any, managed_by: str, queue: WorkQueue) -> None:
        self.informer = informer
        self.managed_by = managed_by
        self.queue = queue
        self.tracker = SliceTracker()
        self._by_service: dict[str, dict[str, Obj]] = {}
        informer.add_handler(self._add, self._update, self._delete)

    def service_key(self, slice_: Obj) -> str | None:
        labels = o.labels(slice_)
        service = labels.get(SERVICE_NAME)
        if labels.get(MANAGED_BY) != self.managed_by or not service:
            return None
        return f"{o.namespace(slice_)}/{service}"

    def _add(self, slice_: Obj) -> None:
        key = self.service_key(slice_)
        if key is not None:
            self._by_service.setdefault(key, {})[object_key(slice_)] = slice_
            self.queue.add(key)  # someone else's edit of our slice gets undone

    def _update(self, old: Obj, new: Obj) -> None:
        self._forget(old)
        self._add(new)

    def _delete(self, slice_: Obj) -> None:
        key = self._forget(slice_)
        if key is not None:
            self.tracker.forget_slice(key, o.name(slice_))
            self.queue.add(key)

    def _forget(self, slice_: Obj) -> str | None:
        key = self.service_key(slice_)
        found = self._by_service.get(key or "")
        if found is not None:
            found.pop(object_key(slice_), None)
            if not found:
                del self._by_service[key or ""]
        return key

    def of(self, service_key: str) -> list[Obj]:
        return list(self._by_service.get(service_key, {}).values())

    def queue_all(self, objects: Iterable[Obj]) -> None:
        """Queue the keys of ``objects`` and of every Service that has slices: what a first
        sync visits (a slice whose source is gone is deleted by it)."""
        for key in {object_key(obj) for obj in objects} | set(self._by_service):
            self.queue.add(key)

    def current(self, service_key: str, owner: Obj) -> tuple[list[Obj], list[Obj]]:
        """The slices of ``service_key`` that ``owner`` owns, and the strays it does not;
        StaleCache while the cache has not seen this controller's own last writes (kube's
        ``EndpointSliceTracker.StaleSlices``), so the key is retried, not written twice."""
        existing = self.of(service_key)
        if self.tracker.stale(service_key, existing):
            msg = f"the EndpointSlice cache has not caught up with {service_key} yet"
            raise StaleCache(msg)
        return owned_by(existing, o.uid(owner))

    async def write(self, client: Any, service_key: str, result: Plan, strays: list[Obj],
                    metadata: Callable[[Obj | None], Obj]) -> None:
        """Carry out ``result`` and delete the ``strays`` too (nothing, when that is empty)."""
        result.delete += strays
        if not result.empty():
            await apply(client, self.tracker, service_key, result, metadata)

    async def delete_all(self, client: Any, service_key: str) -> None:
        """Delete the slices of ``service_key`` (one already gone is fine) and forget them."""
        for slice_ in self.of(service_key):
            with contextlib.suppress(NotFound):
                await client.delete(ENDPOINTSLICES, o.name(slice_), o.namespace(slice_))
        self.tracker.forget(service_key)
