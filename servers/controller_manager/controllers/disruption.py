"""disruption: policy/v1 PodDisruptionBudgets' status, which pods/eviction reads.

After ``pkg/controller/disruption/disruption.go`` (``trySync``, ``getExpectedPodCount``,
``countHealthyPods``, ``buildDisruptedPodMap``, ``updatePdbStatus``):

* the pods a budget selects (its namespace, ``spec.selector``; none selects nothing);
* ``expectedPods`` and ``desiredHealthy``: an integer ``minAvailable`` counts the selected
  pods and wants that many healthy; a percentage ``minAvailable`` or any ``maxUnavailable``
  counts the scale of the pods' controllers (ReplicationController, ReplicaSet — its
  Deployment's when it has one —, Deployment, StatefulSet; each once), and wants
  ``ceil(percent * scale)`` or ``scale - maxUnavailable`` (percent rounded up) healthy; pods
  with no controller are left out of the scale (an ``UnmanagedPods`` warning event on the
  budget), and a controller of another kind makes the budget fail safe (0 disruptions,
  condition reason ``SyncFailed``, observedGeneration kept), as kube does when it cannot find
  a scale; a budget with neither field expects nothing;
* ``currentHealthy``: selected pods that are Ready, not being deleted, and not in
  ``disruptedPods`` (the evictions the apiserver recorded that the pod's deletion has not yet
  followed); entries are dropped once the pod is deleted or 2 minutes after the eviction
  (``DeletionTimeout``), and the budget is synced again when the next one expires;
* ``disruptionsAllowed`` = max(currentHealthy - desiredHealthy, 0) (0 with no expected pods),
  ``observedGeneration``, and the ``DisruptionAllowed`` condition (SufficientPods /
  InsufficientPods / SyncFailed).
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound
from servers.apimachinery.meta import now_rfc3339
from servers.client.events import WARNING
from servers.client.informer import object_key
from servers.client.resources import (
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    REPLICASETS,
    REPLICATION_CONTROLLERS,
    STATEFULSETS,
)
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced
from servers.controller_manager.controllers.statefulset import selector_of

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from servers.client.informer import Informer
    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]

NAME = "disruption-controller"
DELETION_TIMEOUT = 120.0  # disruption.go: DeletionTimeout
COMPONENT = "controllermanager"  # the event source kube's disruption controller uses
UNMANAGED = ("Pods selected by this PodDisruptionBudget (selector: {}) were found to be "
             "unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
             "which may result in undefined behavior. To account for these pods please set "
             "\".spec.minAvailable\" field of the PDB to an integer value.")
CONDITION = "DisruptionAllowed"
SUFFICIENT, INSUFFICIENT, SYNC_FAILED = "SufficientPods", "InsufficientPods", "SyncFailed"


class ScaleUnknown(Exception):
    """A selected pod's controller has no scale this controller can read."""


def _percent(value: Any) -> int | None:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return int(value[:-1])
        except ValueError:
            return None
    return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class DisruptionController:
    """Keeps each PodDisruptionBudget's status; see the module docstring."""

    def __init__(self, ctx: Context, *, clock: Callable[[], float] = time.time) -> None:
        self.name = NAME
        self.client = ctx.client
        self.clock = clock
        self.pods = ctx.pods
        self.budgets = ctx.factory.informer(PODDISRUPTIONBUDGETS)
        self.owners: dict[str, Informer] = {
            ref.kind: ctx.factory.informer(ref)
            for ref in (REPLICATION_CONTROLLERS, REPLICASETS, DEPLOYMENTS, STATEFULSETS)}
        self.queue = ctx.queue("disruption")
        self.recorder = ctx.recorder(COMPONENT)
        self.unmanaged: list[str] = []  # pods left out of the last scale computed
        self.budgets.add_handler(self._enqueue, lambda _old, new: self._enqueue(new),
                                 self._enqueue)
        ctx.pods.informer.add_handler(self._pod_changed, self._pod_updated, self._pod_changed)
        for informer in self.owners.values():  # a scale change changes expectedPods
            informer.add_handler(self._owner_changed, lambda _old, new:
                                 self._owner_changed(new), self._owner_changed)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.budgets, self.pods.informer,
                                 *self.owners.values()):
            return
        for budget in self.budgets.list():
            self._enqueue(budget)
        await run_workers(self.queue, self.sync, 1, stop)

    # -- handlers ----------------------------------------------------------------------------

    def _enqueue(self, budget: Obj) -> None:
        self.queue.add(object_key(budget))

    def _budgets_for(self, namespace: str, labels: dict[str, str]) -> list[Obj]:
        return [b for b in self.budgets.list() if o.namespace(b) == namespace
                and selector_of(b).matches(labels)]

    def _pod_changed(self, pod: Obj) -> None:
        for budget in self._budgets_for(o.namespace(pod), o.labels(pod)):
            self._enqueue(budget)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if o.labels(old) != o.labels(new):
            self._pod_changed(old)
        self._pod_changed(new)

    def _owner_changed(self, owner: Obj) -> None:
        template = o.spec(owner).get("template") or {}
        for budget in self._budgets_for(o.namespace(owner), o.labels(template)):
            self._enqueue(budget)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Write the budget ``key``'s status from the pods it selects."""
        budget = self.budgets.get_by_key(key)
        if budget is None:
            return
        selector = selector_of(budget)
        pods = [p for p in self.pods.in_namespace(o.namespace(budget))
                if not selector.empty() and selector.matches(o.labels(p))]
        self.unmanaged = []
        try:
            status, recheck = self.calculate_status(budget, pods)
        except ScaleUnknown as exc:
            status, recheck = self._fail_safe(budget, str(exc)), None
        if self.unmanaged:
            selector_text = json.dumps(o.spec(budget).get("selector"), sort_keys=True)
            self.recorder.event(budget, WARNING, "UnmanagedPods",
                                UNMANAGED.format(selector_text))
        await self._write(budget, status)
        if recheck is not None:
            self.queue.add_after(key, max(recheck - self.clock(), 0.0) + 0.5)

    def expected_and_desired(self, budget: Obj, pods: list[Obj]) -> tuple[int, int]:
        """``getExpectedPodCount``: (expectedPods, desiredHealthy)."""
        spec = o.spec(budget)
        max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
        if max_unavailable is not None:
            expected = self._scale(pods)
            percent = _percent(max_unavailable)
            unavailable = (math.ceil(percent * expected / 100) if percent is not None
                           else _int(max_unavailable))
            return expected, max(expected - unavailable, 0)
        if min_available is None:
            return 0, 0
        percent = _percent(min_available)
        if percent is None:
            return len(pods), _int(min_available)
        expected = self._scale(pods)
        return expected, math.ceil(percent * expected / 100)

    def _scale(self, pods: list[Obj]) -> int:
        """The sum of the scales of the pods' controllers, each counted once (a Deployment
        once for all its ReplicaSets)."""
        seen: dict[str, int] = {}
        for pod in pods:
            if o.deleting(pod):
                continue
            ref = o.controller_ref(pod)
            if ref is None:
                self.unmanaged.append(o.name(pod))
                continue
            owner = self._scale_owner(o.namespace(pod), ref)
            seen[o.uid(owner)] = _int(o.spec(owner).get("replicas", 1))
        return sum(seen.values())

    def _scale_owner(self, namespace: str, ref: Obj) -> Obj:
        kind = str(ref.get("kind", ""))
        informer = self.owners.get(kind)
        owner = None if informer is None else informer.get(str(ref.get("name", "")), namespace)
        if owner is None or o.uid(owner) != ref.get("uid"):
            msg = f"found no controllers for pod's {kind} {ref.get('name', '')!r}"
            raise ScaleUnknown(msg)
        if kind == "ReplicaSet":  # a Deployment's ReplicaSet: the Deployment's scale
            parent = o.controller_ref(owner)
            if parent is not None and parent.get("kind") == "Deployment":
                return self._scale_owner(namespace, parent)
        return owner

    def calculate_status(self, budget: Obj, pods: list[Obj]) -> tuple[Obj, float | None]:
        """The budget's status and when a disruptedPods entry expires (if one will)."""
        now = self.clock()
        expected, desired = self.expected_and_desired(budget, pods)
        disrupted, recheck = self._disrupted(budget, pods, now)
        healthy = sum(1 for p in pods if not o.deleting(p) and o.is_ready(p)
                      and o.name(p) not in disrupted)
        allowed = healthy - desired
        if expected <= 0 or allowed < 0:
            allowed = 0
        status: Obj = {**o.status(budget), "currentHealthy": healthy, "desiredHealthy": desired,
                       "expectedPods": expected, "disruptionsAllowed": allowed,
                       "observedGeneration": o.meta(budget).get("generation", 0)}
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        if allowed > 0:
            _set_condition(status, "True", SUFFICIENT, "")
        else:
            _set_condition(status, "False", INSUFFICIENT, "")
        return status, recheck

    def _disrupted(self, budget: Obj, pods: list[Obj],
                   now: float) -> tuple[dict[str, str], float | None]:
        """``buildDisruptedPodMap``: entries still waiting for their pod's deletion."""
        recorded = o.status(budget).get("disruptedPods") or {}
        kept: dict[str, str] = {}
        recheck: float | None = None
        for pod in pods:
            stamp = recorded.get(o.name(pod))
            moment = o.parse_time(stamp)
            if o.deleting(pod) or moment is None:
                continue
            expires = moment.timestamp() + DELETION_TIMEOUT
            if expires > now:
                kept[o.name(pod)] = str(stamp)
                recheck = expires if recheck is None else min(recheck, expires)
        return kept, recheck

    def _fail_safe(self, budget: Obj, message: str) -> Obj:
        """``failSafe``: no disruption allowed while the scale is unknown."""
        status: Obj = {**o.status(budget), "disruptionsAllowed": 0}
        _set_condition(status, "False", SYNC_FAILED, message)
        return status

    async def _write(self, budget: Obj, status: Obj) -> None:
        if status == o.status(budget):
            return
        try:
            await self.client.update(PODDISRUPTIONBUDGETS, {**budget, "status": status},
                                     "status")
        except Conflict:
            self.queue.add(object_key(budget))  # an eviction wrote first: sync again
        except NotFound:
            return


def _set_condition(status: Obj, value: str, reason: str, message: str) -> None:
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == CONDITION), None)
    generation = status.get("observedGeneration", 0)
    if old is not None and (old.get("status"), old.get("reason"), old.get("message", ""),
                            old.get("observedGeneration", 0)) == (value, reason, message,
                                                                  generation):
        return
    fresh = {"type": CONDITION, "status": value, "reason": reason, "message": message,
             "observedGeneration": generation,
             "lastTransitionTime": (old or {}).get("lastTransitionTime")
             if old is not None and old.get("status") == value else now_rfc3339()}
    status["conditions"] = [c for c in conditions if c.get("type") != CONDITION] + [fresh]


def new(ctx: Context) -> DisruptionController:
    return DisruptionController(ctx)
