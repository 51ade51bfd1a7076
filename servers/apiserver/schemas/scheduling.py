"""OpenAPI v3 schemas of scheduling.k8s.io/v1: PriorityClass (pod priorities).

Field names and docs follow k8s.io/api scheduling/v1 types.go at v0.32, so ``kubectl explain
priorityclass`` and kubectl's client-side validation of create/apply read what they expect.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import Obj, boolean, integer, kind_header, obj, string

SCHEDULING = "io.k8s.api.scheduling.v1."
_GROUP = "scheduling.k8s.io"

#: PriorityClass, by full name.
SCHEMAS: dict[str, Obj] = {
    SCHEDULING + "PriorityClass": obj(
        "PriorityClass defines mapping from a priority class name to the priority integer "
        "value. The value can be any valid integer.",
        {**kind_header("In CamelCase."),
         "value": integer("value represents the integer value of this priority class. This is "
                          "the actual priority that pods receive when they have the name of "
                          "this class in their pod spec."),
         "globalDefault": boolean("globalDefault specifies whether this PriorityClass should be "
                                  "considered as the default priority for pods that do not "
                                  "have any priority class. Only one PriorityClass can be "
                                  "marked as `globalDefault`."),
         "description": string("description is an arbitrary string that usually provides "
                               "guidelines on when this priority class should be used."),
         "preemptionPolicy": string("preemptionPolicy is the Policy for preempting pods with "
                                    "lower priority. One of Never, PreemptLowerPriority. "
                                    "Defaults to PreemptLowerPriority if unset.",
                                    enum=("Never", "PreemptLowerPriority"))},
        ("value",),
        gvk=(_GROUP, "v1", "PriorityClass"),
    ),
}
