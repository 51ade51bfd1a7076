"""deployment: apps/v1 Deployments, rolled out through ReplicaSets.

kube's ``pkg/controller/deployment`` (``deployment_controller.go``, ``syncDeployment``):

1. read the Deployment from the cache (a copy: the cache is never changed); an empty
   selector gets the ``SelectingAll`` warning and nothing else;
2. claim ReplicaSets (adopt matching orphans after an uncached check of the Deployment,
   release those that stop matching) as ClaimPods does for pods;
3. being deleted: status only. Paused or a change of ``replicas``: scale (proportionally
   across the RSs of a rollout in flight) and status. Otherwise roll out by the strategy,
   RollingUpdate or Recreate (``deployment_rollout``);
4. the status (counts, Progressing/Available conditions, the revision annotation) is written
   once at the end of a sync, through /status, and only when it changed; a Deployment that
   is not complete is requeued for its progress deadline.

The new RS of a template is ``<name>-<hash>`` with the ``pod-template-hash`` label on its
labels, selector and template (``getNewReplicaSet``); its revision is one more than the
highest. Restarts cost nothing: everything is computed again from the cached RSs, and an RS
that exists already (AlreadyExists) with our template is taken as the new one.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from servers.apimachinery.selectors import EVERYTHING, NOTHING, LabelSelector
from servers.client.events import NORMAL, WARNING
from servers.client.informer import object_key
from servers.client.resources import DEPLOYMENTS, REPLICASETS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import deployment_rollout as rollout
from servers.controller_manager.controllers import deploymentutil as du
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced
from servers.controller_manager.controllers.refmanager import still_ours
from servers.controller_manager.controllers.replicaset_apps import rs_selector

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "deployment-controller"
COMPONENT = "deployment-controller"
SELECTING_ALL = "This deployment is selecting all pods. A non-empty selector is required."


class DeploymentController:
    """Rolls Deployments out through ReplicaSets; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = "deployment"
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.pods = ctx.pods
        self.deployments = ctx.factory.informer(DEPLOYMENTS)
        self.replicasets = ctx.factory.informer(REPLICASETS)
        self.recorder = ctx.recorder(COMPONENT)
        self.queue = ctx.queue("deployment")
        self.deployments.add_handler(self._enqueue, lambda _old, new: self._enqueue(new),
                                     self._enqueue)
        self.replicasets.add_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        ctx.pods.informer.add_handler(None, None, self._pod_deleted)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.deployments, self.replicasets, self.pods.informer):
            return
        for d in self.deployments.list():
            self.queue.add(object_key(d))
        await run_workers(self.queue, self.sync, self.workers, stop)

    # -- handlers: keys only ---------------------------------------------------------------

    def _enqueue(self, d: Obj) -> None:
        self.queue.add(object_key(d))

    def _owner(self, obj: Obj) -> Obj | None:
        """The Deployment that controls ``obj`` (an RS), if it still has that uid."""
        ref = o.controller_ref(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployments.get(str(ref.get("name", "")), o.namespace(obj))
        return d if d is not None and o.uid(d) == ref.get("uid") else None

    def _orphan_owners(self, rs: Obj) -> list[Obj]:
        labels, namespace = o.labels(rs), o.namespace(rs)
        return [d for d in self.deployments.list() if o.namespace(d) == namespace
                and _selects(selector(d), labels)]

    def _rs_added(self, rs: Obj) -> None:
        owner = self._owner(rs)
        if owner is not None:
            self._enqueue(owner)
        elif o.controller_ref(rs) is None and not o.deleting(rs):
            for d in self._orphan_owners(rs):
                self._enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        """``updateReplicaSet``: the old owner and the new one; an orphan whose labels or
        owner changed goes to every Deployment that selects it."""
        if o.meta(old).get("resourceVersion") == o.meta(new).get("resourceVersion"):
            return
        ref_changed = o.controller_ref(old) != o.controller_ref(new)
        if ref_changed:
            self._owned(old)
        if o.controller_ref(new) is not None:
            self._owned(new)
        elif ref_changed or o.labels(old) != o.labels(new):
            for d in self._orphan_owners(new):
                self._enqueue(d)

    def _owned(self, rs: Obj) -> None:
        owner = self._owner(rs)
        if owner is not None:
            self._enqueue(owner)

    def _rs_deleted(self, rs: Obj) -> None:
        self._owned(rs)

    def _pod_deleted(self, pod: Obj) -> None:
        """A Recreate rollout waits for the old pods to go (``deletePod``)."""
        ref = o.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(str(ref.get("name", "")), o.namespace(pod))
        d = self._owner(rs) if rs is not None else None
        if d is not None and not du.is_rolling(d):
            self._enqueue(d)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the Deployment ``key`` one step towards its template and replicas."""
        cached = self.deployments.get_by_key(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        if selector(d).empty() or selector(d).nothing:
            await self._selecting_all(cached, d)
            return
        run = Sync(self, cached, d, await self._claim(d))
        await run.sync()

    async def _selecting_all(self, cached: Obj, d: Obj) -> None:
        self.recorder.event(d, WARNING, "SelectingAll", SELECTING_ALL)
        generation = o.meta(d).get("generation", 0)
        if o.status(d).get("observedGeneration", 0) < generation:
            d.setdefault("status", {})["observedGeneration"] = generation
            await self.write_status(cached, d)

    async def _claim(self, d: Obj) -> list[Obj]:
        """``getReplicaSetsForDeployment``: ClaimReplicaSets over the namespace's RSs."""
        sel, uid = selector(d), o.uid(d)
        claimed: list[Obj] = []
        checked: bool | None = None
        for rs in self.replicasets.list():
            if o.namespace(rs) != o.namespace(d):
                continue
            ref, matches = o.controller_ref(rs), _selects(sel, o.labels(rs))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches or o.deleting(d) or not await self._set_owner(d, rs, release=True):
                    claimed.append(rs)
                continue
            if not matches or o.deleting(rs) or o.deleting(d):
                continue
            if checked is None:
                checked = await still_ours(self.client, DEPLOYMENTS, d)
            if checked and await self._set_owner(d, rs, release=False):
                claimed.append(rs)
        return claimed

    async def _set_owner(self, d: Obj, rs: Obj, *, release: bool) -> bool:
        ref: Obj = {"$patch": "delete", "uid": o.uid(d)} if release else o.new_controller_ref(d)
        patch = {"metadata": {"ownerReferences": [ref], "uid": o.uid(rs)}}
        try:
            await self.client.patch(REPLICASETS, o.name(rs), patch, patch_type="strategic",
                                    namespace=o.namespace(rs))
        except (NotFound, Conflict):
            return release
        log.info("deployment %s %s replica set %s", object_key(d),
                 "released" if release else "adopted", o.name(rs))
        return True

    # -- writes ------------------------------------------------------------------------------

    async def write_status(self, cached: Obj, d: Obj) -> Obj:
        """PUT /status of ``d`` (status and annotations) when it differs from ``cached``."""
        if o.status(d) == o.status(cached) and (
                o.meta(d).get("annotations") == o.meta(cached).get("annotations")):
            return d
        try:
            return dict(await self.client.update(DEPLOYMENTS, d, "status"))
        except NotFound:
            return d

    async def update_rs(self, rs: Obj) -> Obj:
        """PUT a changed ReplicaSet (its resourceVersion a precondition)."""
        return dict(await self.client.update(REPLICASETS, rs))

    async def create_rs(self, rs: Obj) -> Obj:
        return dict(await self.client.create(REPLICASETS, rs, o.namespace(rs)))

    async def existing_rs(self, name: str, namespace: str) -> Obj | None:
        found = self.replicasets.get(name, namespace)
        if found is not None:
            return found
        try:
            return dict(await self.client.get(REPLICASETS, name, namespace))
        except NotFound:
            return None

    async def delete_rs(self, rs: Obj) -> None:
        try:
            await self.client.delete(REPLICASETS, o.name(rs), o.namespace(rs),
                                     uid=o.uid(rs), propagation_policy="Background")
        except (NotFound, Conflict):
            return

    def pods_of(self, rss: list[Obj]) -> dict[str, list[Obj]]:
        """``getPodMapForDeployment``: the namespace's pods by the uid of the RS owning them."""
        uids: dict[str, list[Obj]] = {o.uid(rs): [] for rs in rss}
        namespace = o.namespace(rss[0]) if rss else ""
        for pod in self.pods.in_namespace(namespace):
            ref = o.controller_ref(pod)
            if ref is not None and ref.get("uid") in uids:
                uids[str(ref["uid"])].append(pod)
        return uids


class Sync:
    """One sync of one Deployment: its working copy, its RSs, and the steps of the rollout."""

    def __init__(self, ctl: DeploymentController, cached: Obj, d: Obj,
                 rss: list[Obj]) -> None:
        self.ctl = ctl
        self.cached = cached
        self.d = d
        self.rss = rss
        self.now = ctl.clock()

    def event(self, type_: str, reason: str, message: str) -> None:
        self.ctl.recorder.event(self.cached, type_, reason, message)

    async def sync(self) -> None:
        d = self.d
        if o.deleting(d):
            new_rs, old = await rollout.new_and_old(self, create=False)
            await self.sync_status(new_rs, old)
            return
        rollout.check_paused(self)
        if o.spec(d).get("paused"):
            await rollout.scale_sync(self)
            return
        if await rollout.is_scaling_event(self):
            await rollout.scale_sync(self)
            return
        if du.is_rolling(d):
            await rollout.rolling(self)
        else:
            await rollout.recreate(self)

    async def sync_status(self, new_rs: Obj | None, old: list[Obj]) -> None:
        """``syncDeploymentStatus``: the counts and Available, nothing about progress."""
        all_rss = [*old, *([new_rs] if new_rs is not None else [])]
        self.d["status"] = du.calculate_status(all_rss, new_rs, self.d, self.now)
        await self.ctl.write_status(self.cached, self.d)

    async def scale_rs(self, rs: Obj, count: int, operation: str | None = None) -> Obj:
        """``scaleReplicaSet``: set ``rs``'s replicas and replicas annotations; the event
        ScalingReplicaSet "Scaled up replica set NAME from X to Y" (kube 1.31's wording)."""
        d = self.d
        size_changes = du.replicas(rs) != count
        wanted_max = du.replicas(d) + du.max_surge(d)
        if not size_changes and not du.replicas_annotations_need_update(
                rs, du.replicas(d), wanted_max):
            return rs
        before = du.replicas(rs)
        changed = copy.deepcopy(rs)
        changed["spec"]["replicas"] = count
        du.set_replicas_annotations(changed, du.replicas(d), wanted_max)
        fresh = await self.ctl.update_rs(changed)
        self._replace(fresh)
        if size_changes:
            word = operation or ("up" if before < count else "down")
            self.event(NORMAL, "ScalingReplicaSet",
                       f"Scaled {word} replica set {o.name(rs)} from {before} to {count}")
        return fresh

    def _replace(self, fresh: Obj) -> None:
        self.rss = [fresh if o.uid(rs) == o.uid(fresh) else rs for rs in self.rss]

    async def create_new_rs(self, old: list[Obj], new_revision: int) -> Obj | None:
        """Create the template's RS (``getNewReplicaSet`` when none exists yet)."""
        d = self.d
        template = copy.deepcopy(o.spec(d).get("template") or {})
        collisions = o.status(d).get("collisionCount")
        hash_ = du.template_hash(template, collisions)
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {**o.labels(template), du.HASH_LABEL: hash_}
        sel = copy.deepcopy(o.spec(d).get("selector") or {})
        sel["matchLabels"] = {**(sel.get("matchLabels") or {}), du.HASH_LABEL: hash_}
        rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"{o.name(d)}-{hash_}", "namespace": o.namespace(d),
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [o.new_controller_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": o.spec(d).get("minReadySeconds", 0),
                     "selector": sel, "template": template}}
        rs["spec"]["replicas"] = du.new_rs_new_replicas(d, [*old, rs], rs)
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = await self.ctl.create_rs(rs)
        except AlreadyExists:
            return await self._already_exists(rs)
        except StatusError as exc:
            await self._create_failed(rs, exc)
            raise
        count = du.replicas(created)
        if count > 0:
            self.event(NORMAL, "ScalingReplicaSet",
                       f"Scaled up replica set {o.name(created)} from 0 to {count}")
        if du.has_progress_deadline(d):
            du.set_condition(d.setdefault("status", {}), du.new_condition(
                du.PROGRESSING, "True", du.NEW_RS_CREATED,
                f'Created new replica set "{o.name(created)}"', self.now))
        self.rss.append(created)
        return created

    async def _already_exists(self, rs: Obj) -> Obj:
        """Ours with our template (a restart, a slow cache): take it. Else a hash collision:
        count it in status.collisionCount so the next sync hashes differently."""
        found = await self.ctl.existing_rs(o.name(rs), o.namespace(rs))
        ref = o.controller_ref(found) if found is not None else None
        if found is not None and ref is not None and ref.get("uid") == o.uid(self.d) and \
                du.equal_ignore_hash(o.spec(found).get("template") or {},
                                     o.spec(self.d).get("template") or {}):
            if all(o.uid(r) != o.uid(found) for r in self.rss):
                self.rss.append(found)
            return found
        status = self.d.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        await self.ctl.write_status(self.cached, self.d)
        msg = f'replica set "{o.name(rs)}" exists with another template (hash collision)'
        raise Conflict("replicasets", o.name(rs), msg)

    async def _create_failed(self, rs: Obj, exc: StatusError) -> None:
        msg = f'Failed to create new replica set "{o.name(rs)}": {exc}'
        if du.has_progress_deadline(self.d):
            du.set_condition(self.d.setdefault("status", {}), du.new_condition(
                du.PROGRESSING, "False", du.FAILED_RS_CREATE, msg, self.now))
            await self.ctl.write_status(self.cached, self.d)
        self.event(WARNING, du.FAILED_RS_CREATE, msg)


def selector(d: Obj) -> LabelSelector:
    """The Deployment's selector: none selects nothing, ``{}`` everything."""
    sel = o.spec(d).get("selector")
    if sel is None:
        return NOTHING
    return rs_selector({"spec": {"selector": sel}}) if sel else EVERYTHING


def _selects(sel: LabelSelector, labels: dict[str, str]) -> bool:
    return not sel.empty() and sel.matches(labels)


def new(ctx: Context) -> DeploymentController:
    return DeploymentController(ctx, workers=ctx.opts.concurrent_deployment_syncs)
