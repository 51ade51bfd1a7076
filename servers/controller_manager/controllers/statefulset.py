"""statefulset: apps/v1 StatefulSets — pods with stable names, ordered or in parallel.

After ``pkg/controller/statefulset`` (``stateful_set_control.go``, ``stateful_set_utils.go``):

* pod ``i`` of set ``web`` is ``web-i`` (``replicas`` ordinals from ``spec.ordinals.start``,
  default 0), with ``spec.hostname`` = its name, ``spec.subdomain`` = ``serviceName``, and
  the labels ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
  ``controller-revision-hash``;
* ``OrderedReady``: pods are created lowest ordinal first, each only once every lower one is
  Running and Ready (for ``minReadySeconds``); scale down removes the highest ordinal first,
  one at a time, and waits while a pod is unhealthy. ``Parallel``: every missing pod is
  created and every surplus pod deleted at once;
* a Failed or Succeeded pod is deleted and made again;
* ``RollingUpdate``: the pod with the highest ordinal (>= ``partition``) not at the update
  revision is deleted (and made again from the new template), one at a time, waiting for it to
  be Running and Ready; ``OnDelete`` leaves pods alone until a user deletes them;
* status: replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
  currentRevision, updateRevision, observedGeneration (``completeRollingUpdate`` makes the
  update revision current once every pod is updated and ready).

Each template the set has had is a ControllerRevision (``history``): pods carry the name
of theirs in ``controller-revision-hash``, a pod below the partition that must be made again
is made from the current revision's template, ``kubectl rollout history`` and ``undo`` work
on them, and the history is cut to ``revisionHistoryLimit``.
``volumeClaimTemplates`` are not acted on (km has no PersistentVolumeClaims).
"""

from __future__ import annotations

import copy
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    NotFound,
    StatusError,
)
from servers.apimachinery.selectors import NOTHING, LabelSelector, label_selector_from_object
from servers.client.events import NORMAL, WARNING
from servers.client.informer import object_key
from servers.client.resources import CONTROLLERREVISIONS, PODS, STATEFULSETS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import history
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating, wait_synced
from servers.controller_manager.controllers.deploymentutil import template_hash
from servers.controller_manager.controllers.refmanager import claim_pods

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "statefulset-controller"
COMPONENT = "statefulset-controller"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = history.REVISION_LABEL


def selector_of(obj: Obj) -> LabelSelector:
    """``spec.selector`` as a selector; a missing or malformed one selects nothing."""
    raw = o.spec(obj).get("selector")
    if not isinstance(raw, dict):
        return NOTHING
    try:
        return label_selector_from_object(raw)
    except BadRequest:
        return NOTHING


def revision_digest(_sts: Obj, data: Obj, collisions: int) -> str:
    """A StatefulSet's revision is named by the hash of its data (``HashControllerRevision``)."""
    return template_hash(data, collisions)


def update_revision(sts: Obj) -> str:
    """The name a new revision of the set's template gets (``NAME-HASH``)."""
    data = history.template_patch(sts)
    return f"{o.name(sts)}-{revision_digest(sts, data, history.collision_count(sts))}"


def revision_template(sts: Obj, revision: Obj | None) -> Obj:
    """The pod template a revision saved (the set's own when there is none)."""
    if revision is None:
        return o.spec(sts).get("template") or {}
    saved = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    saved.pop("$patch", None)
    return saved


def ordinal(sts: Obj, pod: Obj) -> int | None:
    """The pod's ordinal if its name is ``SETNAME-N`` (``getParentNameAndOrdinal``)."""
    match = re.fullmatch(r"(.*)-([0-9]+)", o.name(pod))
    if match is None or match.group(1) != o.name(sts):
        return None
    return int(match.group(2))


def ordinals(sts: Obj) -> range:
    """The ordinals the set should have: ``spec.ordinals.start`` (default 0) onwards,
    ``replicas`` of them (``getStartOrdinal``/``getEndOrdinal``)."""
    spec = o.spec(sts)
    start = int((spec.get("ordinals") or {}).get("start") or 0)
    return range(start, start + int(spec.get("replicas", 1) or 0))


def running_and_ready(pod: Obj) -> bool:
    return o.phase(pod) == o.RUNNING and o.is_ready(pod)


def revision_of(pod: Obj) -> str:
    return o.labels(pod).get(REVISION_LABEL, "")


def new_pod(sts: Obj, index: int, revision: str, template: Obj | None = None) -> Obj:
    """Pod ``index`` of the set from ``template`` (default: the set's own), labelled with
    ``revision`` (``newStatefulSetPod``, ``setPodRevision``)."""
    if template is None:
        template = o.spec(sts).get("template") or {}
    tmeta = o.meta(template)
    name = f"{o.name(sts)}-{index}"
    labels = dict(tmeta.get("labels") or {})
    labels.update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(index), REVISION_LABEL: revision})
    metadata: Obj = {"name": name, "labels": labels,
                     "ownerReferences": [o.new_controller_ref(sts)]}
    if tmeta.get("annotations"):
        metadata["annotations"] = copy.deepcopy(tmeta["annotations"])
    spec = copy.deepcopy(o.spec(template))
    spec["hostname"] = name
    if o.spec(sts).get("serviceName"):
        spec["subdomain"] = o.spec(sts)["serviceName"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


@dataclass(frozen=True)
class Revisions:
    """A set's current revision (what its pods ran before an update) and update revision
    (its template now) for one sync."""

    current: Obj
    update: Obj

    @property
    def update_name(self) -> str:
        return o.name(self.update)

    def for_ordinal(self, sts: Obj, index: int) -> Obj:
        """The revision pod ``index`` is made from: the current one below a RollingUpdate's
        partition, else the update one (``newVersionedStatefulSetPod``)."""
        strategy = o.spec(sts).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
            if index < ordinals(sts).start + partition:
                return self.current
        return self.update


class StatefulSetController:
    """Keeps each StatefulSet's ordinal pods; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int) -> None:
        self.name = NAME
        self.client = ctx.client
        self.workers = workers
        self.pods = ctx.pods
        self.sets = ctx.factory.informer(STATEFULSETS)
        self.history = history.History(ctx.client, ctx.factory.informer(CONTROLLERREVISIONS))
        self.recorder = ctx.recorder(COMPONENT)
        self.queue = ctx.queue("statefulset")
        self.sets.add_handler(self._enqueue, lambda _old, new: self._enqueue(new),
                              self._enqueue)
        ctx.pods.informer.add_handler(self._pod_changed, self._pod_updated, self._pod_changed)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.sets, self.pods.informer, self.history.informer):
            return
        for sts in self.sets.list():
            self._enqueue(sts)
        await run_workers(self.queue, self.sync, self.workers, stop)

    def _enqueue(self, sts: Obj) -> None:
        self.queue.add(object_key(sts))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if o.labels(old) != o.labels(new):
            self._pod_changed(old)
        self._pod_changed(new)

    def _pod_changed(self, pod: Obj) -> None:
        ref = o.controller_ref(pod)
        if ref is not None:
            if ref.get("kind") == "StatefulSet":
                self.queue.add(f"{o.namespace(pod)}/{ref.get('name', '')}")
            return
        labels = o.labels(pod)
        for sts in self.sets.list():  # an orphan: the sets that may adopt it
            if o.namespace(sts) == o.namespace(pod) and selector_of(sts).matches(labels):
                self._enqueue(sts)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the set ``key`` one step towards its spec and write its status."""
        sts = self.sets.get_by_key(key)
        if sts is None or o.deleting(sts):
            return
        claimed = await claim_pods(self.client, STATEFULSETS, sts, selector_of(sts),
                                   self.pods.in_namespace(o.namespace(sts)))
        pods = [pod for pod in claimed if ordinal(sts, pod) is not None]
        revs, sts = await self._revisions(sts, pods)
        await self._step(sts, pods, revs)
        await self._write_status(sts, pods, revs.update_name)

    async def _revisions(self, sts: Obj, pods: list[Obj]) -> tuple[Revisions, Obj]:
        """The set's update revision (made or found), its current one, and the set with the
        collision count they were named under; old revisions past the limit go
        (``getStatefulSetRevisions``, ``truncateHistory``)."""
        revisions = self.history.of(sts)
        update, collisions = await self.history.record(sts, revisions, revision_digest)
        if collisions != history.collision_count(sts):
            sts = {**sts, "status": {**o.status(sts), "collisionCount": collisions}}
        current_name = o.status(sts).get("currentRevision")
        current = next((r for r in revisions if o.name(r) == current_name), update)
        live = {o.name(current), o.name(update), *(revision_of(p) for p in pods)}
        await self.history.truncate(sts, [r for r in revisions if o.name(r) != o.name(update)],
                                    live)
        return Revisions(current, update), sts

    async def _step(self, sts: Obj, pods: list[Obj], revs: Revisions) -> None:
        """One pass of ``updateStatefulSet``: repair, create, scale down, then update."""
        spec = o.spec(sts)
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        wanted = ordinals(sts)
        slots: dict[int, Obj] = {}
        condemned: list[Obj] = []
        for pod in pods:
            index = ordinal(sts, pod) or 0
            if index in wanted:
                slots[index] = pod
            else:
                condemned.append(pod)
        if not await self._fill(sts, slots, wanted, revs, ordered=ordered):
            return
        condemned.sort(key=lambda pod: ordinal(sts, pod) or 0)
        if not await self._scale_down(sts, condemned, ordered=ordered):
            return
        await self._roll(sts, slots, wanted, revs.update_name)

    async def _fill(self, sts: Obj, slots: dict[int, Obj], wanted: range, revs: Revisions, *,
                    ordered: bool) -> bool:
        """Create missing ordinals and replace finished pods; False: wait (OrderedReady)."""
        for index in wanted:
            pod = slots.get(index)
            if pod is not None and o.phase(pod) in (o.FAILED, o.SUCCEEDED) \
                    and not o.deleting(pod):
                await self._delete(sts, pod, "recreating a finished pod")
                if ordered:
                    return False
            elif pod is None:
                await self._create(sts, index, revs)
                if ordered:
                    return False
            elif ordered and (o.deleting(pod) or not self._available(sts, pod)):
                return False  # OrderedReady: wait for this ordinal before the next
            elif not o.deleting(pod):
                await self._repair_identity(pod, index)
        return True

    async def _repair_identity(self, pod: Obj, index: int) -> None:
        """Put back the pod-name and pod-index labels an adopted or edited pod lacks
        (``identityMatches``/``updateIdentity``; hostname and subdomain are immutable)."""
        wanted = {POD_NAME_LABEL: o.name(pod), POD_INDEX_LABEL: str(index)}
        labels = o.labels(pod)
        if all(labels.get(k) == v for k, v in wanted.items()):
            return
        patch = {"metadata": {"labels": wanted, "uid": o.uid(pod)}}
        try:
            await self.client.patch(PODS, o.name(pod), patch, namespace=o.namespace(pod))
        except (NotFound, Conflict):
            return

    def _available(self, sts: Obj, pod: Obj) -> bool:
        """Running, Ready for minReadySeconds (``isRunningAndAvailable``); a pod Ready for
        less has its set synced again when it will have been."""
        if not running_and_ready(pod):
            return False
        min_ready = int(o.spec(sts).get("minReadySeconds") or 0)
        if min_ready <= 0 or o.ready_for(pod, min_ready, time.time()):
            return True
        self.queue.add_after(object_key(sts), float(min_ready))
        return False

    async def _scale_down(self, sts: Obj, condemned: list[Obj], *, ordered: bool) -> bool:
        """Delete pods past ``replicas`` (sorted by ordinal), highest first; False: wait.
        OrderedReady removes an unready pod only if it is the lowest unready one (kube's
        ``firstUnhealthyPod``; the kept ordinals are all ready once ``_fill`` passed)."""
        first_unhealthy = next((p for p in condemned if not running_and_ready(p)), None)
        for pod in reversed(condemned):
            if o.deleting(pod):
                if ordered:
                    return False
                continue
            if ordered and not running_and_ready(pod) and pod is not first_unhealthy:
                return False
            await self._delete(sts, pod, "scale down")
            if ordered:
                return False
        return True

    async def _roll(self, sts: Obj, slots: dict[int, Obj], wanted: range,
                    revision: str) -> None:
        strategy = o.spec(sts).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return  # OnDelete
        # The partition counts positions from the first ordinal, as kube's updateMin.
        partition = max(int((strategy.get("rollingUpdate") or {}).get("partition") or 0), 0)
        for index in reversed(wanted[partition:]):
            pod = slots.get(index)
            if pod is None:
                return
            if revision_of(pod) != revision and not o.deleting(pod):
                await self._delete(sts, pod, "rolling update")
                return
            if o.deleting(pod) or not running_and_ready(pod):
                return  # one at a time: wait for the replaced pod

    async def _create(self, sts: Obj, index: int, revs: Revisions) -> None:
        revision = revs.for_ordinal(sts, index)
        body = new_pod(sts, index, o.name(revision), revision_template(sts, revision))
        name = body["metadata"]["name"]
        try:
            await self.client.create(PODS, body, o.namespace(sts))
        except AlreadyExists:
            return  # the cache is behind; the pod's event requeues the set
        except Exception as exc:
            if isinstance(exc, StatusError) and namespace_terminating(exc):
                return
            self.recorder.event(sts, WARNING, "FailedCreate",
                                f"create Pod {name} in StatefulSet {o.name(sts)} failed "
                                f"error: {exc}")
            raise
        self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                            f"create Pod {name} in StatefulSet {o.name(sts)} successful")

    async def _delete(self, sts: Obj, pod: Obj, why: str) -> None:
        log.info("StatefulSet %s: deleting pod %s (%s)", object_key(sts), o.name(pod), why)
        try:
            await self.client.delete(PODS, o.name(pod), o.namespace(pod),
                                     uid=o.uid(pod))
        except (NotFound, Conflict):
            return
        except Exception as exc:
            self.recorder.event(sts, WARNING, "FailedDelete",
                                f"delete Pod {o.name(pod)} in StatefulSet {o.name(sts)} "
                                f"failed error: {exc}")
            raise
        self.recorder.event(sts, NORMAL, "SuccessfulDelete",
                            f"delete Pod {o.name(pod)} in StatefulSet {o.name(sts)} "
                            "successful")

    # -- status ------------------------------------------------------------------------------

    def calculate_status(self, sts: Obj, pods: list[Obj], revision: str) -> Obj:
        """The status the set should show (``computeReplicaStatus``, ``completeRollingUpdate``)."""
        old = o.status(sts)
        current = str(old.get("currentRevision") or revision)
        min_ready = int(o.spec(sts).get("minReadySeconds") or 0)
        now = time.time()
        live = [p for p in pods if o.phase(p) and not o.deleting(p)]
        ready = [p for p in pods if running_and_ready(p)]
        status: Obj = {**old,
                       "replicas": sum(1 for p in pods if o.phase(p)),
                       "readyReplicas": len(ready),
                       "availableReplicas": sum(1 for p in ready
                                                if o.ready_for(p, min_ready, now)),
                       "currentReplicas": sum(1 for p in live if revision_of(p) == current),
                       "updatedReplicas": sum(1 for p in live if revision_of(p) == revision),
                       "currentRevision": current, "updateRevision": revision,
                       "observedGeneration": o.meta(sts).get("generation", 0)}
        strategy = (o.spec(sts).get("updateStrategy") or {}).get("type", "RollingUpdate")
        replicas = int(o.spec(sts).get("replicas", 1) or 0)
        if strategy == "RollingUpdate" and status["updatedReplicas"] == replicas \
                and status["readyReplicas"] == replicas and status["replicas"] == replicas:
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = revision
        return status

    async def _write_status(self, sts: Obj, pods: list[Obj], revision: str) -> None:
        new = self.calculate_status(sts, pods, revision)
        # Against the cached set: ``sts`` may carry a collision count not yet written.
        if new == o.status(self.sets.get_by_key(object_key(sts)) or sts):
            return
        try:
            await self.client.update(STATEFULSETS, {**sts, "status": new}, "status")
        except Conflict:
            self.queue.add(object_key(sts))  # a newer set in the cache soon: sync again
        except NotFound:
            return


def new(ctx: Context) -> StatefulSetController:
    return StatefulSetController(ctx, workers=ctx.opts.concurrent_statefulset_syncs)
