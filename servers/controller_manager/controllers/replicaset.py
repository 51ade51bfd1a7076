"""The replica controller: keep N pods of a template, for ReplicationControllers (and, later,
apps/v1 ReplicaSets, which differ only in their selector type and names).

The sync of ``pkg/controller/replicaset/replica_set.go`` (``syncReplicaSet``):

1. read the object from the cache (gone: forget its expectations);
2. claim pods (``ClaimPods``): adopt matching orphans (after one uncached GET proving the
   owner still exists and is not being deleted), release owned pods that stop matching,
   never touch pods another controller owns;
3. only when the expectations are satisfied: create the missing pods in slow-start batches
   (1, 2, 4, ... at most 500 per sync; the first failed batch stops the rest) or delete the
   surplus, least valuable first (``ActivePodsWithRanks``);
4. write status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
   observedGeneration, the ReplicaFailure condition) through /status when it changed.

Events on the owner: ``SuccessfulCreate`` "Created pod: NAME", ``FailedCreate``,
``SuccessfulDelete`` "Deleted pod: NAME", ``FailedDelete``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.apimachinery.meta import now_rfc3339
from servers.client.events import NORMAL, WARNING
from servers.client.expectations import Expectations
from servers.client.informer import object_key
from servers.client.resources import PODS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating, wait_synced
from servers.controller_manager.controllers.ranking import pods_to_delete
from servers.controller_manager.controllers.refmanager import claim_pods

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servers.apimachinery.selectors import LabelSelector
    from servers.client.resources import ResourceRef
    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# replica_set.go: BurstReplicas; controller_utils.go: SlowStartInitialBatchSize.
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1


@dataclass(frozen=True)
class Kind:
    """What differs between ReplicationControllers and ReplicaSets."""

    resource: ResourceRef
    queue_name: str
    component: str
    selector: Callable[[Obj], LabelSelector]
    # The owners whose pods count as related for the deletion rank (kube: RSs under the
    # same controller); None: the owner's own pods only.
    siblings: Callable[[Obj, list[Obj]], list[Obj]] | None = None


class ManageError(Exception):
    """Creating or deleting pods failed (the key is retried with backoff)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ReplicaController:
    """Keeps each owner's pod count at ``spec.replicas``; see the module docstring."""

    def __init__(self, ctx: Context, kind: Kind, *, workers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = kind.queue_name
        self.kind = kind
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.pods = ctx.pods
        self.owners = ctx.factory.informer(kind.resource)
        self.recorder = ctx.recorder(kind.component)
        self.queue = ctx.queue(kind.queue_name)
        self.expectations = Expectations()
        self.owners.add_handler(self._owner_added, self._owner_updated, self._owner_deleted)
        ctx.pods.informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.owners, self.pods.informer):
            return
        for owner in self.owners.list():  # informer events before leadership were queued too
            self.queue.add(object_key(owner))
        await run_workers(self.queue, self.sync, self.workers, stop)

    # -- handlers: keys only ---------------------------------------------------------------

    def _owner_added(self, owner: Obj) -> None:
        self.queue.add(object_key(owner))

    def _owner_updated(self, old: Obj, new: Obj) -> None:
        self.queue.add(object_key(new))

    def _owner_deleted(self, owner: Obj) -> None:
        key = object_key(owner)
        self.expectations.forget(key)
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        """The owner a controllerRef names, if it is of our kind and still the same uid."""
        if ref is None or ref.get("kind") != self.kind.resource.kind:
            return None
        owner = self.owners.get(str(ref.get("name", "")), namespace)
        return owner if owner is not None and o.uid(owner) == ref.get("uid") else None

    def _matching_owners(self, pod: Obj) -> list[Obj]:
        namespace, labels = o.namespace(pod), o.labels(pod)
        return [owner for owner in self.owners.list() if o.namespace(owner) == namespace
                and self._selects(owner, labels)]

    def _selects(self, owner: Obj, labels: dict[str, str]) -> bool:
        selector = self.kind.selector(owner)
        return not selector.empty() and selector.matches(labels)

    def _pod_added(self, pod: Obj) -> None:
        if o.deleting(pod):
            self._pod_deleted(pod)  # a restart: a pod seen first already being deleted
            return
        owner = self._resolve(o.namespace(pod), o.controller_ref(pod))
        if owner is not None:
            key = object_key(owner)
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif o.controller_ref(pod) is None:
            for candidate in self._matching_owners(pod):
                self.queue.add(object_key(candidate))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if o.meta(old).get("resourceVersion") == o.meta(new).get("resourceVersion"):
            return
        if o.deleting(new) and not o.deleting(old):
            self._pod_deleted(new)  # graceful delete: observed now, not when it goes
            return
        old_ref, new_ref = o.controller_ref(old), o.controller_ref(new)
        if old_ref is not None and old_ref != new_ref:
            previous = self._resolve(o.namespace(old), old_ref)
            if previous is not None:
                self.queue.add(object_key(previous))
        owner = self._resolve(o.namespace(new), new_ref)
        if owner is not None:
            self.queue.add(object_key(owner))
            self._requeue_for_availability(owner, old, new)
        elif new_ref is None and (o.labels(old) != o.labels(new) or old_ref is not None):
            for candidate in self._matching_owners(new):
                self.queue.add(object_key(candidate))

    def _requeue_for_availability(self, owner: Obj, old: Obj, new: Obj) -> None:
        min_ready = int(o.spec(owner).get("minReadySeconds") or 0)
        if min_ready > 0 and o.is_ready(new) and not o.is_ready(old):
            self.queue.add_after(object_key(owner), float(min_ready) + 1.0)

    def _pod_deleted(self, pod: Obj) -> None:
        owner = self._resolve(o.namespace(pod), o.controller_ref(pod))
        if owner is None:
            return
        key = object_key(owner)
        self.expectations.deletion_observed(key, o.uid(pod))
        self.queue.add(key)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the owner ``key`` to its desired pods and write its status."""
        owner = self.owners.get_by_key(key)
        if owner is None:
            self.expectations.forget(key)
            return
        need_manage = self.expectations.satisfied(key) and not o.deleting(owner)
        pods = await claim_pods(self.client, self.kind.resource, owner,
                                self.kind.selector(owner),
                                self.pods.in_namespace(o.namespace(owner)))
        active = [pod for pod in pods if o.is_active(pod)]
        failure: ManageError | None = None
        if need_manage:
            try:
                await self._manage(key, owner, active)
            except ManageError as exc:
                failure = exc
        await self._update_status(owner, active, failure)
        if failure is not None:
            raise failure
        self._maybe_requeue(key, owner, active)

    def _maybe_requeue(self, key: str, owner: Obj, active: list[Obj]) -> None:
        min_ready = int(o.spec(owner).get("minReadySeconds") or 0)
        if min_ready <= 0:
            return
        now = self.clock()
        if any(o.is_ready(p) and not o.ready_for(p, min_ready, now) for p in active):
            self.queue.add_after(key, float(min_ready))

    # -- managing replicas --------------------------------------------------------------------

    async def _manage(self, key: str, owner: Obj, active: list[Obj]) -> None:
        wanted = int(o.spec(owner).get("replicas", 1) or 0)
        diff = len(active) - wanted
        if diff < 0:
            await self._create(key, owner, min(-diff, BURST_REPLICAS))
        elif diff > 0:
            await self._delete(key, owner, active, min(diff, BURST_REPLICAS))

    async def _create(self, key: str, owner: Obj, count: int) -> None:
        self.expectations.expect_creations(key, count)
        errors: list[str] = []

        async def create_one() -> bool:
            try:
                pod = await self.client.create(PODS, pod_from_template(owner),
                                               o.namespace(owner))
            except StatusError as exc:
                if namespace_terminating(exc):
                    return False
                errors.append(str(exc))
                self.recorder.event(owner, WARNING, "FailedCreate", f"Error creating: {exc}")
                return False
            self.recorder.event(owner, NORMAL, "SuccessfulCreate",
                                f"Created pod: {o.name(pod)}")
            return True

        done = await slow_start(count, create_one)
        if done < count:
            self.expectations.creation_observed(key, count - done)
        if errors:
            raise ManageError("FailedCreate", errors[0])

    async def _delete(self, key: str, owner: Obj, active: list[Obj], count: int) -> None:
        victims = pods_to_delete(active, count, self.clock(), self._related(owner))
        self.expectations.expect_deletions(key, [o.uid(pod) for pod in victims])
        errors: list[str] = []

        async def delete_one(pod: Obj) -> None:
            try:
                await self.client.delete(PODS, o.name(pod), o.namespace(pod))
            except NotFound:
                self.expectations.deletion_observed(key, o.uid(pod))
                return
            except StatusError as exc:
                self.expectations.deletion_observed(key, o.uid(pod))
                errors.append(str(exc))
                self.recorder.event(owner, WARNING, "FailedDelete", f"Error deleting: {exc}")
                return
            self.recorder.event(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {o.name(pod)}")

        await asyncio.gather(*(delete_one(pod) for pod in victims))
        if errors:
            raise ManageError("FailedDelete", errors[0])

    def _related(self, owner: Obj) -> list[Obj] | None:
        """Pods of ``owner``'s siblings and its own (``getIndirectlyRelatedPods``)."""
        if self.kind.siblings is None:
            return None
        uids = {o.uid(s) for s in self.kind.siblings(owner, self.owners.list())}
        uids.add(o.uid(owner))
        return [pod for pod in self.pods.in_namespace(o.namespace(owner)) if o.is_active(pod)
                and (o.controller_ref(pod) or {}).get("uid") in uids]

    # -- status --------------------------------------------------------------------------------

    def calculate_status(self, owner: Obj, active: list[Obj],
                         failure: ManageError | None) -> Obj:
        """The status this owner should show (``calculateStatus``)."""
        template_labels = o.labels(o.spec(owner).get("template") or {})
        min_ready = int(o.spec(owner).get("minReadySeconds") or 0)
        now = self.clock()
        new = copy.deepcopy(o.status(owner))
        new.update({
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1 for pod in active
                if all(o.labels(pod).get(k) == v for k, v in template_labels.items())),
            "readyReplicas": sum(1 for pod in active if o.is_ready(pod)),
            "availableReplicas": sum(1 for pod in active if o.ready_for(pod, min_ready, now)),
            "observedGeneration": o.meta(owner).get("generation", 0),
        })
        _set_failure_condition(new, failure)
        return new

    async def _update_status(self, owner: Obj, active: list[Obj],
                             failure: ManageError | None) -> None:
        new = self.calculate_status(owner, active, failure)
        if _same_status(o.status(owner), new):
            return
        body = {**owner, "status": new}
        try:
            await self.client.update(self.kind.resource, body, "status")
        except Conflict:
            fresh = await self.client.get(self.kind.resource, o.name(owner), o.namespace(owner))
            if o.uid(fresh) != o.uid(owner):
                return
            fresh["status"] = {**o.status(fresh), **{k: new[k] for k in new
                                                     if k != "conditions"}}
            _set_failure_condition(fresh["status"], failure)
            await self.client.update(self.kind.resource, fresh, "status")
        except NotFound:
            return


def _same_status(old: Obj, new: Obj) -> bool:
    fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
              "observedGeneration")
    if any(old.get(f, 0) != new.get(f, 0) for f in fields):
        return False
    return (old.get("conditions") or []) == (new.get("conditions") or [])


def _set_failure_condition(status: Obj, failure: ManageError | None) -> None:
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    existing = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if failure is None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    elif existing is None:
        conditions.append({"type": "ReplicaFailure", "status": "True",
                           "lastTransitionTime": now_rfc3339(), "reason": failure.reason,
                           "message": str(failure)})
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def pod_from_template(owner: Obj) -> Obj:
    """A new pod of ``owner``'s template, controlled by it (``GetPodFromTemplate``)."""
    template = o.spec(owner).get("template") or {}
    template_meta = o.meta(template)
    metadata: Obj = {"generateName": f"{o.name(owner)}-",
                     "ownerReferences": [o.new_controller_ref(owner)]}
    for field in ("labels", "annotations", "finalizers"):
        if template_meta.get(field):
            metadata[field] = copy.deepcopy(template_meta[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": copy.deepcopy(o.spec(template))}


async def slow_start(count: int, call: Callable[[], Awaitable[bool]]) -> int:
    """Run ``call`` ``count`` times in batches of 1, 2, 4, ...; stop after a batch with a
    failure. Returns how many calls succeeded (``slowStartBatch``)."""
    done, batch = 0, min(count, SLOW_START_INITIAL_BATCH)
    remaining = count
    while batch > 0:
        results = await asyncio.gather(*(call() for _ in range(batch)))
        succeeded = sum(1 for ok in results if ok)
        done += succeeded
        if succeeded < batch:
            break
        remaining -= batch
        batch = min(2 * batch, remaining)
    return done
