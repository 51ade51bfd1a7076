"""cronjob-controller: batch/v1 CronJobs make Jobs on a schedule (kube's
``pkg/controller/cronjob/cronjob_controllerv2.go``, ``syncCronJob`` and
``cleanupFinishedJobs``).

A sync of one CronJob:

1. its Jobs (controlled by it): finished ones leave ``status.active`` (``SawCompletedJob``
   "Saw completed job: NAME, condition: Complete"), the latest completion of a Complete one
   is ``lastSuccessfulTime``; an active reference whose Job is gone leaves too
   (``MissingJob``);
2. deleted, suspended, or with a time zone or schedule it cannot read (``UnknownTimeZone``,
   ``UnparseableSchedule``): nothing more;
3. the latest start time due (cronjobschedule.most_recent; ``TooManyMissedTimes`` past 100
   missed): none, or one later than ``startingDeadlineSeconds`` allows (``MissSchedule``),
   or one already made: wait for the next;
4. ``concurrencyPolicy``: Forbid skips the start while a Job is active (``JobAlreadyActive``);
   Replace deletes the active Jobs first (``SuccessfulDelete``); Allow runs them side by side;
5. create ``NAME-<minutes since the epoch>`` from ``jobTemplate`` (``SuccessfulCreate``
   "Created job NAME"), add it to ``active`` and set ``lastScheduleTime``;
6. delete the oldest finished Jobs beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit`` (Background propagation, ``SuccessfulDelete``);
7. write the status if it changed and come back 100 ms after the next start time.

The clock is injectable (unit tests); tests against real servers make a start time due by
writing ``status.lastScheduleTime`` back through /status, as any client may.
"""

from __future__ import annotations

import copy
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, NotFound, StatusError
from servers.client.events import NORMAL, WARNING
from servers.client.informer import object_key
from servers.client.resources import CRONJOBS, JOBS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import cronjobschedule as cs
from servers.controller_manager.controllers import jobstatus as js
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "cronjob-controller"


def _finished_type(job: Obj) -> str | None:
    for type_ in (js.COMPLETE, js.FAILED):
        found = o.condition(job, type_)
        if found is not None and found.get("status") == "True":
            return type_
    return None


def _job_ref(job: Obj) -> Obj:
    return {"kind": "Job", "namespace": o.namespace(job), "name": o.name(job),
            "uid": o.uid(job), "apiVersion": "batch/v1",
            "resourceVersion": str(o.meta(job).get("resourceVersion") or "")}


class CronJobController:
    """Starts each CronJob's Jobs on time; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = NAME
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.local = cs.local_zone()
        self.cronjobs = ctx.factory.informer(CRONJOBS)
        self.jobs = ctx.factory.informer(JOBS)
        self.recorder = ctx.recorder("cronjob-controller")
        self.queue = ctx.queue("cronjob")
        self.cronjobs.add_handler(self._enqueue, lambda _, new: self._enqueue(new),
                                  self._enqueue)
        self.jobs.add_handler(self._job_changed, lambda _, new: self._job_changed(new),
                              self._job_changed)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.cronjobs, self.jobs):
            return
        for cronjob in self.cronjobs.list():
            self.queue.add(object_key(cronjob))
        await run_workers(self.queue, self.sync, self.workers, stop)

    def _enqueue(self, cronjob: Obj) -> None:
        self.queue.add(object_key(cronjob))

    def _job_changed(self, job: Obj) -> None:
        ref = o.controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.queue.add(f"{o.namespace(job)}/{ref.get('name')}")

    def _owned_jobs(self, cronjob: Obj) -> list[Obj]:
        namespace, uid = o.namespace(cronjob), o.uid(cronjob)
        return [j for j in self.jobs.list() if o.namespace(j) == namespace
                and (o.controller_ref(j) or {}).get("uid") == uid]

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Start the CronJob ``key``'s due Job, tidy its history, write its status."""
        cronjob = self.cronjobs.get_by_key(key)
        if cronjob is None:
            return
        jobs = self._owned_jobs(cronjob)
        cronjob = await self._fresh_if_behind(cronjob, jobs)
        if cronjob is None:
            return
        status = copy.deepcopy(o.status(cronjob))
        await self._reconcile_active(cronjob, status, jobs)
        delay = await self._schedule(cronjob, status)
        await self._cleanup(cronjob, jobs)
        if status != o.status(cronjob):
            try:
                await self.client.update(CRONJOBS, {**cronjob, "status": status}, "status")
            except NotFound:
                return
        if delay is not None:
            self.queue.add_after(key, delay)

    async def _fresh_if_behind(self, cronjob: Obj, jobs: list[Obj]) -> Obj | None:
        """The CronJob read without the cache when one of its running Jobs is missing from
        the cached ``active`` (our own status write may not be cached yet; kube re-reads
        before calling a Job unexpected)."""
        listed = {r.get("uid") for r in o.status(cronjob).get("active") or ()
                  if isinstance(r, dict)}
        if all(o.uid(j) in listed or _finished_type(j) for j in jobs):
            return cronjob
        try:
            fresh: Obj = await self.client.get(CRONJOBS, o.name(cronjob), o.namespace(cronjob))
        except NotFound:
            return None
        return fresh if o.uid(fresh) == o.uid(cronjob) else None

    async def _reconcile_active(self, cronjob: Obj, status: Obj, jobs: list[Obj]) -> None:
        active = [r for r in status.get("active") or () if isinstance(r, dict)]
        uids = {r.get("uid") for r in active}
        for job in jobs:
            finished = _finished_type(job)
            if o.uid(job) in uids and finished is not None:
                active = [r for r in active if r.get("uid") != o.uid(job)]
                self.recorder.event(cronjob, NORMAL, "SawCompletedJob",
                                    f"Saw completed job: {o.name(job)}, condition: {finished}")
            elif o.uid(job) not in uids and finished is None:
                self.recorder.event(cronjob, WARNING, "UnexpectedJob",
                                    f"Saw a job that the controller did not create or "
                                    f"forgot: {o.name(job)}")
            if finished == js.COMPLETE:
                _note_success(status, job)
        known = {o.uid(j) for j in jobs}
        for ref in list(active):
            if ref.get("uid") not in known and not await self._still_there(ref):
                active.remove(ref)
                self.recorder.event(cronjob, NORMAL, "MissingJob",
                                    f"Active job went missing: {ref.get('name')}")
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    async def _still_there(self, ref: Obj) -> bool:
        try:
            job = await self.client.get(JOBS, str(ref.get("name")), str(ref.get("namespace")))
        except NotFound:
            return False
        return bool(o.uid(job) == ref.get("uid"))

    async def _schedule(self, cronjob: Obj, status: Obj) -> float | None:
        """Start the due Job if any; the delay before the next look (None: never)."""
        if o.deleting(cronjob) or o.spec(cronjob).get("suspend"):
            return None
        try:
            schedule = cs.Schedule.of(cronjob, self.local)
        except cs.ScheduleError as exc:
            reason = "UnknownTimeZone" if "timeZone" in str(exc) else "UnparseableSchedule"
            self.recorder.event(cronjob, WARNING, reason, str(exc))
            return None
        if "TZ" in str(o.spec(cronjob).get("schedule") or ""):
            self.recorder.event(cronjob, WARNING, "UnsupportedSchedule",
                                "CRON_TZ or TZ used in schedule "
                                f"{o.spec(cronjob).get('schedule')!r} is not officially "
                                "supported, see https://kubernetes.io/docs/concepts/workloads/"
                                "controllers/cron-jobs/ for more details")
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        view = {**cronjob, "status": status}
        scheduled, missed = cs.most_recent(view, now, schedule)
        if missed > cs.TOO_MANY_MISSED:
            self.recorder.event(cronjob, WARNING, "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        if scheduled is not None and await self._start(cronjob, status, scheduled, now):
            view = {**cronjob, "status": status}
        return cs.next_delay(view, now, schedule)

    async def _start(self, cronjob: Obj, status: Obj, scheduled: datetime,
                     now: datetime) -> bool:
        """Create the Job of ``scheduled`` unless too late, done or forbidden."""
        deadline = o.spec(cronjob).get("startingDeadlineSeconds")
        if deadline is not None and (now - scheduled).total_seconds() > int(deadline):
            self.recorder.event(cronjob, WARNING, "MissSchedule",
                                "Missed scheduled time to start a job: "
                                + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return False
        name = cs.job_name(cronjob, scheduled)
        active = status.get("active") or []
        if any(r.get("name") == name for r in active) or \
                o.parse_time(status.get("lastScheduleTime")) == scheduled:
            return False
        policy = o.spec(cronjob).get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            self.recorder.event(cronjob, NORMAL, "JobAlreadyActive",
                                "Not starting job because prior execution is running and "
                                "concurrency policy is Forbid")
            return False
        if policy == "Replace":
            for ref in list(active):
                await self._delete_job(cronjob, str(ref.get("name")))
                active.remove(ref)
            status.pop("active", None)
        job = await self._create(cronjob, scheduled)
        if _finished_type(job) is None:
            status["active"] = [*(status.get("active") or []), _job_ref(job)]
        status["lastScheduleTime"] = cs.rfc3339(scheduled)
        return True

    async def _create(self, cronjob: Obj, scheduled: datetime) -> Obj:
        body = cs.job_from_template(cronjob, scheduled)
        try:
            job: Obj = await self.client.create(JOBS, body, o.namespace(cronjob))
        except AlreadyExists:
            # Made before a crash or by a stale cache: ours if it names us as controller.
            job = await self.client.get(JOBS, o.name(body), o.namespace(cronjob))
            if (o.controller_ref(job) or {}).get("uid") != o.uid(cronjob):
                raise
            return job
        except StatusError as exc:
            self.recorder.event(cronjob, WARNING, "FailedCreate", f"Error creating job: {exc}")
            raise
        self.recorder.event(cronjob, NORMAL, "SuccessfulCreate", f"Created job {o.name(job)}")
        return job

    async def _delete_job(self, cronjob: Obj, name: str) -> None:
        try:
            await self.client.delete(JOBS, name, o.namespace(cronjob),
                                     propagation_policy="Background")
        except NotFound:
            return
        self.recorder.event(cronjob, NORMAL, "SuccessfulDelete", f"Deleted job {name}")

    async def _cleanup(self, cronjob: Obj, jobs: list[Obj]) -> None:
        """``cleanupFinishedJobs``: the oldest finished Jobs beyond the history limits."""
        spec = o.spec(cronjob)
        for type_, member in ((js.COMPLETE, "successfulJobsHistoryLimit"),
                              (js.FAILED, "failedJobsHistoryLimit")):
            limit = spec.get(member)
            if limit is None:
                continue
            done = sorted((j for j in jobs if _finished_type(j) == type_), key=_start_key)
            for job in done[:max(0, len(done) - int(limit))]:
                if not o.deleting(job):
                    await self._delete_job(cronjob, o.name(job))


def _start_key(job: Obj) -> tuple[int, str, str]:
    # kube's byJobStartTime: by startTime, Jobs without one last, then by name.
    start = o.status(job).get("startTime")
    return (0 if start else 1, str(start or ""), o.name(job))


def _note_success(status: Obj, job: Obj) -> None:
    done = o.parse_time(o.status(job).get("completionTime"))
    last = o.parse_time(status.get("lastSuccessfulTime"))
    if done is not None and (last is None or done > last):
        status["lastSuccessfulTime"] = cs.rfc3339(done)


def new(ctx: Context) -> CronJobController:
    return CronJobController(ctx, workers=ctx.opts.concurrent_cron_job_syncs)
