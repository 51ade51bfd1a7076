"""``Profile``: what one scheduler profile runs (plugins, weights, scoring strategy).

The defaults are kube 1.32's (``pkg/scheduler/apis/config/v1/default_plugins.go`` and
``defaults.go``): filters in MultiPoint order, score weights TaintToleration 3, NodeAffinity 2,
PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1, BalancedAllocation 1,
ImageLocality 1; LeastAllocated over cpu and memory (weight 1 each); adaptive
percentageOfNodesToScore; DefaultPreemption as the PostFilter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servers.scheduler.framework.scores import ResourceScorer

# Every in-tree plugin name of kube 1.32, with the extension points km acts on.
FILTERS = ("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
           "NodeResourcesFit", "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding",
           "VolumeZone", "PodTopologySpread", "InterPodAffinity", "DynamicResources")
SCORES = ("TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding",
          "PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation",
          "ImageLocality")
OTHER = ("SchedulingGates", "PrioritySort", "DefaultPreemption", "DefaultBinder")
PLUGINS = frozenset(FILTERS + SCORES + OTHER)

DEFAULT_MULTIPOINT: tuple[tuple[str, int], ...] = (
    ("SchedulingGates", 0), ("PrioritySort", 0), ("NodeUnschedulable", 0), ("NodeName", 0),
    ("TaintToleration", 3), ("NodeAffinity", 2), ("NodePorts", 0), ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0), ("NodeVolumeLimits", 0), ("VolumeBinding", 0),
    ("VolumeZone", 0), ("PodTopologySpread", 2), ("InterPodAffinity", 2),
    ("DefaultPreemption", 0), ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1),
    ("DefaultBinder", 0),
)
DEFAULT_RESOURCES = (("cpu", 1), ("memory", 1))
SYSTEM_CONSTRAINTS = (("kubernetes.io/hostname", 3), ("topology.kubernetes.io/zone", 5))


@dataclass
class Profile:
    """One scheduler profile.

    ``filters`` in the order they run; ``scores`` maps a score plugin to its weight;
    ``percentage_of_nodes_to_score`` 0 means kube's adaptive default; ``post_filters`` holds
    ``DefaultPreemption`` unless disabled. The backoff fields are the configuration's
    global ``podInitialBackoffSeconds``/``podMaxBackoffSeconds``, copied to every profile.
    """

    scheduler_name: str = "default-scheduler"
    filters: tuple[str, ...] = tuple(n for n, _ in DEFAULT_MULTIPOINT if n in FILTERS)
    scores: dict[str, int] = field(default_factory=lambda: {
        n: w or 1 for n, w in DEFAULT_MULTIPOINT if n in SCORES})
    post_filters: tuple[str, ...] = ("DefaultPreemption",)
    scoring_strategy: str = "LeastAllocated"
    scoring_resources: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES
    scoring_shape: tuple[tuple[int, int], ...] = ()
    balanced_resources: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES
    ignored_resources: frozenset[str] = frozenset()
    ignored_resource_groups: frozenset[str] = frozenset()
    hard_pod_affinity_weight: int = 1
    ignore_preferred_terms_of_existing_pods: bool = False
    min_candidate_percentage: int = 10
    min_candidate_absolute: int = 100
    spread_defaulting: str = "System"
    spread_default_constraints: tuple[tuple[str, int, str], ...] = ()
    percentage_of_nodes_to_score: int = 0
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    _scorer: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def preemption(self) -> bool:
        """Whether DefaultPreemption runs for pods that fit nowhere."""
        return "DefaultPreemption" in self.post_filters

    def resource_scorer(self) -> ResourceScorer:
        """The (cached) NodeResourcesFit + BalancedAllocation scorer of this profile."""
        if self._scorer is None:
            self._scorer = ResourceScorer(
                self.scoring_strategy, self.scoring_resources,
                self.scores.get("NodeResourcesFit", 0), self.balanced_resources,
                self.scores.get("NodeResourcesBalancedAllocation", 0), self.scoring_shape)
        return self._scorer

    def default_spread(self) -> tuple[tuple[str, int], ...]:
        """The ScheduleAnyway default constraints for pods without their own."""
        if self.spread_defaulting == "System":
            return SYSTEM_CONSTRAINTS
        return tuple((k, s) for k, s, w in self.spread_default_constraints
                     if w == "ScheduleAnyway")


def default_profile(scheduler_name: str = "default-scheduler") -> Profile:
    """kube-scheduler's default profile."""
    return Profile(scheduler_name=scheduler_name)
