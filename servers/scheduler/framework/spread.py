"""PodTopologySpread: the DoNotSchedule filter and the ScheduleAnyway score.

After ``pkg/scheduler/framework/plugins/podtopologyspread/`` (``filtering.go``,
``scoring.go``, ``common.go``): a node qualifies for counting when it has every constraint's
topology key and passes the node-inclusion policies (nodeAffinityPolicy Honor and
nodeTaintsPolicy Ignore by default); a domain's count is the number of pods in the incoming
pod's namespace matching the constraint's selector, terminating pods left out. The filter
rejects a node when ``count + selfMatch - globalMin > maxSkew`` (globalMin is 0 while fewer
than ``minDomains`` domains exist). Pods with no constraints that a Service, RC, RS or
StatefulSet selects get the system default constraints (hostname 3, zone 5, ScheduleAnyway).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.selectors import LabelSelector, Requirement, label_selector_from_dict
from servers.scheduler.framework.filters import untolerated_taint
from servers.scheduler.framework.lister import Lister
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import (
    HOSTNAME,
    ZONE,
    PodInfo,
    SpreadConstraint,
    selector,
)
from servers.scheduler.framework.status import S_SPREAD, S_SPREAD_LABEL, Status

MAX_INT32 = 2**31 - 1
# apis/config/v1/defaults.go: systemDefaultConstraints.
SYSTEM_DEFAULT = (("kubernetes.io/hostname", 3), ("topology.kubernetes.io/zone", 5))
_OWNER_KINDS = {("v1", "ReplicationController"), ("apps/v1", "ReplicaSet"),
                ("apps/v1", "StatefulSet")}


def count_matching(node: NodeInfo, constraint_selector: LabelSelector, namespace: str,
                   key: str | None = None) -> int:
    """``countPodsMatchSelector``: an empty selector counts nothing; remembered per node
    until the node changes (the pods of one workload share their selector). ``key`` is
    ``cache_key(selector, namespace)``, for callers that count on many nodes."""
    if constraint_selector.empty():
        return 0
    if key is None:
        key = cache_key(constraint_selector, namespace)
    cache = node.match_cache
    hit = cache.get(key)
    if hit is not None and hit[0] == node.generation:
        return hit[1]
    count = _count(node, constraint_selector, namespace)
    if len(cache) > 64:
        cache.clear()
    cache[key] = (node.generation, count)
    return count


def cache_key(constraint_selector: LabelSelector, namespace: str) -> str:
    """The per-node cache key of a count: the selector's canonical text and the namespace
    (a string caches its hash, so lookups on hundreds of nodes stay cheap)."""
    return f"{namespace} {constraint_selector}"


def _count(node: NodeInfo, constraint_selector: LabelSelector, namespace: str) -> int:
    count = 0
    for pod in node._pods.values():
        if (not pod.deleting and pod.namespace == namespace
                and constraint_selector.matches(pod.labels)):
            count += 1
    return count


def _has_keys(node: NodeInfo, constraints: Sequence[SpreadConstraint]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


def _included(c: SpreadConstraint, pod: PodInfo, node: NodeInfo) -> bool:
    """``matchNodeInclusionPolicies``."""
    if (c.honor_affinity and pod.node_affinity is not None
            and not pod.node_affinity.matches(node.labels, node.name)):
        return False
    return not (c.honor_taints and untolerated_taint(pod.tolerations, node.no_schedule_taints))


def default_selector(pod: PodInfo, lister: Lister) -> LabelSelector:
    """``helper.DefaultSelector``: Services selecting the pod, then its controller's selector."""
    merged: dict[str, str] = {}
    for service in lister.services(pod.namespace):
        wanted = (service.get("spec") or {}).get("selector") or {}
        if wanted and all(pod.labels.get(k) == v for k, v in wanted.items()):
            merged.update(wanted)
    requirements: list[Requirement] = []
    owner = pod.owner
    if owner and (owner.get("apiVersion"), owner.get("kind")) in _OWNER_KINDS:
        found = lister.controller(owner["kind"], pod.namespace, owner.get("name", ""))
        spec_selector = ((found or {}).get("spec") or {}).get("selector")
        if owner["kind"] == "ReplicationController" and isinstance(spec_selector, dict):
            merged.update(spec_selector)
        elif isinstance(spec_selector, dict):
            requirements = list(selector(spec_selector).requirements)
    try:
        base = label_selector_from_dict(merged)
    except BadRequest:  # a malformed Service selector counts as none
        base = label_selector_from_dict({})
    everything = sorted([*base.requirements, *requirements], key=lambda r: r.key)
    return LabelSelector(tuple(everything))


def constraints_for(pod: PodInfo, when: str, lister: Lister,
                    defaults: Sequence[tuple[str, int]] = SYSTEM_DEFAULT
                    ) -> tuple[SpreadConstraint, ...]:
    """The pod's constraints of kind ``when``, or the default ones (``buildDefaultConstraints``)."""
    if pod.spread_constraints:
        return tuple(c for c in pod.spread_constraints if c.when_unsatisfiable == when)
    if when != "ScheduleAnyway" or not defaults:
        return ()
    chosen = default_selector(pod, lister)
    if chosen.empty():
        return ()
    return tuple(SpreadConstraint(skew, key, when, chosen, 1, True, False)
                 for key, skew in defaults)


class SpreadFilter:
    """PreFilter state of the DoNotSchedule constraints; ``check`` is the Filter."""

    def __init__(self, pod: PodInfo, constraints: tuple[SpreadConstraint, ...],
                 snapshot: Snapshot) -> None:
        self.pod = pod
        self.constraints = constraints
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self._self = [c.selector.matches(pod.labels) for c in constraints]
        self._keys = [cache_key(c.selector, pod.namespace) for c in constraints]
        for node in snapshot.node_list:
            self.update_node(node, None, 1)

    def update_node(self, node: NodeInfo, only: PodInfo | None, sign: int) -> None:
        """Count ``node``'s matching pods (all, or just ``only``) with ``sign``."""
        if not _has_keys(node, self.constraints):
            return
        if only is not None and (only.namespace != self.pod.namespace or only.deleting):
            return
        for i, c in enumerate(self.constraints):
            if not _included(c, self.pod, node):
                continue
            value = node.labels[c.topology_key]
            if only is None:
                count = count_matching(node, c.selector, self.pod.namespace, self._keys[i])
            else:
                count = int(c.selector.matches(only.labels) and not c.selector.empty())
            self.counts[i][value] = self.counts[i].get(value, 0) + sign * count

    def _min(self, i: int) -> int:
        counts = self.counts[i]
        if len(counts) < self.constraints[i].min_domains:
            return 0
        return min(counts.values()) if counts else MAX_INT32

    def check(self, node: NodeInfo) -> Status | None:
        """The Filter for one node."""
        for i, c in enumerate(self.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                return S_SPREAD_LABEL
            skew = self.counts[i].get(value, 0) + self._self[i] - self._min(i)
            if skew > c.max_skew:
                return S_SPREAD
        return None


def spread_scores(pod: PodInfo, constraints: tuple[SpreadConstraint, ...], system: bool,
                  feasible: Sequence[NodeInfo], snapshot: Snapshot) -> list[int]:
    """PreScore + Score + NormalizeScore of the ScheduleAnyway constraints (0..100 each).

    Nodes lacking a key of the pod's own constraints are ignored (score 0); with the system
    defaults they are not, and a constraint adds nothing to a node without its key.
    """
    ignored = ([not _has_keys(n, constraints) for n in feasible] if not system
               else [False] * len(feasible))
    kept = [n for n, skip in zip(feasible, ignored, strict=True) if not skip]
    plan = []
    for c in constraints:
        key = c.topology_key
        if key == HOSTNAME:
            counts = None
            size = len(kept)
        else:
            # Nodes without the key form kube's "" domain: it counts in the weight, but
            # Score never reads it, so it is not counted.
            counts = dict.fromkeys({n.labels[key] for n in kept if key in n.labels}, 0)
            size = len(counts) + any(key not in n.labels for n in kept)
            if not counts:
                continue
            _count_domain(pod, c, counts, snapshot, constraints if not system else ())
        plan.append((key, math.log(size + 2), c.max_skew - 1, counts,
                     cache_key(c.selector, pod.namespace), c.selector))
    raw = [_node_score(pod.namespace, plan, node) for node in kept]
    scores = iter(raw)
    return _normalize([0 if skip else next(scores) for skip in ignored], ignored)


def _count_domain(pod: PodInfo, c: SpreadConstraint, counts: dict[str, int],
                  snapshot: Snapshot, required: tuple[SpreadConstraint, ...]) -> None:
    # PreScore's processAllNode: pods on every node of a domain some feasible node is in.
    key = cache_key(c.selector, pod.namespace)
    for node in snapshot.node_list:
        value = node.labels.get(c.topology_key)
        if value is None or value not in counts:
            continue
        if (required and not _has_keys(node, required)) or not _included(c, pod, node):
            continue
        counts[value] += count_matching(node, c.selector, pod.namespace, key)


def _node_score(namespace: str, plan: list[Any], node: NodeInfo) -> int:
    score = 0.0
    labels = node.labels
    for key, weight, base, counts, cache, constraint_selector in plan:
        value = labels.get(key)
        if value is None:
            continue
        if counts is None:  # hostname: this node's own pods
            hit = node.match_cache.get(cache)
            cnt = (hit[1] if hit is not None and hit[0] == node.generation
                   else count_matching(node, constraint_selector, namespace, cache))
        else:
            cnt = counts[value]
        score += cnt * weight + base
    return math.floor(score + 0.5)  # math.Round: half away from zero (scores are >= 0)


def _normalize(raw: list[int], ignored: list[bool]) -> list[int]:
    kept = [s for s, skip in zip(raw, ignored, strict=True) if not skip]
    if not kept:
        return [0] * len(raw)
    low, high = min(kept), max(kept)
    out = []
    for s, skip in zip(raw, ignored, strict=True):
        if skip:
            out.append(0)
        elif high == 0:
            out.append(100)
        else:
            out.append(100 * (high + low - s) // high)
    return out


__all__ = ["ZONE", "SpreadFilter", "constraints_for", "spread_scores"]
