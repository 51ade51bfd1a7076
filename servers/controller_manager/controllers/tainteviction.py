"""taint-eviction-controller: evict pods from nodes with NoExecute taints they do not
tolerate (``pkg/controller/tainteviction/taint_eviction.go``).

For each pod bound to a node with NoExecute taints:

* a taint the pod does not tolerate: evicted at once;
* all tolerated: evicted after the smallest ``tolerationSeconds`` of the tolerations that
  match (counted from the taint's ``timeAdded``); a toleration without seconds keeps the pod
  for good;
* taints removed before the time: nothing happens.

Eviction is kube's: the event ``TaintManagerEviction`` "Marking for deletion Pod NS/NAME",
the ``DisruptionTarget`` condition (reason ``DeletionByTaintManager``), then a delete with
the pod's own grace period. Pods are keys in a work queue; a pod due later is queued with
``add_after`` for its time, so a restart simply computes the same times again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound, StatusError
from servers.apimachinery.meta import now_rfc3339
from servers.client.events import NORMAL
from servers.client.informer import object_key
from servers.client.resources import NODES, PODS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "taint-eviction-controller"
NO_EXECUTE = "NoExecute"
FOREVER = float("inf")


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """``Toleration.ToleratesTaint`` (k8s.io/api/core/v1/toleration.go)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if not key:
        return False  # an empty key needs operator Exists
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def toleration_seconds(pod: Obj, taints: list[Obj]) -> float | None:
    """How long ``pod`` may stay: None if a taint is not tolerated (evict now), FOREVER if
    no matching toleration has seconds, else the smallest (``getMinTolerationTime``)."""
    tolerations = [t for t in o.spec(pod).get("tolerations") or () if isinstance(t, dict)]
    least = FOREVER
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return None
        for toleration in matching:
            seconds = toleration.get("tolerationSeconds")
            if isinstance(seconds, int) and not isinstance(seconds, bool):
                least = min(least, float(max(seconds, 0)))
    return least


class TaintEviction:
    """Evicts pods that do not tolerate their node's NoExecute taints in time."""

    def __init__(self, ctx: Context, *, clock: Callable[[], float] = time.time) -> None:
        self.name = "tainteviction"
        self.client = ctx.client
        self.clock = clock
        self.pods = ctx.pods
        self.nodes = ctx.factory.informer(NODES)
        self.recorder = ctx.recorder("taint-eviction-controller")
        self.queue = ctx.queue("noexec_taint_pod")
        self._first_seen: dict[str, float] = {}  # pods tainted without a timeAdded
        self.nodes.add_handler(self._node_changed, lambda old, new: self._node_changed(new))
        ctx.pods.informer.add_handler(self._pod_changed,
                                      lambda old, new: self._pod_changed(new))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.nodes, self.pods.informer):
            return
        for node in self.nodes.list():
            self._node_changed(node)
        await run_workers(self.queue, self.sync, 8, stop)

    def _node_changed(self, node: Obj) -> None:
        if _no_execute_taints(node):
            for pod in self.pods.on_node(o.name(node)):
                self.queue.add(object_key(pod))

    def _pod_changed(self, pod: Obj) -> None:
        node = o.spec(pod).get("nodeName")
        if node and not o.deleting(pod):
            found = self.nodes.get(str(node))
            if found is not None and _no_execute_taints(found):
                self.queue.add(object_key(pod))

    async def sync(self, key: str) -> None:
        """Evict the pod ``key`` now, later (queued for then), or never."""
        pod = self.pods.informer.get_by_key(key)
        node = None
        if pod is not None and not o.deleting(pod) and o.spec(pod).get("nodeName"):
            node = self.nodes.get(str(o.spec(pod)["nodeName"]))
        taints = _no_execute_taints(node) if node is not None else []
        log.debug("taint eviction: %s on %s with NoExecute taints %s", key,
                  o.spec(pod or {}).get("nodeName"), taints)
        if pod is None or not taints:
            self._first_seen.pop(key, None)
            return
        seconds = toleration_seconds(pod, taints)
        if seconds == FOREVER:
            return
        if seconds is not None:
            now = self.clock()
            start = _added(taints)
            if start is None:
                start = self._first_seen.setdefault(key, now)
            wait = start + seconds - now
            if wait > 0:
                self.queue.add_after(key, wait)
                return
        self._first_seen.pop(key, None)
        await self._evict(pod)

    async def _evict(self, pod: Obj) -> None:
        namespace, name = o.namespace(pod), o.name(pod)
        log.info("taint eviction: deleting pod %s/%s", namespace, name)
        self.recorder.event(pod, NORMAL, "TaintManagerEviction",
                            f"Marking for deletion Pod {namespace}/{name}")
        patch = {"status": {"conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
             "message": "Taint manager: deleting due to NoExecute taint",
             "lastTransitionTime": now_rfc3339()}]}}
        try:
            await self.client.patch(PODS, name, patch, patch_type="strategic",
                                    namespace=namespace, subresource="status")
        except NotFound:
            return
        except StatusError as exc:
            log.debug("taint eviction: condition on %s: %s", name, exc)
        try:
            await self.client.delete(PODS, name, namespace, uid=o.uid(pod) or None)
        except NotFound:
            return


def _no_execute_taints(node: Obj) -> list[Obj]:
    return [t for t in o.spec(node).get("taints") or ()
            if isinstance(t, dict) and t.get("effect") == NO_EXECUTE]


def _added(taints: list[Obj]) -> float | None:
    """When the newest of ``taints`` was added (None when one has no ``timeAdded``)."""
    times = [o.parse_time(t.get("timeAdded")) for t in taints]
    known = [t.timestamp() for t in times if t is not None]
    return max(known) if known and len(known) == len(times) else None


def new(ctx: Context) -> TaintEviction:
    return TaintEviction(ctx)
