"""policy/v1 PodDisruptionBudget: its starting status and validation.

Kubernetes references (k8s.io/kubernetes at v1.32): pkg/registry/policy/poddisruptionbudget/
strategy.go (``PrepareForCreate``: an empty status, generation 1) and pkg/apis/policy/
validation/validation.go (``ValidatePodDisruptionBudgetSpec``: minAvailable and
maxUnavailable are non-negative ints or percents, at most one of them, a valid selector,
``unhealthyPodEvictionPolicy`` IfHealthyBudget or AlwaysAllow). The eviction subresource that
reads the budget is ``servers.apiserver.eviction``.
"""

from __future__ import annotations

from servers.apimachinery import field
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, one_of
from servers.apiserver.kinds.workload import int_or_percent, validate_selector

GROUP = "policy"
EVICTION_POLICIES = ("IfHealthyBudget", "AlwaysAllow")
BOTH_SET = "minAvailable and maxUnavailable cannot be both set"


def default(pdb: Obj, old: Obj | None = None) -> None:
    """A new budget starts with the zero status kube's JSON shows (the counts are not
    omitempty)."""
    if old is None:
        pdb["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                         "expectedPods": 0}


def validate(pdb: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidatePodDisruptionBudget`` (the spec is mutable since policy/v1)."""
    spec = as_dict(pdb.get("spec"))
    causes: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(field.invalid("spec", spec, BOTH_SET))
    causes += int_or_percent("spec.minAvailable", spec.get("minAvailable"))
    causes += int_or_percent("spec.maxUnavailable", spec.get("maxUnavailable"))
    if spec.get("selector") is not None:
        causes += validate_selector(spec["selector"], "spec.selector")
    causes += one_of("spec.unhealthyPodEvictionPolicy", spec.get("unhealthyPodEvictionPolicy"),
                     EVICTION_POLICIES, required=False)
    return causes
