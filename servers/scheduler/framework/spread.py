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


def count_matching(node: NodeInfo, constraint_selector: LabelSelector, namespace: str) -> int:
    """``countPodsMatchSelector``: an empty selector counts nothing."""
    if constraint_selector.empty():
        return 0
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
                count = count_matching(node, c.selector, self.pod.namespace)
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
    """PreScore + Score + NormalizeScore of the ScheduleAnyway constraints (0..100 each)."""
    require_all = not system
    ignored = [require_all and not _has_keys(n, constraints) for n in feasible]
    counts: list[dict[str, int]] = [{} for _ in constraints]
    for node, skip in zip(feasible, ignored, strict=True):
        for i, c in enumerate(constraints):
            if not skip and c.topology_key != HOSTNAME:
                counts[i].setdefault(node.labels.get(c.topology_key, ""), 0)
    kept = ignored.count(False)
    weights = [math.log((kept if c.topology_key == HOSTNAME else len(counts[i])) + 2)
               for i, c in enumerate(constraints)]
    _count_domains(pod, constraints, counts, snapshot, require_all)
    raw = [0 if skip else _node_score(pod, constraints, counts, weights, node)
           for node, skip in zip(feasible, ignored, strict=True)]
    return _normalize(raw, ignored)


def _count_domains(pod: PodInfo, constraints: tuple[SpreadConstraint, ...],
                   counts: list[dict[str, int]], snapshot: Snapshot, require_all: bool) -> None:
    # PreScore's processAllNode: only domains some feasible node is in are counted.
    for node in snapshot.node_list:
        if require_all and not _has_keys(node, constraints):
            continue
        for i, c in enumerate(constraints):
            value = node.labels.get(c.topology_key)
            if value is None or value not in counts[i] or not _included(c, pod, node):
                continue
            counts[i][value] += count_matching(node, c.selector, pod.namespace)


def _node_score(pod: PodInfo, constraints: tuple[SpreadConstraint, ...],
                counts: list[dict[str, int]], weights: list[float], node: NodeInfo) -> int:
    score = 0.0
    for i, c in enumerate(constraints):
        value = node.labels.get(c.topology_key)
        if value is None:
            continue
        cnt = (count_matching(node, c.selector, pod.namespace)
               if c.topology_key == HOSTNAME else counts[i].get(value, 0))
        score += cnt * weights[i] + (c.max_skew - 1)
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
