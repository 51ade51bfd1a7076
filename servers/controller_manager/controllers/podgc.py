"""podgc: remove pods nobody else will, every 20 seconds (``pkg/controller/podgc``).

One pass (``gcc.gc``), in kube's order:

1. **terminated pods** beyond ``--terminated-pod-gc-threshold`` (0 turns this off): the
   oldest Succeeded/Failed pods are deleted until that many are left;
2. **orphaned pods**: pods bound to a node that no longer exists. A node missing from the
   cache is first quarantined (40 s, kube's ``quarantineTime``) and then checked with a live
   GET, so a node that is only slow to appear keeps its pods; the pods are marked Failed with
   the ``DisruptionTarget`` condition (reason ``DeletionByPodGC``) and deleted at once;
3. **unscheduled terminating pods**: being deleted but never bound — nobody else would
   finish their delete.

Deletes use grace period 0, as kube's pod GC does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound, StatusError
from servers.apimachinery.meta import now_rfc3339
from servers.client.errors import ClientError
from servers.client.resources import NODES, PODS
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "pod-garbage-collector-controller"
GC_CHECK_PERIOD = 20.0
QUARANTINE = 40.0


class PodGC:
    """The periodic pod garbage collector; see the module docstring."""

    def __init__(self, ctx: Context, *, threshold: int, period: float = GC_CHECK_PERIOD,
                 quarantine: float = QUARANTINE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = "podgc"
        self.client = ctx.client
        self.threshold = threshold
        self.period, self.quarantine = period, quarantine
        self.clock = clock
        self.pods = ctx.pods
        self.nodes = ctx.factory.informer(NODES)
        self._missing_since: dict[str, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.nodes, self.pods.informer):
            return
        while not stop.is_set():
            try:
                await self.gc()
            except (StatusError, ClientError) as exc:
                log.info("pod GC pass failed: %s", exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.period)

    async def gc(self) -> None:
        """One pass over the cached pods."""
        pods = self.pods.informer.list()
        if self.threshold > 0:
            await self.gc_terminated(pods)
        await self.gc_orphaned()
        await self.gc_unscheduled_terminating(pods)

    async def gc_terminated(self, pods: list[Obj]) -> None:
        terminated = [p for p in pods if o.phase(p) in (o.SUCCEEDED, o.FAILED)
                      and not o.deleting(p)]
        excess = len(terminated) - self.threshold
        if excess <= 0:
            return
        log.info("pod GC: %d terminated pods over the threshold of %d", excess,
                 self.threshold)
        terminated.sort(key=lambda p: (str(o.meta(p).get("creationTimestamp") or ""),
                                       o.name(p)))
        await asyncio.gather(*(self._delete(p) for p in terminated[:excess]))

    async def gc_orphaned(self) -> None:
        now = self.clock()
        missing = {n for n in self.pods.nodes() if self.nodes.get(n) is None}
        for node in list(self._missing_since):
            if node not in missing:
                del self._missing_since[node]
        for node in sorted(missing):
            since = self._missing_since.setdefault(node, now)
            if now - since < self.quarantine:
                continue
            try:
                await self.client.get(NODES, node)
                continue  # it exists after all; the informer is behind
            except NotFound:
                pass
            for pod in self.pods.on_node(node):
                log.info("pod GC: deleting pod %s/%s of the deleted node %s",
                         o.namespace(pod), o.name(pod), node)
                await self._mark_failed(pod, "PodGC: node no longer exists")
                await self._delete(pod)

    async def gc_unscheduled_terminating(self, pods: list[Obj]) -> None:
        for pod in pods:
            if o.deleting(pod) and not o.spec(pod).get("nodeName"):
                await self._delete(pod)

    async def _mark_failed(self, pod: Obj, message: str) -> None:
        if o.phase(pod) in (o.SUCCEEDED, o.FAILED):
            return
        patch = {"status": {"phase": o.FAILED, "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
             "message": message, "lastTransitionTime": now_rfc3339()}]}}
        try:
            await self.client.patch(PODS, o.name(pod), patch, patch_type="strategic",
                                    namespace=o.namespace(pod), subresource="status")
        except StatusError as exc:
            log.debug("pod GC: marking %s failed: %s", o.name(pod), exc)

    async def _delete(self, pod: Obj) -> None:
        with contextlib.suppress(NotFound):
            await self.client.delete(PODS, o.name(pod), o.namespace(pod),
                                     grace_period_seconds=0, uid=o.uid(pod) or None)


def new(ctx: Context) -> PodGC:
    return PodGC(ctx, threshold=ctx.opts.terminated_pod_gc_threshold)
