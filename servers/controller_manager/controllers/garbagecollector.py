"""garbagecollector: delete or orphan the dependents of deleted owners (ownerReferences).

After ``pkg/controller/garbagecollector/garbagecollector.go``:

* **discovery**: every resource the apiserver serves with list, watch and delete (events
  excepted, as kube ignores them) is watched; the graph (``gcgraph``) is built from what the
  informers list, so a restart rebuilds it whole and finds owners deleted meanwhile;
* **attemptToDelete(item)**: read the item live; sort its owners into *solid* (exists),
  *dangling* (404 or another uid) and *waiting* (being deleted in the foreground). With a
  solid owner left, the dangling and waiting references are removed; with none, the item is
  deleted — in the foreground when a waiting owner blocks on it and it has dependents
  itself, else in the background — with a uid precondition;
* **foreground**: an owner being deleted with the ``foregroundDeletion`` finalizer has its
  dependents deleted; once none that has ``blockOwnerDeletion`` is left, the finalizer is
  removed and the apiserver finishes the delete;
* **orphan**: an owner with the ``orphan`` finalizer has its reference removed from every
  dependent, then the finalizer.

The apiserver's part is adding those finalizers for a DELETE's ``propagationPolicy``
(Foreground, Orphan, and Orphan by default for core/v1 RCs and batch/v1 Jobs; see
servers/apiserver/deletion.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.resources import ResourceRef
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced
from servers.controller_manager.controllers.gcgraph import FOREGROUND, ORPHAN, Graph, Node

if TYPE_CHECKING:
    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "garbage-collector-controller"
# garbagecollector.go: DefaultIgnoredResources (events are never anybody's dependents).
IGNORED = {("", "events"), ("events.k8s.io", "events")}
DISCOVERY_RETRY = 5.0
GRAPH_SYNC_TIMEOUT = 30.0


async def discover(client: Any) -> list[ResourceRef]:
    """Every resource with list, watch and delete, from /api/v1 and /apis (preferred
    versions)."""
    found: list[ResourceRef] = []
    core = await client.request("GET", "/api/v1")
    found += _resources("", "v1", core)
    groups = await client.request("GET", "/apis")
    for group in groups.get("groups") or ():
        version = (group.get("preferredVersion") or {}).get("version")
        if not version:
            continue
        listing = await client.request("GET", f"/apis/{group['name']}/{version}")
        found += _resources(group["name"], version, listing)
    return found


def _resources(group: str, version: str, listing: Obj) -> list[ResourceRef]:
    refs = []
    for resource in listing.get("resources") or ():
        plural = str(resource.get("name", ""))
        verbs = set(resource.get("verbs") or ())
        if "/" in plural or (group, plural) in IGNORED:
            continue
        if not {"list", "watch", "delete"} <= verbs:
            continue
        refs.append(ResourceRef(group, version, plural, bool(resource.get("namespaced")),
                                str(resource.get("kind", ""))))
    return refs


class GarbageCollector:
    """The graph plus the attemptToDelete and attemptToOrphan workers."""

    def __init__(self, ctx: Context, *, workers: int) -> None:
        self.name = "garbagecollector"
        self.ctx = ctx
        self.client = ctx.client
        self.workers = workers
        self.deletes = ctx.queue("garbage_collector_attempt_to_delete")
        self.orphans = ctx.queue("garbage_collector_attempt_to_orphan")
        self.graph = Graph(self.deletes.add, self.orphans.add)
        self.kinds: dict[tuple[str, str], ResourceRef] = {}
        self.sync_timeout = GRAPH_SYNC_TIMEOUT

    # -- start ----------------------------------------------------------------------------------

    async def prepare(self, stop: asyncio.Event) -> None:
        """Discover the resources and register the graph's handlers on their informers
        (before the informers start, so the first lists build the whole graph)."""
        resources = await self._discover(stop)
        if resources is not None:
            self.watch(resources)

    async def run(self, stop: asyncio.Event) -> None:
        informers = {ref: self.ctx.factory.informer(ref) for ref in self.kinds.values()}
        if not await wait_synced(stop, *informers.values(), timeout=self.sync_timeout):
            if stop.is_set():
                return
            # kube's GC also goes on without the monitors that cannot sync; their objects
            # are judged once they list (a forbidden resource never does: see RBAC).
            late = sorted(str(ref) for ref, i in informers.items() if not i.has_synced())
            log.warning("garbage collector: starting without %s (not listed after %.0fs)",
                        ", ".join(late), self.sync_timeout)
        log.info("garbage collector: graph of %d objects over %d resources", len(self.graph),
                 len(informers))
        await asyncio.gather(
            run_workers(self.deletes, self.attempt_to_delete, self.workers, stop),
            run_workers(self.orphans, self.attempt_to_orphan, self.workers, stop))

    async def _discover(self, stop: asyncio.Event) -> list[ResourceRef] | None:
        while not stop.is_set():
            try:
                return await discover(self.client)
            except (StatusError, ClientError) as exc:  # the apiserver may be away: retry
                log.warning("garbage collector: discovery failed: %s", exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), DISCOVERY_RETRY)
        return None

    def watch(self, resources: list[ResourceRef]) -> None:
        """Feed the graph from the informers of ``resources``."""
        for ref in resources:
            self.kinds[(ref.api_version, ref.kind)] = ref
            informer = self.ctx.factory.informer(ref)
            informer.add_handler(functools.partial(self.graph.observe, ref),
                                 functools.partial(self._updated, ref), self.graph.forget)

    def _updated(self, ref: ResourceRef, old: Obj, new: Obj) -> None:
        self.graph.observe(ref, new)

    # -- attemptToDelete -----------------------------------------------------------------------

    def _resource(self, api_version: str, kind: str) -> ResourceRef | None:
        return self.kinds.get((api_version, kind))

    async def _get(self, ref: ResourceRef, name: str, namespace: str) -> Obj | None:
        try:
            return await self.client.get(ref, name, namespace if ref.namespaced else None)
        except NotFound:
            return None

    async def attempt_to_delete(self, uid: str) -> None:
        """Delete, or strip the dead owners of, the object ``uid`` (see the module doc)."""
        node = self.graph.get(uid)
        if node is None:
            return
        ref = self._resource(node.api_version, node.kind)
        if ref is None:
            log.debug("garbage collector: no resource serves %s %s", node.api_version,
                      node.kind)
            return
        latest = await self._get(ref, node.name, node.namespace)
        if latest is None or o.uid(latest) != uid:
            if not node.observed:
                self.graph.forget_virtual(uid)
            return
        if not node.observed:
            return  # it exists: its informer will show it
        if o.deleting(latest) and FOREGROUND in (o.meta(latest).get("finalizers") or ()):
            await self._delete_dependents_first(ref, node, latest)
            return
        owners = o.owner_references(latest)
        if owners:
            await self._judge(ref, node, latest, owners)

    async def _judge(self, ref: ResourceRef, node: Node, latest: Obj,
                     owners: list[Obj]) -> None:
        solid, dangling, waiting = await self._classify(latest, owners)
        if solid:
            stale = dangling + waiting
            if stale:
                await self._remove_owner_refs(ref, latest, {str(r.get("uid")) for r in stale})
            return
        if o.deleting(latest):
            return  # already on its way out
        policy = "Background"
        if waiting and node.dependents:
            policy = "Foreground"  # keep the chain blocking, as kube
        log.info("garbage collector: deleting %s %s/%s (%s; owners gone)", node.kind,
                 node.namespace, node.name, policy)
        try:
            await self.client.delete(ref, node.name, node.namespace if ref.namespaced else None,
                                     uid=node.uid, propagation_policy=policy)
        except (NotFound, Conflict):
            return

    async def _classify(self, latest: Obj,
                        owners: list[Obj]) -> tuple[list[Obj], list[Obj], list[Obj]]:
        solid: list[Obj] = []
        dangling: list[Obj] = []
        waiting: list[Obj] = []
        for owner_ref in owners:
            ref = self._resource(str(owner_ref.get("apiVersion", "")),
                                 str(owner_ref.get("kind", "")))
            if ref is None:
                solid.append(owner_ref)  # a kind km does not serve: never judged dangling
                continue
            owner = await self._get(ref, str(owner_ref.get("name", "")), o.namespace(latest))
            if owner is None or o.uid(owner) != owner_ref.get("uid"):
                dangling.append(owner_ref)
            elif o.deleting(owner) and FOREGROUND in (o.meta(owner).get("finalizers") or ()):
                waiting.append(owner_ref)
            else:
                solid.append(owner_ref)
        return solid, dangling, waiting

    async def _remove_owner_refs(self, ref: ResourceRef, obj: Obj, uids: set[str]) -> None:
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u}
                                                  for u in sorted(uids)],
                              "uid": o.uid(obj)}}
        try:
            await self.client.patch(ref, o.name(obj), patch, patch_type="strategic",
                                    namespace=o.namespace(obj) if ref.namespaced else None)
        except NotFound:
            return

    async def _delete_dependents_first(self, ref: ResourceRef, node: Node, latest: Obj) -> None:
        blocking = [d for d in (self.graph.get(u) for u in node.dependents)
                    if d is not None and d.blocking(node.uid)]
        if not blocking:
            await self._remove_finalizer(ref, latest, FOREGROUND)
            return
        for dependent in blocking:
            if not dependent.deleting:
                self.deletes.add(dependent.uid)

    async def _remove_finalizer(self, ref: ResourceRef, obj: Obj, finalizer: str) -> None:
        finalizers = [f for f in o.meta(obj).get("finalizers") or () if f != finalizer]
        patch = {"metadata": {"finalizers": finalizers or None,
                              "resourceVersion": o.meta(obj).get("resourceVersion")}}
        try:
            await self.client.patch(ref, o.name(obj), patch, patch_type="merge",
                                    namespace=o.namespace(obj) if ref.namespaced else None)
        except NotFound:
            return
        log.info("garbage collector: removed the %s finalizer of %s %s", finalizer,
                 o.name(obj), ref)

    # -- attemptToOrphan -----------------------------------------------------------------------

    async def attempt_to_orphan(self, uid: str) -> None:
        """Strip the owner ``uid`` from its dependents, then its ``orphan`` finalizer."""
        node = self.graph.get(uid)
        if node is None or not node.observed:
            return
        ref = self._resource(node.api_version, node.kind)
        if ref is None:
            return
        latest = await self._get(ref, node.name, node.namespace)
        if latest is None or o.uid(latest) != uid or not o.deleting(latest):
            return
        if ORPHAN not in (o.meta(latest).get("finalizers") or ()):
            return
        failures: list[StatusError] = []
        for dependent_uid in sorted(node.dependents):
            dependent = self.graph.get(dependent_uid)
            if dependent is None:
                continue
            dep_ref = self._resource(dependent.api_version, dependent.kind)
            if dep_ref is None:
                continue
            try:
                await self._remove_owner_refs(dep_ref, {"metadata": {
                    "name": dependent.name, "namespace": dependent.namespace,
                    "uid": dependent.uid}}, {uid})
            except StatusError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        await self._remove_finalizer(ref, latest, ORPHAN)


def new(ctx: Context) -> GarbageCollector | None:
    if not ctx.opts.enable_garbage_collector:
        return None
    return GarbageCollector(ctx, workers=ctx.opts.concurrent_gc_syncs)
