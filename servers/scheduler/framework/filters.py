"""The simple filters: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
NodeResourcesFit.

Each ``*_filter(pod)`` returns a check ``(NodeInfo) -> Status | None`` for this pod, or None
when the plugin has nothing to do for it (kube's PreFilter ``Skip``), so the scheduling loop
only calls what matters. Behaviour after ``pkg/scheduler/framework/plugins/<name>/``.
"""

from __future__ import annotations

from collections.abc import Callable

from servers.scheduler.framework.nodeinfo import NodeInfo
from servers.scheduler.framework.podinfo import PodInfo, Toleration, tolerated
from servers.scheduler.framework.status import (
    S_NODE_AFFINITY,
    S_NODE_NAME,
    S_NODE_PORTS,
    S_UNSCHEDULABLE,
    TAINT,
    TOO_MANY_PODS,
    UNRESOLVABLE,
    UNSCHEDULABLE,
    Status,
)

Filter = Callable[[NodeInfo], "Status | None"]
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def node_unschedulable_filter(pod: PodInfo) -> Filter | None:
    """A cordoned node, unless the pod tolerates ``node.kubernetes.io/unschedulable``."""
    if tolerated(pod.tolerations, UNSCHEDULABLE_TAINT, "", "NoSchedule"):
        return None

    def check(node: NodeInfo) -> Status | None:
        return S_UNSCHEDULABLE if node.unschedulable else None
    return check


def node_name_filter(pod: PodInfo) -> Filter | None:
    """``spec.nodeName`` set and naming another node."""
    wanted = pod.node_name
    if not wanted:
        return None

    def check(node: NodeInfo) -> Status | None:
        return None if node.name == wanted else S_NODE_NAME
    return check


def untolerated_taint(tolerations: tuple[Toleration, ...],
                      taints: tuple[tuple[str, str, str], ...]) -> tuple[str, str, str] | None:
    """``FindMatchingUntoleratedTaint``: the first taint no toleration tolerates."""
    for taint in taints:
        if not tolerated(tolerations, *taint):
            return taint
    return None


def taint_toleration_filter(pod: PodInfo) -> Filter:
    """The first untolerated NoSchedule/NoExecute taint, as ``{key: value}``."""
    tolerations = pod.tolerations
    seen: dict[tuple[tuple[str, str, str], ...], Status | None] = {}

    def check(node: NodeInfo) -> Status | None:
        taints = node.no_schedule_taints
        if not taints:
            return None
        if taints not in seen:  # nodes of one pool share their taints
            taint = untolerated_taint(tolerations, taints)
            seen[taints] = None if taint is None else Status(
                UNRESOLVABLE, TAINT.format(key=taint[0], value=taint[1]))
        return seen[taints]
    return check


def node_affinity_filter(pod: PodInfo) -> Filter | None:
    """``nodeSelector`` and required node affinity."""
    selector = pod.node_affinity
    if selector is None:
        return None

    def check(node: NodeInfo) -> Status | None:
        return None if selector.matches(node.labels, node.name) else S_NODE_AFFINITY
    return check


def node_ports_filter(pod: PodInfo) -> Filter | None:
    """A wanted ``hostPort`` already used on the node (same protocol, overlapping IP)."""
    wanted = pod.host_ports
    if not wanted:
        return None

    def check(node: NodeInfo) -> Status | None:
        for ip, protocol, port in wanted:
            if node.port_conflict(ip, protocol, port):
                return S_NODE_PORTS
        return None
    return check


def fit_status(pod: PodInfo, node: NodeInfo,
               scalar: dict[str, int] | None = None) -> Status | None:
    """NodeResourcesFit's ``fitsRequest``: pod count first (even for zero-request pods),
    then cpu, memory, ephemeral-storage and extended resources (``scalar``, default the
    pod's) against allocatable."""
    reasons = []
    if node.pod_count + 1 > node.alloc_pods:
        reasons.append(TOO_MANY_PODS)
    if pod.cpu > 0 and pod.cpu > node.alloc_cpu - node.cpu:
        reasons.append("Insufficient cpu")
    if pod.memory > 0 and pod.memory > node.alloc_memory - node.memory:
        reasons.append("Insufficient memory")
    if pod.ephemeral > 0 and pod.ephemeral > node.alloc_ephemeral - node.ephemeral:
        reasons.append("Insufficient ephemeral-storage")
    for name, amount in (pod.scalar if scalar is None else scalar).items():
        if amount > node.alloc_scalar.get(name, 0) - node.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Status(UNSCHEDULABLE, *reasons) if reasons else None
