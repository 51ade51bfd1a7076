"""The hollow kubelet: plays the kubelet for every pod bound to this process's nodes.

One informer watches every bound pod (``fieldSelector=spec.nodeName!=``) and the handlers
keep only pods whose node is ours (``Fleet.index``, by name). Why one watch and not one per
node, as real kubelets do (``spec.nodeName=NODE``): 5,000 watches would hold 5,000
connections and make the apiserver test every pod event against 5,000 filters; one watch
costs one connection and one filter, and the pods of other nodes it also brings (real
kubelets' nodes, other hollow processes) are dropped here by a string test. A label on our
nodes would not help: pods do not carry their node's labels, so the only server-side filter
for "pods of these nodes" is the node name.

Handlers only enqueue ``namespace/name`` keys; a few workers run ``sync(key)`` (STYLE R18),
which reads the informer's cache and does what ``pods.decide`` says:

* not Running yet: admit (``--max-pods``; a full node rejects the pod Failed/OutOfpods, as
  the kubelet's admission does), take the lowest free address of the node's block
  (hostNetwork pods use the node's address) and PATCH pods/NAME/status to Running;
* being deleted: the kubelet's final DELETE, grace period 0, uid precondition;
* gone, terminal or moved away: its address goes back to the node's block.

Restart-safe: pods already Running with an address keep it (reserved while the first list is
handled, before any worker can hand it out again) and are left alone; Pending ones start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from servers.apimachinery.errors import Conflict, Invalid, NotFound, StatusError
from servers.client.errors import ClientError
from servers.client.informer import Informer, object_key
from servers.client.resources import PODS
from servers.hollow_node import pods
from servers.hollow_node._logs import Throttled
from servers.hollow_node.addresses import PodAddresses
from servers.hollow_node.queue import WorkQueue

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.rest import Client
    from servers.hollow_node.fleet import Fleet

__all__ = ["HollowKubelet"]

log = logging.getLogger(__name__)

BOUND_PODS = "spec.nodeName!="


@dataclass
class _Placed:
    """A pod this process counts on one of its nodes, and the address it gave it."""

    uid: str
    node: str
    ip: str | None   # None: a hostNetwork pod (the node's address), or none yet


class HollowKubelet:
    """Pod lifecycle for every node of ``fleet``; ``run(stop)`` until stopped."""

    def __init__(self, client: Client, fleet: Fleet, *, workers: int = 16) -> None:
        self.client = client
        self.fleet = fleet
        self.workers = workers
        self.informer = Informer(client, PODS, field_selector=BOUND_PODS)
        self.informer.add_handler(self._on_add, self._on_update, self._on_delete)
        self.queue = WorkQueue()
        self._pools: dict[str, PodAddresses] = {}
        self._placed: dict[str, _Placed] = {}
        self._counts: dict[str, int] = {}
        self._started: dict[str, str] = {}    # key -> uid made Running by us (expectation)
        self._deleting: dict[str, str] = {}   # key -> uid whose final DELETE was sent
        self._warn = Throttled(log)

    async def run(self, stop: asyncio.Event) -> None:
        workers = [asyncio.ensure_future(self._work()) for _ in range(self.workers)]
        try:
            await self.informer.run(stop)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.queue.close()

    # -- handlers: keep the books, enqueue ----------------------------------------------------

    def _ours(self, pod: Obj) -> str | None:
        node = (pod.get("spec") or {}).get("nodeName")
        return node if self.fleet.index(node) is not None else None

    def _on_add(self, pod: Obj) -> None:
        if self._ours(pod):
            self._adopt(pod)
            self.queue.add(object_key(pod))

    def _on_update(self, old: Obj, pod: Obj) -> None:
        if self._ours(pod) or self._ours(old):
            self.queue.add(object_key(pod))

    def _on_delete(self, pod: Obj) -> None:
        if self._ours(pod):
            self.queue.add(object_key(pod))   # sync finds it gone and drops its books

    def _adopt(self, pod: Obj) -> None:
        """Reserve the address of a pod found Running (after a restart of this process)."""
        key, status = object_key(pod), pod.get("status") or {}
        node = self._ours(pod)
        if node is None or key in self._placed or status.get("phase") != "Running":
            return
        ip = status.get("podIP")
        spec = pod.get("spec") or {}
        mine = isinstance(ip, str) and not spec.get("hostNetwork") and self._pool(node).reserve(ip)
        self._place(key, pod["metadata"].get("uid", ""), node, ip if mine else None)
        self._started[key] = pod["metadata"].get("uid", "")

    # -- address and count books --------------------------------------------------------------

    def _pool(self, node: str) -> PodAddresses:
        pool = self._pools.get(node)
        if pool is None:
            index = self.fleet.index(node)
            assert index is not None
            pool = self._pools[node] = PodAddresses(index, self.fleet.block)
        return pool

    def _place(self, key: str, uid: str, node: str, ip: str | None) -> None:
        self._placed[key] = _Placed(uid, node, ip)
        self._counts[node] = self._counts.get(node, 0) + 1

    def _release(self, key: str) -> None:
        placed = self._placed.pop(key, None)
        if placed is None:
            return
        self._counts[placed.node] -= 1
        if placed.ip is not None:
            self._pool(placed.node).release(placed.ip)

    def _forget(self, key: str) -> None:
        self._release(key)
        self._started.pop(key, None)
        self._deleting.pop(key, None)

    def pods_on(self, node: str) -> int:
        """How many pods this process counts on ``node`` (admitted, not gone or terminal)."""
        return self._counts.get(node, 0)

    # -- workers ------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.sync(key)
            except (StatusError, ClientError) as exc:
                delay = self.queue.retry(key)
                self._warn.warning("pod %s: %s; again in %.1fs", key, exc, delay)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)

    async def sync(self, key: str) -> None:
        """Bring pod ``key`` one step on: run it, finish its deletion, or free its address."""
        pod = self.informer.get_by_key(key)
        node = self._ours(pod) if pod is not None else None
        if pod is None or node is None:
            self._forget(key)
            return
        uid = pod["metadata"].get("uid", "")
        placed = self._placed.get(key)
        if placed is not None and (placed.uid != uid or placed.node != node):
            self._forget(key)  # a new pod of the same name, or one moved: start over
        step = pods.decide(pod)
        if step == pods.DELETE:
            await self._delete(key, pod, uid)
        elif step == pods.RUN:
            await self._run(key, pod, uid, node)
        elif (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._release(key)  # a finished pod's sandbox, and address, are gone

    async def _delete(self, key: str, pod: Obj, uid: str) -> None:
        if self._deleting.get(key) == uid:
            return
        meta = pod["metadata"]
        # NotFound: gone already; Conflict: replaced by a pod with another uid (whose own
        # event comes).
        with contextlib.suppress(NotFound, Conflict):
            await self.client.delete(PODS, meta["name"], meta["namespace"],
                                     grace_period_seconds=0, uid=uid)
        self._deleting[key] = uid

    async def _run(self, key: str, pod: Obj, uid: str, node: str) -> None:
        if self._started.get(key) == uid and (pod.get("status") or {}).get("phase") != "Running":
            return  # our Running write is on its way back through the watch
        host_ip = self.fleet.host_ip(node)
        if key not in self._placed:
            if self.pods_on(node) >= self.fleet.shape.max_pods:
                await self._reject(key, pod, node, host_ip)
                return
            host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
            ip = None if host_network else self._pool(node).allocate()
            self._place(key, uid, node, ip)
        placed = self._placed[key]
        patch = pods.running_patch(pod, host_ip=host_ip, pod_ip=placed.ip or host_ip)
        meta = pod["metadata"]
        try:
            await self.client.patch(PODS, meta["name"], patch, patch_type="strategic",
                                    namespace=meta["namespace"], subresource="status")
        except (NotFound, Conflict, Invalid):
            self._forget(key)  # gone or replaced (the uid in the patch no longer matches)
            return
        self._started[key] = uid

    async def _reject(self, key: str, pod: Obj, node: str, host_ip: str) -> None:
        capacity = self.fleet.shape.max_pods
        patch = pods.rejected_patch(pod, used=self.pods_on(node), capacity=capacity,
                                    host_ip=host_ip)
        meta = pod["metadata"]
        try:
            await self.client.patch(PODS, meta["name"], patch, patch_type="strategic",
                                    namespace=meta["namespace"], subresource="status")
        except (NotFound, Conflict, Invalid):
            self._forget(key)
            return
        log.info("pod %s rejected: node %s already runs %d pods", key, node, capacity)
        self._started[key] = pod["metadata"].get("uid", "")
