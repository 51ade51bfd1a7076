"""OpenAPI v3 schemas of policy/v1: PodDisruptionBudget and Eviction (``pods/eviction``).

Field names follow k8s.io/api policy/v1 types.go at v0.32.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    META,
    Obj,
    integer,
    kind_header,
    map_of,
    obj,
    ref,
    string,
    time,
)
from servers.apiserver.schemas.workload import int_or_string, selector, workload_kind

POLICY = "io.k8s.api.policy.v1."
_GROUP = "policy"

#: The policy/v1 kinds and their parts, by full name.
SCHEMAS: dict[str, Obj] = {
    POLICY + "PodDisruptionBudget": workload_kind(
        "PodDisruptionBudget is an object to define the max disruption that can be caused to "
        "a collection of pods", POLICY, "PodDisruptionBudget", _GROUP),
    POLICY + "PodDisruptionBudgetSpec": obj(
        "PodDisruptionBudgetSpec is a description of a PodDisruptionBudget.",
        {"minAvailable": int_or_string("An eviction is allowed if at least \"minAvailable\" "
                                       "pods selected by \"selector\" will still be available "
                                       "after the eviction."),
         "selector": selector("Label query over pods whose evictions are managed by the "
                              "disruption budget."),
         "maxUnavailable": int_or_string("An eviction is allowed if at most "
                                         "\"maxUnavailable\" pods selected by \"selector\" "
                                         "are unavailable after the eviction."),
         "unhealthyPodEvictionPolicy": string("Defines the criteria for when unhealthy pods "
                                              "should be considered for eviction.",
                                              enum=("AlwaysAllow", "IfHealthyBudget"))}),
    POLICY + "PodDisruptionBudgetStatus": obj(
        "PodDisruptionBudgetStatus represents information about the status of a "
        "PodDisruptionBudget.",
        {"observedGeneration": integer("Most recent generation observed when updating this "
                                       "PDB status.", "int64"),
         "disruptedPods": map_of(time(), "DisruptedPods contains information about pods whose "
                                 "eviction was processed by the API server eviction "
                                 "subresource handler but has not yet been observed by the "
                                 "PodDisruptionBudget controller."),
         "disruptionsAllowed": integer("Number of pod disruptions that are currently "
                                       "allowed."),
         "currentHealthy": integer("current number of healthy pods"),
         "desiredHealthy": integer("minimum desired number of healthy pods"),
         "expectedPods": integer("total number of pods counted by this disruption budget"),
         "conditions": {"type": "array", "items": ref(META + "Condition"),
                        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                        "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-patch-merge-key": "type",
                        "description": "Conditions contain conditions for PDB."}},
        ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")),
    POLICY + "Eviction": obj(
        "Eviction evicts a pod from its node subject to certain policies and safety "
        "constraints.",
        {**kind_header("In CamelCase."),
         "deleteOptions": ref(META + "DeleteOptions", "DeleteOptions may be provided")},
        gvk=(_GROUP, "v1", "Eviction")),
    META + "Condition": obj(
        "Condition contains details for one aspect of the current state of this API "
        "Resource.",
        {"type": string("type of condition in CamelCase or in foo.example.com/CamelCase."),
         "status": string("status of the condition, one of True, False, Unknown."),
         "observedGeneration": integer("the .metadata.generation that the condition was set "
                                       "based upon.", "int64"),
         "lastTransitionTime": time("the last time the condition transitioned from one "
                                    "status to another."),
         "reason": string("a programmatic identifier indicating the reason for the "
                          "condition's last transition."),
         "message": string("a human readable message indicating details about the "
                           "transition.")},
        ("type", "status", "lastTransitionTime", "reason", "message")),
}
