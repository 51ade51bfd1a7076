"""The scheduler's cache: every node with the pods on it, assumed pods included.

After ``pkg/scheduler/backend/cache/cache.go``. The informers tell it about nodes and assigned
pods; the scheduling cycle **assumes** a pod on the node it chose before the binding is even
sent, so the next cycle already counts that pod there. Then one of:

* the informer shows the pod bound (``add_pod``): the assumption is **confirmed** (moved, if
  the pod landed elsewhere — another scheduler won);
* the binding failed: ``forget`` takes the pod off the node again;
* the pod was deleted: ``remove_pod`` takes it off, assumed or not.

Assumed pods do not expire (kube 1.32's ``durationToExpireAssumedPod`` is 0): a binding either
answers or fails. Pods may arrive before their node (informers race): they wait in a
node-less slot and count once the node is added. A removed node whose pods are still there
stays as a node-less slot until they are gone, as kube's cache keeps it.

``generation`` grows with every change; ``node_generation`` only when the set of nodes a
snapshot holds changes (the snapshot shares the NodeInfos, so pod changes and node updates
show in it without a rebuild). Pure Python; the records are sched-algo's ``NodeInfo`` and
``PodInfo``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.scheduler.framework.nodeinfo import NodeInfo
from servers.scheduler.framework.podinfo import PodInfo

if TYPE_CHECKING:
    from collections.abc import Iterator

Obj = dict[str, Any]
log = logging.getLogger(__name__)


def pod_uid(pod: Obj) -> str:
    """The pod's uid (its identity in the cache), or ``namespace/name`` if it has none
    (``PodInfo.uid``'s rule)."""
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace') or 'default'}/{meta.get('name')}")


@dataclass
class _PodState:
    info: PodInfo
    node: str
    assumed: bool


class SchedulerCache:
    """Nodes and the pods on them (see the module docstring)."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._known_nodes: set[str] = set()
        self._pods: dict[str, _PodState] = {}
        self.generation = 0
        self.node_generation = 0

    # -- nodes ---------------------------------------------------------------------------

    def add_node(self, node: Obj) -> None:
        """A node joined (or changed: same as ``update_node``)."""
        name = node["metadata"]["name"]
        self._known_nodes.add(name)
        info = self._nodes.get(name)
        if info is None:
            self._nodes[name] = NodeInfo(node)
            self.node_generation += 1
        else:
            if info.node is None:  # a node-less slot becomes a node
                self.node_generation += 1
            info.set_node(node)
        self.generation += 1

    def update_node(self, node: Obj) -> None:
        """A node changed (labels, taints, allocatable, cordon)."""
        self.add_node(node)

    def remove_node(self, node: Obj) -> None:
        """A node left; its slot stays while pods are still counted on it."""
        name = node["metadata"]["name"]
        self._known_nodes.discard(name)
        info = self._nodes.get(name)
        if info is not None:
            if info.pod_count:
                info.set_node(None)  # a node-less slot until its pods are gone
            else:
                del self._nodes[name]
        self.generation += 1
        self.node_generation += 1

    def node_names(self) -> list[str]:
        """The names of the nodes that exist (not node-less slots)."""
        return sorted(self._known_nodes)

    def nodes(self) -> dict[str, NodeInfo]:
        """The nodes that exist, by name (the live records: do not change them)."""
        return {name: self._nodes[name] for name in self._known_nodes}

    def node(self, name: str) -> NodeInfo | None:
        """The live record of node ``name``, if it exists."""
        return self._nodes.get(name) if name in self._known_nodes else None

    # -- pods ----------------------------------------------------------------------------

    def assume(self, info: PodInfo, node: str) -> None:
        """Count ``info`` on ``node`` from now on, before the binding is confirmed."""
        uid = info.uid
        if uid in self._pods:
            msg = f"pod {info.pod['metadata'].get('name')} is already in the cache"
            raise ValueError(msg)
        self._place(uid, _PodState(info, node, assumed=True))

    def forget(self, info: PodInfo) -> None:
        """Take back an assumption whose binding failed (a confirmed pod stays)."""
        uid = info.uid
        state = self._pods.get(uid)
        if state is not None and state.assumed:
            self._unplace(uid)

    def is_assumed(self, pod: Obj) -> bool:
        """Whether ``pod`` is assumed and not yet confirmed by the informer."""
        state = self._pods.get(pod_uid(pod))
        return state is not None and state.assumed

    def has_pod(self, pod: Obj) -> bool:
        """Whether ``pod`` is counted on a node (assumed or confirmed)."""
        return pod_uid(pod) in self._pods

    def add_pod(self, pod: Obj) -> None:
        """An assigned pod seen by the informer: confirm its assumption or count it."""
        uid, node = pod_uid(pod), pod["spec"]["nodeName"]
        state = self._pods.get(uid)
        if state is not None and state.node == node:
            # Confirmed: keep the parsed info, but use the object the apiserver has.
            self._unplace(uid)
        elif state is not None:
            log.info("pod %s assumed on %s was bound to %s", uid, state.node, node)
            self._unplace(uid)
        self._place(uid, _PodState(PodInfo.of(pod), node, assumed=False))

    def update_pod(self, pod: Obj) -> None:
        """An assigned pod changed (labels, resize, ...): count the newer object."""
        self.add_pod(pod)

    def remove_pod(self, pod: Obj) -> None:
        """A pod gone (deleted, terminal): off its node, assumed or not."""
        uid = pod_uid(pod)
        if uid in self._pods:
            self._unplace(uid)

    def pod_count(self) -> int:
        """Pods counted on nodes, assumed included."""
        return len(self._pods)

    def pods(self) -> Iterator[tuple[PodInfo, str, bool]]:
        """Every counted pod as ``(info, node, assumed)``."""
        for state in self._pods.values():
            yield state.info, state.node, state.assumed

    # -- internals -----------------------------------------------------------------------

    def _place(self, uid: str, state: _PodState) -> None:
        info = self._nodes.get(state.node)
        if info is None:  # the pod came before its node: a node-less slot
            info = self._nodes[state.node] = NodeInfo(None)
        info.add_pod(state.info)
        self._pods[uid] = state
        self.generation += 1

    def _unplace(self, uid: str) -> None:
        state = self._pods.pop(uid)
        info = self._nodes.get(state.node)
        if info is not None:
            info.remove_pod(state.info)
            if not info.pod_count and state.node not in self._known_nodes:
                del self._nodes[state.node]
        self.generation += 1
