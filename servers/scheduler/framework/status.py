"""Filter outcomes: a ``Status`` carries the reasons and whether preemption could help.

After ``pkg/scheduler/framework/interface.go``: ``Unschedulable`` (preemption may help) and
``UnschedulableAndUnresolvable`` (it cannot). The reason strings are kube's, verbatim,
because they reach users through FailedScheduling events and ``kubectl describe``.
"""

from __future__ import annotations

UNSCHEDULABLE = 1
UNRESOLVABLE = 2

# The reasons, with the kube file each comes from.
NODE_UNSCHEDULABLE = "node(s) were unschedulable"  # nodeunschedulable/node_unschedulable.go
NODE_NAME = "node(s) didn't match the requested node name"  # nodename/node_name.go
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"  # nodeaffinity
NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"  # nodeports
TOO_MANY_PODS = "Too many pods"  # noderesources/fit.go
SPREAD = "node(s) didn't match pod topology spread constraints"  # podtopologyspread
SPREAD_LABEL = SPREAD + " (missing required label)"
AFFINITY = "node(s) didn't match pod affinity rules"  # interpodaffinity/filtering.go
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
TAINT = "node(s) had untolerated taint {{{key}: {value}}}"  # tainttoleration
AFFINITY_CONFLICT = "pod affinity terms conflict"  # nodeaffinity PreFilter
NOT_HELPFUL = "Preemption is not helpful for scheduling"  # preemption/preemption.go
NO_VICTIMS = "No preemption victims found for incoming pod"  # defaultpreemption
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to a terminating pod on the nominated node."


class Status:
    """Why one node was rejected: ``code`` (UNSCHEDULABLE/UNRESOLVABLE) and ``reasons``."""

    __slots__ = ("code", "reasons")

    def __init__(self, code: int, *reasons: str) -> None:
        self.code = code
        self.reasons = reasons

    @property
    def unresolvable(self) -> bool:
        """Whether removing pods could not make the node fit."""
        return self.code == UNRESOLVABLE

    def __repr__(self) -> str:
        return f"Status({self.code}, {', '.join(self.reasons)})"


S_UNSCHEDULABLE = Status(UNRESOLVABLE, NODE_UNSCHEDULABLE)
S_NODE_NAME = Status(UNRESOLVABLE, NODE_NAME)
S_NODE_AFFINITY = Status(UNRESOLVABLE, NODE_AFFINITY)
S_NODE_PORTS = Status(UNSCHEDULABLE, NODE_PORTS)
S_TOO_MANY_PODS = Status(UNSCHEDULABLE, TOO_MANY_PODS)
S_SPREAD = Status(UNSCHEDULABLE, SPREAD)
S_SPREAD_LABEL = Status(UNRESOLVABLE, SPREAD_LABEL)
S_AFFINITY = Status(UNRESOLVABLE, AFFINITY)
S_ANTI_AFFINITY = Status(UNSCHEDULABLE, ANTI_AFFINITY)
S_EXISTING_ANTI_AFFINITY = Status(UNSCHEDULABLE, EXISTING_ANTI_AFFINITY)
S_NOT_HELPFUL = Status(UNRESOLVABLE, NOT_HELPFUL)
S_NO_VICTIMS = Status(UNRESOLVABLE, NO_VICTIMS)
