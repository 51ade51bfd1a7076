"""The node scores: NodeResourcesFit (LeastAllocated, MostAllocated,
RequestedToCapacityRatio), NodeResourcesBalancedAllocation, TaintToleration, NodeAffinity,
ImageLocality.

After ``pkg/scheduler/framework/plugins/noderesources/`` (``resource_allocation.go``,
``least_allocated.go``, ``most_allocated.go``, ``requested_to_capacity_ratio.go``,
``balanced_allocation.go``), ``tainttoleration``, ``nodeaffinity`` and ``imagelocality``;
integer arithmetic where kube's is integer. Each function returns one 0..100 score per node,
or None when every node would get the same score (such a plugin cannot change the choice,
so it is skipped).

The resource scores depend only on the node's totals and the pod's requests, so
``ResourceScorer`` caches a node's combined score until the node's ``generation`` changes:
with thousands of identical pods most nodes are scored once per change, not once per pod.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import (
    CPU,
    EPHEMERAL,
    MEMORY,
    PodInfo,
    Toleration,
    is_scalar_resource,
)

MAX_SCORE = 100
MB = 1024 * 1024
IMAGE_MIN = 23 * MB  # imagelocality/image_locality.go: minThreshold
IMAGE_MAX_PER_CONTAINER = 1000 * MB  # maxContainerThreshold
Resources = tuple[tuple[str, int], ...]


def _least(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_SCORE // capacity


def _most(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_SCORE // capacity


def broken_linear(shape: Sequence[tuple[int, int]]) -> Callable[[int, int], int]:
    """RequestedToCapacityRatio's per-resource score: ``BuildBrokenLinearFunction`` over
    ``(utilization %, score 0..10)`` points, applied to ``requested*100/capacity``."""
    points = [(u, s * MAX_SCORE // 10) for u, s in shape]

    def function(p: int) -> int:
        for i, (u, s) in enumerate(points):
            if p <= u:
                if i == 0:
                    return points[0][1]
                u0, s0 = points[i - 1]
                return s0 + (s - s0) * (p - u0) // (u - u0)
        return points[-1][1]

    def score(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return function(MAX_SCORE)
        return function(requested * MAX_SCORE // capacity)
    return score


def _amounts(node: NodeInfo, pod: PodInfo, name: str, non_zero: bool) -> tuple[int, int]:
    """``calculateResourceAllocatableRequest``: (allocatable, requested incl. the pod)."""
    if name == CPU:
        return node.alloc_cpu, (node.nz_cpu + pod.nz_cpu if non_zero else node.cpu + pod.cpu)
    if name == MEMORY:
        return node.alloc_memory, (node.nz_memory + pod.nz_memory if non_zero
                                   else node.memory + pod.memory)
    if name == EPHEMERAL:
        return node.alloc_ephemeral, node.ephemeral + pod.ephemeral
    wanted = pod.scalar.get(name, 0)
    if wanted == 0 and is_scalar_resource(name):
        return 0, 0
    return node.alloc_scalar.get(name, 0), node.scalar.get(name, 0) + wanted


def _balanced(node: NodeInfo, pod: PodInfo, resources: Resources) -> int:
    fractions = []
    for name, _weight in resources:
        alloc, req = _amounts(node, pod, name, non_zero=False)
        if alloc:
            fractions.append(min(req / alloc, 1.0))
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    else:
        std = 0.0
    return int((1 - std) * MAX_SCORE)


class ResourceScorer:
    """NodeResourcesFit's score and BalancedAllocation, weighted and summed, cached per node."""

    def __init__(self, strategy: str, resources: Resources, fit_weight: int,
                 balanced: Resources, balanced_weight: int,
                 shape: Sequence[tuple[int, int]] = ()) -> None:
        self.resources = resources
        self.balanced = balanced
        self.fit_weight = fit_weight
        self._shapes: dict[tuple[object, ...], tuple[object, ...]] = {}
        self.balanced_weight = balanced_weight
        self._ratio = strategy == "RequestedToCapacityRatio"
        self._per_resource: Callable[[int, int], int] = (
            broken_linear(shape or ((0, 0), (100, 10))) if self._ratio
            else _most if strategy == "MostAllocated" else _least)
        # The common default, computed inline: LeastAllocated over cpu and memory, weight 1.
        self._fast = (strategy == "LeastAllocated" and resources == ((CPU, 1), (MEMORY, 1))
                      and balanced in ((), ((CPU, 1), (MEMORY, 1))))

    def fit_score(self, node: NodeInfo, pod: PodInfo) -> int:
        """The NodeResourcesFit score of one node (0..100)."""
        total = weights = 0
        for name, weight in self.resources:
            alloc, req = _amounts(node, pod, name, non_zero=True)
            if alloc == 0:
                continue
            score = self._per_resource(req, alloc)
            if self._ratio and score <= 0:
                continue  # requestedToCapacityRatio counts only positive scores
            total += score * weight
            weights += weight
        if not weights:
            return 0
        return math.floor(total / weights + 0.5) if self._ratio else total // weights

    def _score(self, node: NodeInfo, pod: PodInfo) -> int:
        if self._fast:
            return self._fast_score(node, pod)
        score = self.fit_weight * self.fit_score(node, pod) if self.fit_weight else 0
        if self.balanced_weight:
            score += self.balanced_weight * _balanced(node, pod, self.balanced)
        return score

    def _fast_score(self, node: NodeInfo, pod: PodInfo) -> int:
        score = 0
        alloc_cpu, alloc_mem = node.alloc_cpu, node.alloc_memory
        if self.fit_weight:
            total = weights = 0
            if alloc_cpu:
                total += _least(node.nz_cpu + pod.nz_cpu, alloc_cpu)
                weights += 1
            if alloc_mem:
                total += _least(node.nz_memory + pod.nz_memory, alloc_mem)
                weights += 1
            score = self.fit_weight * (total // weights if weights else 0)
        if self.balanced_weight:
            score += self.balanced_weight * _balanced(node, pod, self.balanced)
        return score

    def scores(self, nodes: Sequence[NodeInfo], pod: PodInfo) -> list[int]:
        """The weighted sum of both scores for each node."""
        key = (self, pod.nz_cpu, pod.nz_memory, pod.cpu, pod.memory, pod.ephemeral,
               tuple(pod.scalar.items()) if pod.scalar else ())
        # One object per request shape, so the cache check is an identity test.
        shape = self._shapes.setdefault(key, key)
        if len(self._shapes) > 1024:
            self._shapes.clear()
        out: list[int] = []
        append = out.append
        for node in nodes:
            cached = node.score_cache
            if cached and cached[1] is shape and cached[0] == node.generation:
                append(cached[2])
                continue
            value = self._score(node, pod)
            node.score_cache = (node.generation, shape, value)
            append(value)
        return out


def taint_scores(pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int] | None:
    """TaintToleration: fewer untolerated PreferNoSchedule taints score higher (reversed)."""
    if not any(node.prefer_taints for node in nodes):
        return None
    tolerations = tuple(t for t in pod.tolerations
                        if t.effect in ("", "PreferNoSchedule"))
    counts = [_untolerated(tolerations, node.prefer_taints) for node in nodes]
    return normalize(counts, reverse=True)


def _untolerated(tolerations: tuple[Toleration, ...],
                 taints: tuple[tuple[str, str, str], ...]) -> int:
    return sum(1 for taint in taints
               if not any(t.tolerates(*taint) for t in tolerations))


def node_affinity_scores(pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int] | None:
    """NodeAffinity: the summed weights of the matched preferred terms, normalized."""
    terms = pod.preferred_node_terms
    if not terms:
        return None
    raw = [sum(weight for weight, term in terms if term.matches(node.labels, node.name))
           for node in nodes]
    return normalize(raw, reverse=False)


def normalize(scores: list[int], reverse: bool) -> list[int]:
    """``helper.DefaultNormalizeScore``: scale to 0..100 by the maximum (then reverse)."""
    top = max(scores, default=0)
    if top == 0:
        return [MAX_SCORE if reverse else 0] * len(scores)
    out = [MAX_SCORE * s // top for s in scores]
    return [MAX_SCORE - s for s in out] if reverse else out


def image_locality_scores(pod: PodInfo, nodes: Sequence[NodeInfo],
                          snapshot: Snapshot) -> list[int] | None:
    """ImageLocality: the sizes of the pod's images a node already has, scaled by how many
    nodes have them, between 23 MB and 1000 MB per container; None when no node reports
    images."""
    if not snapshot.has_images or not pod.images:
        return None
    total = len(snapshot)
    top = IMAGE_MAX_PER_CONTAINER * len(pod.images)
    spread = {name: snapshot.image_nodes(name) / total for name in set(pod.images)}
    out = []
    for node in nodes:
        have = node.images
        summed = sum(int(have[name] * spread[name]) for name in pod.images if name in have)
        summed = min(max(summed, IMAGE_MIN), top)
        out.append(MAX_SCORE * (summed - IMAGE_MIN) // (top - IMAGE_MIN))
    return out
