"""job-controller: batch/v1 Jobs run pods to completion (kube's ``pkg/controller/job``).

The sync of ``job_controller.go`` (``syncJob`` and ``trackJobStatusAndRemoveFinalizers``):

1. read the Job from the cache (gone: forget its expectations); claim its pods;
2. a finished Job (Complete or Failed) only has its pods' tracking finalizers removed;
3. pods that ended and still carry ``batch.kubernetes.io/job-tracking`` are counted in two
   steps, so a crash never counts a pod twice or loses one: their uids go to
   ``status.uncountedTerminatedPods`` (an Indexed Job's successes to ``completedIndexes``)
   in one status write, then the finalizers are removed, then the uids move into
   ``succeeded``/``failed``. A pod failure policy may Ignore a failed pod (not counted),
   Count it, or FailJob;
4. the Job fails when a FailJob rule matched (``PodFailurePolicy``), more pods failed than
   ``backoffLimit`` (``BackoffLimitExceeded``) or it ran past ``activeDeadlineSeconds``
   (``DeadlineExceeded``); it succeeds when ``completions`` pods (indexes) succeeded, or, with
   no ``completions``, when one pod succeeded and none is active. As 1.31+, the interim
   condition (``FailureTarget``/``SuccessCriteriaMet``) comes first and the active pods are
   deleted; the terminal one (``Failed``/``Complete``, with ``completionTime``) follows once
   no pod is left running or terminating;
5. otherwise keep ``min(parallelism, remaining)`` pods active (slow-start batches, at most
   500 a sync), waiting 10 s·2^(failures-1) (at most 10 min) after failed pods; a suspended
   Job has its active pods deleted.

Events: ``SuccessfulCreate``, ``FailedCreate``, ``SuccessfulDelete``, ``Completed``,
``BackoffLimitExceeded``, ``DeadlineExceeded``, ``PodFailurePolicy``, ``Suspended``,
``Resumed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import BadRequest, NotFound, StatusError
from servers.apimachinery.selectors import NOTHING, LabelSelector, label_selector_from_object
from servers.client.events import NORMAL, WARNING
from servers.client.expectations import Expectations
from servers.client.informer import object_key
from servers.client.resources import JOBS, PODS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import jobpods as jp
from servers.controller_manager.controllers import jobstatus as js
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating, wait_synced
from servers.controller_manager.controllers.ranking import pods_to_delete
from servers.controller_manager.controllers.refmanager import claim_pods
from servers.controller_manager.controllers.replicaset import BURST_REPLICAS, slow_start

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "job-controller"
MANAGED_BY = "kubernetes.io/job-controller"
_FINALIZER_PATCH = {"metadata": {"$deleteFromPrimitiveList/finalizers": [
    jp.TRACKING_FINALIZER]}}


def job_selector(job: Obj) -> LabelSelector:
    """The Job's ``spec.selector`` (the apiserver generates it); nothing when unusable."""
    try:
        selector = label_selector_from_object(o.spec(job).get("selector"))
    except BadRequest:
        return NOTHING
    return NOTHING if selector.empty() else selector


class JobController:
    """Runs each Job's pods to completion; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = NAME
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.pods = ctx.pods
        self.jobs = ctx.factory.informer(JOBS)
        self.recorder = ctx.recorder(NAME)
        self.queue = ctx.queue("job")
        # Pods that still carry the tracking finalizer but whose Job is gone (kube's
        # orphanQueue): the finalizer comes off so they can be deleted.
        self.orphans = ctx.queue("orphan_pod")
        self.expectations = Expectations()
        # uids whose finalizer this controller removed, not yet seen without it
        # (kube's finalizerExpectations): skipped so a stale cache never counts twice.
        self.uncounting: dict[str, set[str]] = {}
        self.jobs.add_handler(self._job_added, self._job_updated, self._job_deleted)
        ctx.pods.informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.jobs, self.pods.informer):
            return
        for job in self.jobs.list():
            self.queue.add(object_key(job))
        for pod in self.pods.informer.list():
            self._maybe_orphan(pod)
        await asyncio.gather(run_workers(self.queue, self.sync, self.workers, stop),
                             run_workers(self.orphans, self.sync_orphan, 1, stop))

    # -- handlers: keys only ---------------------------------------------------------------

    def _job_added(self, job: Obj) -> None:
        self.queue.add(object_key(job))

    def _job_updated(self, old: Obj, new: Obj) -> None:
        self.queue.add(object_key(new))

    def _job_deleted(self, job: Obj) -> None:
        key = object_key(job)
        self.expectations.forget(key)
        self.uncounting.pop(key, None)
        self.queue.add(key)
        for pod in self.pods.in_namespace(o.namespace(job)):
            if (o.controller_ref(pod) or {}).get("uid") == o.uid(job) and jp.tracked(pod):
                self.orphans.add(object_key(pod))

    def _maybe_orphan(self, pod: Obj) -> None:
        if jp.tracked(pod) and self._owner_key(pod) is None:
            self.orphans.add(object_key(pod))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = o.controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        job = self.jobs.get(str(ref.get("name", "")), o.namespace(pod))
        return object_key(job) if job is not None and o.uid(job) == ref.get("uid") else None

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        else:
            self._maybe_orphan(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is None:
            self._maybe_orphan(new)
            return
        if o.deleting(new) and not o.deleting(old):
            self.expectations.deletion_observed(key, o.uid(new))
        if not jp.tracked(new):
            self.uncounting.get(key, set()).discard(o.uid(new))
        self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, o.uid(pod))
        self.uncounting.get(key, set()).discard(o.uid(pod))
        self.queue.add(key)

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the Job ``key`` one step closer to done and write its status."""
        job = self.jobs.get_by_key(key)
        if job is None:
            self.expectations.forget(key)
            self.uncounting.pop(key, None)
            return
        if o.spec(job).get("managedBy", MANAGED_BY) != MANAGED_BY:
            return  # another controller runs it (kube's JobManagedBy, beta in 1.32)
        pods = await claim_pods(self.client, JOBS, job, job_selector(job),
                                self.pods.in_namespace(o.namespace(job)))
        if js.finished(job):
            await self._remove_finalizers(key, [p for p in pods if jp.tracked(p)])
            return
        now = self.clock()
        view = js.JobView(job, pods, now, self.uncounting.get(key, set()))
        job = await self._record_uncounted(job, view)
        await self._act(key, job, view)
        removed = await self._remove_finalizers(key, view.to_uncount())
        new = view.next_status(removed)
        await self._write_status(job, new, view)
        self._requeue(key, job, view, now)

    async def sync_orphan(self, key: str) -> None:
        """Take the tracking finalizer off a pod whose Job is gone (``handleOrphanPod``);
        an uncached read proves the Job is gone, not just late in the cache."""
        pod = self.pods.informer.get_by_key(key)
        if pod is None or not jp.tracked(pod) or self._owner_key(pod) is not None:
            return
        ref = o.controller_ref(pod)
        if ref is not None and ref.get("kind") == "Job":
            try:
                job = await self.client.get(JOBS, str(ref.get("name")), o.namespace(pod))
            except NotFound:
                pass
            else:
                if o.uid(job) == ref.get("uid") and not js.finished(job):
                    return  # the cache is behind; the Job's own sync counts the pod
        with contextlib.suppress(NotFound):
            await self.client.patch(PODS, o.name(pod), _FINALIZER_PATCH,
                                    patch_type="strategic", namespace=o.namespace(pod))

    async def _record_uncounted(self, job: Obj, view: js.JobView) -> Obj:
        """Step one of counting: persist the newly ended pods before removing finalizers."""
        if not view.has_new_terminated():
            return job
        return await self._update_status(job, view.uncounted_status())

    async def _act(self, key: str, job: Obj, view: js.JobView) -> None:
        if view.finishing is not None or view.suspended:
            if view.active:
                await self._delete(key, job, view, view.active)
            return
        if o.deleting(job) or not self.expectations.satisfied(key):
            return
        await self._manage(key, job, view)

    async def _manage(self, key: str, job: Obj, view: js.JobView) -> None:
        surplus = view.surplus()
        if surplus:
            await self._delete(key, job, view, surplus)
            return
        wanted = view.wanted()
        if not wanted:
            return
        if view.backoff > 0:
            self.queue.add_after(key, view.backoff)
            return
        await self._create(key, job, view, wanted[:BURST_REPLICAS])

    async def _create(self, key: str, job: Obj, view: js.JobView,
                      indexes: list[int | None]) -> None:
        self.expectations.expect_creations(key, len(indexes))
        pending = iter(indexes)
        errors: list[str] = []

        async def create_one() -> bool:
            try:
                pod = await self.client.create(PODS, jp.new_pod(job, next(pending)),
                                               o.namespace(job))
            except StatusError as exc:
                if namespace_terminating(exc):
                    return False
                errors.append(str(exc))
                self.recorder.event(job, WARNING, "FailedCreate", f"Error creating: {exc}")
                return False
            self.recorder.event(job, NORMAL, "SuccessfulCreate", f"Created pod: {o.name(pod)}")
            view.created += 1
            return True

        done = await slow_start(len(indexes), create_one)
        if done < len(indexes):
            self.expectations.creation_observed(key, len(indexes) - done)
        if errors:
            raise js.SyncError(errors[0])

    async def _delete(self, key: str, job: Obj, view: js.JobView, pods: list[Obj]) -> None:
        victims = pods_to_delete(pods, len(pods), self.clock())
        self.expectations.expect_deletions(key, [o.uid(p) for p in victims])
        errors: list[str] = []

        async def delete_one(pod: Obj) -> None:
            try:
                await self.client.delete(PODS, o.name(pod), o.namespace(pod), uid=o.uid(pod))
            except NotFound:
                pass
            except StatusError as exc:
                self.expectations.deletion_observed(key, o.uid(pod))
                errors.append(f"deleting pod {o.name(pod)}: {exc}")
                return
            else:
                self.recorder.event(job, NORMAL, "SuccessfulDelete",
                                    f"Deleted pod: {o.name(pod)}")
            view.deleted.add(o.uid(pod))

        await asyncio.gather(*(delete_one(pod) for pod in victims))
        if errors:
            raise js.SyncError(errors[0])

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> set[str]:
        """Take the tracking finalizer off ``pods``; the uids done (or already gone)."""
        done: set[str] = set()
        for pod in pods:
            try:
                await self.client.patch(PODS, o.name(pod), _FINALIZER_PATCH,
                                        patch_type="strategic", namespace=o.namespace(pod))
            except NotFound:
                pass
            except StatusError as exc:
                log.info("removing the tracking finalizer of pod %s: %s", o.name(pod), exc)
                continue
            done.add(o.uid(pod))
        if done:
            self.uncounting.setdefault(key, set()).update(done)
        return done

    async def _write_status(self, job: Obj, new: Obj, view: js.JobView) -> None:
        before = o.status(job)
        if new == before:
            return
        await self._update_status(job, new)
        for reason, message, warning in view.events(before, new):
            self.recorder.event(job, WARNING if warning else NORMAL, reason, message)

    async def _update_status(self, job: Obj, status: Obj) -> Obj:
        try:
            written: Obj = await self.client.update(JOBS, {**job, "status": status}, "status")
        except NotFound:
            return job
        return written

    def _requeue(self, key: str, job: Obj, view: js.JobView, now: float) -> None:
        deadline = o.spec(job).get("activeDeadlineSeconds")
        if view.finishing is None and not view.suspended and deadline is not None:
            started = o.parse_time(view.start_time)
            if started is not None:
                self.queue.add_after(key, started.timestamp() + float(deadline) - now + 0.01)


def new(ctx: Context) -> JobController:
    return JobController(ctx, workers=ctx.opts.concurrent_job_syncs)
