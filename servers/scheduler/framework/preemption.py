"""DefaultPreemption: make room for a pod that fits nowhere by evicting lower-priority pods.

After ``pkg/scheduler/framework/preemption/preemption.go`` (``Evaluator.Preempt``,
``findCandidates``, ``nodesWherePreemptionMightHelp``, ``DryRunPreemption``,
``pickOneNodeForPreemption``) and ``plugins/defaultpreemption/default_preemption.go``
(``SelectVictimsOnNode``, ``PodEligibleToPreemptOthers``, ``filterPodsWithPDBViolation``).

On each node where preemption might help (its rejection was not unresolvable), every
lower-priority pod is removed; if the pod then fits, victims are reprieved one at a time,
most important first (PDB-violating ones first), keeping those whose return still lets the
pod fit. Among the nodes that work, the one chosen has the fewest PDB violations, then the
lowest highest-victim priority, the smallest priority sum, the fewest victims, the latest
start of its most important victims. The server deletes the victims and sets the pod's
``status.nominatedNodeName``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from servers.scheduler.framework.algorithm import FitError
from servers.scheduler.framework.cycle import Cycle
from servers.scheduler.framework.lister import NO_OBJECTS, Lister
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import PodInfo, selector
from servers.scheduler.framework.profile import Profile
from servers.scheduler.framework.status import (
    NEVER,
    S_NO_VICTIMS,
    S_NOT_HELPFUL,
    TERMINATING,
    Status,
)

Obj = dict[str, Any]
MIN_CANDIDATE_PERCENTAGE = 10  # DefaultPreemptionArgs.MinCandidateNodesPercentage
MIN_CANDIDATE_ABSOLUTE = 100  # DefaultPreemptionArgs.MinCandidateNodesAbsolute
_NOT_STARTED = "~"  # GetPodStartTime: no startTime means "now", later than any timestamp
_PRIORITY_OFFSET = 2**31  # minSumPrioritiesScoreFunc adds MaxInt32+1 to every priority


@dataclass
class Preemption:
    """The node to nominate and the pods to evict there (lowest priority first)."""

    node_name: str
    victims: list[PodInfo] = field(default_factory=list)
    pdb_violations: int = 0


@dataclass
class _Candidate:
    node: str
    victims: list[PodInfo]  # most important first, as kube keeps them
    violations: int


class _Budget:
    """One PodDisruptionBudget: namespace, selector, allowed disruptions, disrupted pods."""

    def __init__(self, pdb: Obj) -> None:
        meta, spec, status = (pdb.get(k) or {} for k in ("metadata", "spec", "status"))
        self.namespace = meta.get("namespace") or "default"
        self.selector = selector(spec.get("selector"))
        self.allowed = int(status.get("disruptionsAllowed") or 0)
        self.disrupted = set(status.get("disruptedPods") or ())

    def covers(self, pod: PodInfo) -> bool:
        """Whether evicting ``pod`` spends this budget."""
        return (pod.namespace == self.namespace and not self.selector.empty()
                and self.selector.matches(pod.labels) and pod.name not in self.disrupted)


def more_important(pod: PodInfo) -> tuple[int, str]:
    """Sort key of ``util.MoreImportantPod``: higher priority, then earlier start."""
    return (-pod.priority, pod.start_time or _NOT_STARTED)


def split_by_budget(pods: Sequence[PodInfo], budgets: Sequence[_Budget]
                    ) -> tuple[list[PodInfo], list[PodInfo]]:
    """``filterPodsWithPDBViolation``: (violating, non-violating), order kept."""
    allowed = [b.allowed for b in budgets]
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for pod in pods:
        violated = False
        if pod.labels:
            for i, budget in enumerate(budgets):
                if budget.covers(pod):
                    allowed[i] -= 1
                    violated = violated or allowed[i] < 0
        (violating if violated else fine).append(pod)
    return violating, fine


def select_victims(cycle: Cycle, node: NodeInfo, budgets: Sequence[_Budget]
                   ) -> tuple[list[PodInfo], int, Status | None]:
    """``SelectVictimsOnNode``: (victims most important first, PDB violations, rejection)."""
    priority = cycle.pod.priority
    lower = [p for p in node.pods if p.priority < priority]
    if not lower:
        return [], 0, S_NO_VICTIMS
    what_if = node.clone()
    for p in lower:
        what_if.remove_pod(p)
        cycle.update(p, what_if, -1)
    status = cycle.run_filters(what_if)
    if status is not None:
        for p in lower:
            cycle.update(p, what_if, 1)
        return [], 0, status
    lower.sort(key=more_important)
    violating, fine = split_by_budget(lower, budgets)
    victims: list[PodInfo] = []
    violations = 0
    for group, counts in ((violating, True), (fine, False)):
        for p in group:
            what_if.add_pod(p)
            cycle.update(p, what_if, 1)
            if cycle.run_filters(what_if) is not None:
                what_if.remove_pod(p)
                cycle.update(p, what_if, -1)
                victims.append(p)
                violations += counts
    for p in victims:  # leave the shared PreFilter state as it was
        cycle.update(p, what_if, 1)
    victims.sort(key=more_important)
    return victims, violations, None


def _eligible(pod: PodInfo, snapshot: Snapshot, fit_error: FitError) -> str:
    """``PodEligibleToPreemptOthers``: "" if the pod may preempt, else why not."""
    if pod.preemption_policy == "Never":
        return NEVER
    name = pod.nominated_node_name
    if not name:
        return ""
    status = fit_error.status_of(name)
    if status is not None and status.unresolvable:
        return ""
    node = snapshot.get(name)
    for other in node.pods if node is not None else ():
        if other.priority < pod.priority and _terminating_by_preemption(other):
            return TERMINATING
    return ""


def _terminating_by_preemption(pod: PodInfo) -> bool:
    if not pod.deleting:
        return False
    for condition in (pod.pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "DisruptionTarget":
            return (condition.get("status") == "True"
                    and condition.get("reason") == "PreemptionByScheduler")
    return False


def num_candidates(potential: int, percentage: int = MIN_CANDIDATE_PERCENTAGE,
                   absolute: int = MIN_CANDIDATE_ABSOLUTE) -> int:
    """``calculateNumCandidates``: 10% of the nodes, at least 100, at most all."""
    return min(max(potential * percentage // 100, absolute), potential)


def preempt(profile: Profile, pod: PodInfo, snapshot: Snapshot, fit_error: FitError,
            pdbs: Iterable[Obj] = (), *, lister: Lister | None = None,
            rng: random.Random | None = None) -> Preemption | None:
    """Find a node and victims for ``pod`` (see the module docstring), or None.

    Sets ``fit_error.post_filter_msg``: "" when a node was found, else kube's
    "preemption: ..." text, so ``fit_error.message`` is the FailedScheduling message.
    """
    fit_error.post_filter_msg = ""
    if not profile.preemption or fit_error.num_all_nodes == 0:
        return None
    why_not = _eligible(pod, snapshot, fit_error)
    if why_not:
        fit_error.post_filter_msg = f"preemption: {why_not}"
        return None
    statuses: dict[str, Status] = {}
    potential = []
    for node in snapshot.node_list:
        status = fit_error.status_of(node.name)
        if status is None or status.unresolvable:
            statuses[node.name] = S_NOT_HELPFUL
        else:
            potential.append(node)
    candidates = _dry_run(Cycle(profile, pod, snapshot, lister or NO_OBJECTS), potential,
                          [_Budget(p) for p in pdbs], statuses, rng or random.Random())
    if not candidates:
        summary = FitError(pod, len(snapshot), statuses)
        fit_error.post_filter_msg = f"preemption: {summary.message}"
        return None
    best = pick_one(candidates)
    return Preemption(best.node, sorted(best.victims, key=lambda p: p.priority),
                      best.violations)


def _dry_run(cycle: Cycle, potential: list[NodeInfo], budgets: list[_Budget],
             statuses: dict[str, Status], rng: random.Random) -> list[_Candidate]:
    """``DryRunPreemption``: from a random offset until enough candidates are found."""
    if not potential:
        return []
    profile = cycle.profile
    offset = rng.randrange(len(potential))
    wanted = num_candidates(len(potential), profile.min_candidate_percentage,
                            profile.min_candidate_absolute)
    candidates: list[_Candidate] = []
    non_violating = 0
    for i in range(len(potential)):
        node = potential[(offset + i) % len(potential)]
        victims, violations, status = select_victims(cycle, node, budgets)
        if status is not None:
            statuses[node.name] = status
            continue
        candidates.append(_Candidate(node.name, victims, violations))
        non_violating += violations == 0
        if non_violating and len(candidates) >= wanted:
            break
    return candidates


def _earliest_top_start(c: _Candidate) -> str:
    # GetEarliestPodStartTime: among the highest-priority victims.
    if not c.victims:
        return _NOT_STARTED
    top = c.victims[0].priority
    return min(v.start_time or _NOT_STARTED for v in c.victims if v.priority == top)


_RULES: tuple[Callable[[_Candidate], Any], ...] = (
    lambda c: -c.violations,
    lambda c: -(c.victims[0].priority if c.victims else -_PRIORITY_OFFSET),
    lambda c: -sum(v.priority + _PRIORITY_OFFSET for v in c.victims),
    lambda c: -len(c.victims),
    _earliest_top_start,
)


def pick_one(candidates: list[_Candidate]) -> _Candidate:
    """``pickOneNodeForPreemption``: each rule keeps the best; the first survivor wins."""
    remaining = candidates
    for rule in _RULES:
        best = max(rule(c) for c in remaining)
        remaining = [c for c in remaining if rule(c) == best]
        if len(remaining) == 1:
            break
    return remaining[0]
