"""``Cycle``: one pod's PreFilter work, and the filters that have something to do for it.

Built once per scheduling attempt (and reused by preemption). ``checks`` holds the filters
in the profile's order; plugins with nothing to do for this pod are left out, as kube's
PreFilter ``Skip`` does. ``plain`` says the pod needs nothing but room: NodeUnschedulable and
TaintToleration only matter on ``blocked`` nodes (cordoned or tainted NoSchedule/NoExecute)
and no other filter has work, so the scan may check cpu, memory and the pod count inline
and call ``run_filters`` only for blocked or full nodes.
"""

from __future__ import annotations

import functools

from servers.scheduler.framework import filters as f
from servers.scheduler.framework.filters import Filter
from servers.scheduler.framework.interpod import AffinityFilter
from servers.scheduler.framework.lister import NO_OBJECTS, Lister
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import PodInfo
from servers.scheduler.framework.profile import Profile
from servers.scheduler.framework.spread import SpreadFilter, constraints_for
from servers.scheduler.framework.status import AFFINITY_CONFLICT, Status

_SIMPLE = {"NodeUnschedulable": f.node_unschedulable_filter, "NodeName": f.node_name_filter,
           "TaintToleration": f.taint_toleration_filter,
           "NodeAffinity": f.node_affinity_filter, "NodePorts": f.node_ports_filter}
_BLOCKED_ONLY = ("NodeUnschedulable", "TaintToleration")


def _fit(pod: PodInfo, scalar: dict[str, int], node: NodeInfo) -> Status | None:
    return f.fit_status(pod, node, scalar)


class Cycle:
    """The per-pod state of one scheduling attempt (see the module docstring)."""

    def __init__(self, profile: Profile, pod: PodInfo, snapshot: Snapshot,
                 lister: Lister | None = None) -> None:
        self.profile = profile
        self.pod = pod
        self.snapshot = snapshot
        self.lister = lister or NO_OBJECTS
        self.checks: list[Filter] = []
        self.fit = "NodeResourcesFit" in profile.filters
        self.scalar = self._scalar()
        # Cleared by any check that matters on unblocked nodes.
        self.plain = self.fit and not pod.ephemeral and not self.scalar
        self.spread: SpreadFilter | None = None
        self.affinity: AffinityFilter | None = None
        # PreFilter outcomes: a rejection message, or the node names NodeAffinity pins.
        self.pre_filter_msg = ""
        self.pinned: frozenset[str] | None = None
        for name in profile.filters:
            self._add(name)

    def _scalar(self) -> dict[str, int]:
        ignored, groups = self.profile.ignored_resources, self.profile.ignored_resource_groups
        scalar = self.pod.scalar
        if not scalar or not (ignored or groups):
            return scalar
        return {k: v for k, v in scalar.items()
                if not ("/" in k and (k in ignored or k.split("/")[0] in groups))}

    def _add(self, name: str) -> None:
        check = self._check(name)
        if check is not None:
            self.checks.append(check)
            if name not in _BLOCKED_ONLY and name != "NodeResourcesFit":
                self.plain = False

    def _check(self, name: str) -> Filter | None:
        """The plugin's Filter for this pod, after its PreFilter (None: nothing to do)."""
        pod = self.pod
        if name in _SIMPLE:
            if name == "NodeAffinity" and pod.node_affinity is not None:
                self._pin(pod.node_affinity.names)
            return _SIMPLE[name](pod)
        if name == "NodeResourcesFit":
            return functools.partial(_fit, pod, self.scalar)
        if name == "PodTopologySpread":
            constraints = constraints_for(pod, "DoNotSchedule", self.lister)
            if constraints:
                self.spread = SpreadFilter(pod, constraints, self.snapshot)
                return self.spread.check
        elif name == "InterPodAffinity":
            if not (pod.affinity_required or pod.anti_affinity_required
                    or self.snapshot.with_required_anti_affinity()):
                return None  # no term on either side: PreFilter's Skip, without building it
            state = AffinityFilter(pod, self.snapshot, self.lister)
            if state.active:
                self.affinity = state
                return state.check
        return None

    def _pin(self, names: frozenset[str] | None) -> None:
        if names is None:
            return
        if not names:
            self.pre_filter_msg = AFFINITY_CONFLICT
        self.pinned = names

    def run_filters(self, node: NodeInfo) -> Status | None:
        """Every filter on ``node``, in order; the first rejection, or None if it fits."""
        for check in self.checks:
            status = check(node)
            if status is not None:
                return status
        return None

    def update(self, other: PodInfo, node: NodeInfo, sign: int) -> None:
        """PreFilter AddPod/RemovePod: count ``other`` on ``node`` in or out of the state."""
        if self.spread is not None:
            self.spread.update_node(node, other, sign)
        if self.affinity is not None:
            self.affinity.update(other, node, sign)
