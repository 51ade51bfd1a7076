"""nodelifecycle: notice silent nodes, mark them Unknown, taint them (``pkg/controller/
nodelifecycle/node_lifecycle_controller.go``).

Every ``--node-monitor-period`` (``monitorNodeHealth``), for each node:

1. **health**: the node's heartbeats are its Ready condition's ``lastHeartbeatTime`` and its
   Lease's ``renewTime`` (``kube-node-lease/NAME``). Their values are compared with the last
   ones seen, and a change is stamped with *this* process's clock (``probeTimestamp``), so
   clocks of other hosts never matter. Silent for longer than ``--node-monitor-grace-period``
   (``--node-startup-grace-period`` if it never reported): Ready, MemoryPressure,
   DiskPressure and PIDPressure become Unknown, reason ``NodeStatusUnknown``, message
   "Kubelet stopped posting node status." (``NodeStatusNeverUpdated`` / "Kubelet never
   posted node status." for a condition never reported); event ``NodeNotReady``;
2. **pods**: while a node is not Ready, its pods' Ready condition is False (event
   ``NodeNotReady`` "Node is not ready" on each, as ``MarkPodsNotReady``);
3. **NoSchedule taints** from the conditions and ``spec.unschedulable``
   (``doNoScheduleTaintingPass``): not-ready, unreachable, memory/disk/pid-pressure,
   network-unavailable, unschedulable — added and removed as the conditions change;
4. **NoExecute taints** (``doNoExecuteTaintingPass``): ``node.kubernetes.io/not-ready`` for
   Ready False, ``node.kubernetes.io/unreachable`` for Unknown, with ``timeAdded``, at most
   ``--node-eviction-rate`` new nodes a second; removed once the node is Ready. When every
   node is not Ready (kube's full disruption, "master disruption mode") no NoExecute taint is
   added and those present are removed, so a cluster that lost its network keeps its pods.

The eviction of pods from NoExecute-tainted nodes is the taint-eviction-controller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.apimachinery.meta import now_rfc3339
from servers.client.errors import ClientError
from servers.client.events import NORMAL, WARNING
from servers.client.resources import LEASES, NODES, PODS
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "node-lifecycle-controller"
NODE_LEASE_NAMESPACE = "kube-node-lease"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
# node_lifecycle_controller.go: nodeConditionToTaintKeyStatusMap, plus unschedulable.
CONDITION_TAINTS = (
    ("Ready", "False", NOT_READY), ("Ready", "Unknown", UNREACHABLE),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
)
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MANAGED_NO_SCHEDULE = {key for _, _, key in CONDITION_TAINTS} | {UNSCHEDULABLE}
WATCHED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class _Health:
    heartbeat: tuple[str, str]
    probe: float


class TokenBucket:
    """``flowcontrol.NewTokenBucketRateLimiter(qps, 1)``: at most ``rate`` takes a second."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate, self.clock = rate, clock
        self.tokens, self.stamp = 1.0, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(1.0, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def ready_status(node: Obj) -> str:
    ready = o.condition(node, "Ready")
    return str(ready.get("status", "Unknown")) if ready else "Unknown"


class NodeLifecycle:
    """The node health monitor and tainter; see the module docstring."""

    def __init__(self, ctx: Context, *, period: float, grace: float, startup_grace: float,
                 eviction_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = "nodelifecycle"
        self.client = ctx.client
        self.period, self.grace, self.startup_grace = period, grace, startup_grace
        self.clock = clock
        self.pods = ctx.pods
        self.nodes = ctx.factory.informer(NODES)
        self.leases = ctx.factory.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.recorder = ctx.recorder("node-controller")
        self.limiter = TokenBucket(eviction_rate, clock)
        self._health: dict[str, _Health] = {}
        self._full_disruption = False

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.nodes, self.leases, self.pods.informer):
            return
        while not stop.is_set():
            await self.monitor()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.period)

    async def monitor(self) -> None:
        """One pass over every node (health, pods, taints)."""
        nodes = self.nodes.list()
        names = {o.name(n) for n in nodes}
        for gone in set(self._health) - names:
            del self._health[gone]
        updated = []
        for node in nodes:
            try:
                updated.append(await self._check_health(node))
            except (StatusError, ClientError) as exc:
                log.info("node %s: health update failed: %s", o.name(node), exc)
                updated.append(node)
        self._update_disruption(updated)
        for node in updated:
            try:
                await self._mark_pods(node)
                await self._taint(node)
            except (StatusError, ClientError) as exc:
                log.info("node %s: %s", o.name(node), exc)

    # -- health -------------------------------------------------------------------------------

    def _heartbeat(self, node: Obj) -> tuple[str, str]:
        ready = o.condition(node, "Ready") or {}
        lease = self.leases.get(o.name(node), NODE_LEASE_NAMESPACE) or {}
        return (str(ready.get("lastHeartbeatTime") or ""),
                str(o.spec(lease).get("renewTime") or ""))

    def stale(self, node: Obj) -> bool:
        """Whether ``node`` has been silent past its grace period (stamps what it saw)."""
        now = self.clock()
        beat = self._heartbeat(node)
        health = self._health.get(o.name(node))
        if health is None or health.heartbeat != beat:
            self._health[o.name(node)] = health = _Health(beat, now)
        grace = self.grace if o.condition(node, "Ready") else self.startup_grace
        return now - health.probe > grace

    async def _check_health(self, node: Obj) -> Obj:
        if not self.stale(node):
            return node
        conditions = unknown_conditions(node)
        if conditions is None:
            return node  # already Unknown
        was_ready = ready_status(node) == "True"
        body = {**node, "status": {**o.status(node), "conditions": conditions}}
        try:
            fresh = await self.client.update(NODES, body, "status")
        except Conflict:
            return node  # the kubelet wrote meanwhile: look again next period
        log.info("node %s: no heartbeat for over %.0fs; conditions Unknown", o.name(node),
                 self.grace)
        if was_ready:
            self.recorder.event(node, NORMAL, "NodeNotReady",
                                f"Node {o.name(node)} status is now: NodeNotReady")
        return fresh

    async def _mark_pods(self, node: Obj) -> None:
        if ready_status(node) == "True":
            return
        for pod in self.pods.on_node(o.name(node)):
            ready = o.condition(pod, "Ready")
            if ready is None or ready.get("status") == "False" or o.deleting(pod):
                continue
            patch = {"status": {"conditions": [{"type": "Ready", "status": "False",
                                                "lastTransitionTime": now_rfc3339()}]}}
            with contextlib.suppress(NotFound):
                await self.client.patch(PODS, o.name(pod), patch, patch_type="strategic",
                                        namespace=o.namespace(pod), subresource="status")
                self.recorder.event(pod, WARNING, "NodeNotReady", "Node is not ready")

    # -- taints -------------------------------------------------------------------------------

    def _update_disruption(self, nodes: list[Obj]) -> None:
        full = bool(nodes) and all(ready_status(n) != "True" for n in nodes)
        if full and not self._full_disruption:
            log.info("Entering master disruption mode: every node is not ready; "
                     "no evictions")
        elif self._full_disruption and not full:
            log.info("Exiting master disruption mode")
        self._full_disruption = full

    def desired_taints(self, node: Obj) -> list[Obj]:
        """The node's taints after the NoSchedule and NoExecute passes."""
        keep = [t for t in o.spec(node).get("taints") or () if isinstance(t, dict) and not (
            (t.get("effect") == NO_SCHEDULE and t.get("key") in MANAGED_NO_SCHEDULE)
            or (t.get("effect") == NO_EXECUTE and t.get("key") in (NOT_READY, UNREACHABLE)))]
        for type_, status, key in CONDITION_TAINTS:
            condition = o.condition(node, type_)
            if condition is not None and condition.get("status") == status:
                keep.append({"key": key, "effect": NO_SCHEDULE})
        if o.spec(node).get("unschedulable"):
            keep.append({"key": UNSCHEDULABLE, "effect": NO_SCHEDULE})
        no_execute = self._no_execute(node)
        if no_execute is not None:
            keep.append(no_execute)
        return keep

    def _no_execute(self, node: Obj) -> Obj | None:
        if o.condition(node, "Ready") is None:
            return None  # never reported: Unknown only after the startup grace period
        status = ready_status(node)
        key = {"False": NOT_READY, "Unknown": UNREACHABLE}.get(status)
        if key is None or self._full_disruption:
            return None
        existing = next((t for t in o.spec(node).get("taints") or ()
                         if isinstance(t, dict) and t.get("effect") == NO_EXECUTE
                         and t.get("key") == key), None)
        if existing is not None:
            return existing
        if not self.limiter.take():
            return None  # rate-limited: tainted at a later pass
        return {"key": key, "effect": NO_EXECUTE, "timeAdded": now_rfc3339()}

    async def _taint(self, node: Obj) -> None:
        current = [t for t in o.spec(node).get("taints") or () if isinstance(t, dict)]
        desired = self.desired_taints(node)
        if _taint_set(current) == _taint_set(desired):
            return
        spec = {k: v for k, v in o.spec(node).items() if k != "taints"}
        body = {**node, "spec": {**spec, "taints": desired} if desired else spec}
        try:
            await self.client.update(NODES, body)
        except Conflict:
            return  # the next pass sees the newer node
        log.info("node %s: taints now %s", o.name(node),
                 ", ".join(f"{t['key']}:{t['effect']}" for t in desired) or "none")


def _taint_set(taints: list[Obj]) -> set[tuple[str, str, str]]:
    return {(str(t.get("key")), str(t.get("value", "")), str(t.get("effect")))
            for t in taints}


def unknown_conditions(node: Obj) -> list[Obj] | None:
    """The node's conditions with the watched ones Unknown, or None if nothing changes."""
    now = now_rfc3339()
    conditions = [dict(c) for c in o.status(node).get("conditions") or ()
                  if isinstance(c, dict)]
    changed = False
    for type_ in WATCHED_CONDITIONS:
        condition = next((c for c in conditions if c.get("type") == type_), None)
        if condition is None:
            conditions.append({"type": type_, "status": "Unknown",
                               "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": o.meta(node).get("creationTimestamp"),
                               "lastTransitionTime": now})
            changed = True
        elif condition.get("status") != "Unknown":
            condition.update({"status": "Unknown", "reason": "NodeStatusUnknown",
                              "message": "Kubelet stopped posting node status.",
                              "lastTransitionTime": now})
            changed = True
    return conditions if changed else None


def new(ctx: Context) -> NodeLifecycle:
    opts = ctx.opts
    return NodeLifecycle(ctx, period=opts.node_monitor_period,
                         grace=opts.node_monitor_grace_period,
                         startup_grace=opts.node_startup_grace_period,
                         eviction_rate=opts.node_eviction_rate)
