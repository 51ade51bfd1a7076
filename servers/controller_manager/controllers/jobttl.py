"""ttl-after-finished-controller: finished Jobs go ``ttlSecondsAfterFinished`` seconds after
they finished (kube's ``pkg/controller/ttlafterfinished/ttlafterfinished_controller.go``).

A Job counts as finished at the ``lastTransitionTime`` of its Complete or Failed condition.
Before deleting, the Job is read again without the cache (the TTL may have been changed or
the Job replaced); the delete names its uid as a precondition and uses Foreground
propagation, as kube does, so the Job disappears once the garbage collector has removed its
pods. A Job whose time has not come is looked at again when it has.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound
from servers.client.informer import object_key
from servers.client.resources import JOBS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import jobstatus as js
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "ttl-after-finished-controller"


def expires_in(job: Obj, now: float) -> float | None:
    """Seconds until the Job's TTL runs out (<= 0: now); None without a TTL or unfinished."""
    ttl = o.spec(job).get("ttlSecondsAfterFinished")
    if ttl is None or o.deleting(job):
        return None
    for type_ in (js.COMPLETE, js.FAILED):
        found = o.condition(job, type_)
        if found is not None and found.get("status") == "True":
            since = o.seconds_since(found.get("lastTransitionTime"), now)
            return float(ttl) - (since if since is not None else 0.0)
    return None


class TTLAfterFinishedController:
    """Deletes each finished Job when its TTL runs out; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = NAME
        self.client = ctx.client
        self.workers = workers
        self.clock = clock
        self.jobs = ctx.factory.informer(JOBS)
        self.queue = ctx.queue("ttl_jobs_to_delete")
        self.jobs.add_handler(self._changed, lambda _, new: self._changed(new), None)

    def _changed(self, job: Obj) -> None:
        if expires_in(job, self.clock()) is not None:
            self.queue.add(object_key(job))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.jobs):
            return
        for job in self.jobs.list():
            self._changed(job)
        await run_workers(self.queue, self.sync, self.workers, stop)

    async def sync(self, key: str) -> None:
        """Delete the Job ``key`` if its TTL ran out; else come back when it does."""
        job = self.jobs.get_by_key(key)
        if job is None:
            return
        left = expires_in(job, self.clock())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        try:  # the cache may be behind: the TTL could have changed
            fresh = await self.client.get(JOBS, o.name(job), o.namespace(job))
        except NotFound:
            return
        left = expires_in(fresh, self.clock())
        if left is None or left > 0:
            if left is not None:
                self.queue.add_after(key, left)
            return
        log.info("cleaning up job %s", key)
        try:
            await self.client.delete(JOBS, o.name(fresh), o.namespace(fresh), uid=o.uid(fresh),
                                     propagation_policy="Foreground")
        except (NotFound, Conflict):
            return


def new(ctx: Context) -> TTLAfterFinishedController:
    return TTLAfterFinishedController(ctx, workers=ctx.opts.concurrent_ttl_after_finished_syncs)
