"""``schedule``: filter the nodes, score the feasible ones, pick the best (``schedule_one.go``).

After ``pkg/scheduler/schedule_one.go`` (``schedulePod``, ``findNodesThatFitPod``,
``findNodesThatPassFilters``, ``numFeasibleNodesToFind``, ``prioritizeNodes``,
``selectHost``) and ``framework/types.go`` (``FitError``). The scan starts at
``start_index`` and stops once ``num_feasible_nodes_to_find`` nodes fit; the result says where
the next scan starts. Scores are summed with the profile's weights; ties are broken at
random (pass ``rng`` to make it reproducible).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from servers.scheduler.framework.cycle import Cycle
from servers.scheduler.framework.interpod import affinity_scores
from servers.scheduler.framework.lister import NO_OBJECTS, Lister
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import PodInfo
from servers.scheduler.framework.profile import Profile
from servers.scheduler.framework.scores import (
    image_locality_scores,
    node_affinity_scores,
    taint_scores,
)
from servers.scheduler.framework.spread import constraints_for, spread_scores
from servers.scheduler.framework.status import UNRESOLVABLE, Status

NO_NODES = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5


@dataclass
class ScheduleResult:
    """Where the pod goes and how much of the cluster was looked at."""

    node_name: str
    evaluated_nodes: int
    feasible_nodes: int
    next_start_index: int


class FitError(Exception):
    """No node fits. ``message`` is kube's FailedScheduling text; ``diagnosis`` maps each
    rejected node to its ``Status``; nodes left out of it (NodeAffinity pinned others) have
    ``absent_status``. ``post_filter_msg`` is filled by ``preempt`` (" preemption: ...")."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: dict[str, Status],
                 *, pre_filter_msg: str = "", absent_status: Status | None = None,
                 next_start_index: int = 0) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis
        self.pre_filter_msg = pre_filter_msg
        self.absent_status = absent_status
        self.next_start_index = next_start_index
        self.post_filter_msg = ""

    def status_of(self, name: str) -> Status | None:
        """The node's Status (the absent status for nodes not in the diagnosis)."""
        return self.diagnosis.get(name, self.absent_status)

    @property
    def message(self) -> str:
        """``FitError.Error()``: "0/N nodes are available: <count reason, ...>." + post filter."""
        if self.num_all_nodes == 0:
            return NO_NODES
        text = f"0/{self.num_all_nodes} nodes are available:"
        if self.pre_filter_msg:
            text += f" {self.pre_filter_msg}."
        else:
            histogram = reason_histogram(self.diagnosis.values())
            absent = self.num_all_nodes - len(self.diagnosis)
            if absent > 0 and self.absent_status is not None:
                for reason in self.absent_status.reasons:
                    histogram[reason] = histogram.get(reason, 0) + absent
            items = sorted(f"{count} {reason}" for reason, count in histogram.items())
            if items:
                text += f" {', '.join(items)}."
        if self.post_filter_msg:
            text += f" {self.post_filter_msg}"
        return text

    def __str__(self) -> str:
        return self.message


def reason_histogram(statuses: Iterable[Status]) -> dict[str, int]:
    """How many nodes gave each reason."""
    counts: dict[str, int] = {}
    for status in statuses:
        for reason in status.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """``numFeasibleNodesToFind``: all below 100 nodes; else p% (adaptive 50 - N/125,
    at least 5, when p is 0) but at least 100."""
    if num_all_nodes < MIN_FEASIBLE_NODES:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    found = num_all_nodes * percentage // 100
    return max(found, MIN_FEASIBLE_NODES)


def schedule(profile: Profile, pod: PodInfo, snapshot: Snapshot, *, start_index: int = 0,
             lister: Lister | None = None, rng: random.Random | None = None) -> ScheduleResult:
    """Choose a node for ``pod``; raises ``FitError`` when none fits (also for 0 nodes)."""
    all_nodes = snapshot.node_list
    if not all_nodes:
        raise FitError(pod, 0, {})
    start_index %= len(all_nodes)
    cycle = Cycle(profile, pod, snapshot, lister or NO_OBJECTS)
    if cycle.pre_filter_msg:
        raise FitError(pod, len(all_nodes), {}, pre_filter_msg=cycle.pre_filter_msg,
                       absent_status=Status(UNRESOLVABLE, cycle.pre_filter_msg),
                       next_start_index=start_index)
    nodes, absent = all_nodes, None
    if cycle.pinned is not None:
        nodes = [n for n in (snapshot.get(name) for name in sorted(cycle.pinned)) if n]
        absent = Status(UNRESOLVABLE, "node(s) didn't satisfy plugin(s) [NodeAffinity]")
    nominated = _nominated(cycle, snapshot)
    if nominated is not None:
        return ScheduleResult(nominated.name, 1, 1, start_index)
    want = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, len(nodes))
    if not profile.scores:
        want = min(want, 1)
    feasible, failed, processed = find_feasible(cycle, nodes, start_index % max(len(nodes), 1),
                                                want)
    next_start = (start_index + processed) % len(all_nodes)
    if not feasible:
        raise FitError(pod, len(all_nodes), failed, absent_status=absent,
                       next_start_index=next_start)
    evaluated = len(feasible) + len(failed)
    if len(feasible) == 1:
        return ScheduleResult(feasible[0].name, evaluated, 1, next_start)
    totals = prioritize(cycle, feasible)
    best = max(totals)
    if totals.count(best) == 1:
        chosen = totals.index(best)
    elif totals.count(best) == len(totals):  # selectHost: uniformly among the best
        chosen = (rng or random).randrange(len(totals))
    else:
        chosen = (rng or random).choice([i for i, t in enumerate(totals) if t == best])
    return ScheduleResult(feasible[chosen].name, evaluated, len(feasible), next_start)


def _nominated(cycle: Cycle, snapshot: Snapshot) -> NodeInfo | None:
    # evaluateNominatedNode: a node preemption made room on is tried first.
    name = cycle.pod.nominated_node_name
    node = snapshot.get(name) if name else None
    if node is None or (cycle.pinned is not None and name not in cycle.pinned):
        return None
    return node if cycle.run_filters(node) is None else None


def find_feasible(cycle: Cycle, nodes: Sequence[NodeInfo], start: int, want: int
                  ) -> tuple[list[NodeInfo], dict[str, Status], int]:
    """Scan from ``start`` until ``want`` nodes fit: (feasible, rejected, nodes processed)."""
    feasible: list[NodeInfo] = []
    failed: dict[str, Status] = {}
    scan = _scan_plain if cycle.plain else _scan
    processed = scan(cycle, nodes, start, want, feasible, failed)
    return feasible, failed, processed


def _scan_plain(cycle: Cycle, nodes: Sequence[NodeInfo], start: int, want: int,
                feasible: list[NodeInfo], failed: dict[str, Status]) -> int:
    # The common pod (cpu/memory requests, no affinity, ports or spread) inline: only a
    # blocked node (cordoned or tainted) or a node short of room takes the general checks.
    cpu, memory = cycle.pod.cpu, cycle.pod.memory
    run_filters, append = cycle.run_filters, feasible.append
    remaining = want
    for node in _rotated(nodes, start):
        if (node.blocked or node.npods >= node.alloc_pods or cpu > node.alloc_cpu - node.cpu
                or memory > node.alloc_memory - node.memory):
            status = run_filters(node)
            if status is not None:
                failed[node.name] = status
                continue
        append(node)
        remaining -= 1
        if not remaining:
            break
    return len(feasible) + len(failed)


def _scan(cycle: Cycle, nodes: Sequence[NodeInfo], start: int, want: int,
          feasible: list[NodeInfo], failed: dict[str, Status]) -> int:
    run_filters = cycle.run_filters
    for node in _rotated(nodes, start):
        status = run_filters(node)
        if status is None:
            feasible.append(node)
            if len(feasible) >= want:
                break
        else:
            failed[node.name] = status
    return len(feasible) + len(failed)


def _rotated(nodes: Sequence[NodeInfo], start: int) -> Iterator[NodeInfo]:
    # The scan order without copying the node list (kube indexes (start+i) % n).
    return itertools.chain(itertools.islice(nodes, start, None),
                           itertools.islice(nodes, 0, start))


def prioritize(cycle: Cycle, feasible: list[NodeInfo]) -> list[int]:
    """The weighted sum of every score plugin for each feasible node."""
    profile, pod = cycle.profile, cycle.pod
    weights = profile.scores
    if not weights:
        return [1] * len(feasible)
    totals = [0] * len(feasible)
    if "NodeResourcesFit" in weights or "NodeResourcesBalancedAllocation" in weights:
        totals = profile.resource_scorer().scores(feasible, pod)
    for name, scores in _plugin_scores(cycle, feasible):
        weight = weights[name]
        totals = [t + weight * s for t, s in zip(totals, scores, strict=True)]
    return totals


def _plugin_scores(cycle: Cycle, feasible: list[NodeInfo]) -> list[tuple[str, list[int]]]:
    profile, pod, weights = cycle.profile, cycle.pod, cycle.profile.scores
    out = []
    if "TaintToleration" in weights and cycle.snapshot.has_prefer_no_schedule_taints:
        out.append(("TaintToleration", taint_scores(pod, feasible)))
    if "NodeAffinity" in weights:
        out.append(("NodeAffinity", node_affinity_scores(pod, feasible)))
    if "ImageLocality" in weights:
        out.append(("ImageLocality", image_locality_scores(pod, feasible, cycle.snapshot)))
    if "PodTopologySpread" in weights:
        constraints = constraints_for(pod, "ScheduleAnyway", cycle.lister,
                                      profile.default_spread())
        if constraints:
            system = not pod.spread_constraints and profile.spread_defaulting == "System"
            out.append(("PodTopologySpread",
                        spread_scores(pod, constraints, system, feasible, cycle.snapshot)))
    if "InterPodAffinity" in weights:
        out.append(("InterPodAffinity", affinity_scores(
            pod, feasible, cycle.snapshot, cycle.lister, profile.hard_pod_affinity_weight,
            profile.ignore_preferred_terms_of_existing_pods)))
    return [(name, scores) for name, scores in out if scores is not None]
