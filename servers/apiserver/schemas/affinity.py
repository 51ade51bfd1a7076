"""OpenAPI v3 schemas of a pod's scheduling constraints: Affinity, TopologySpreadConstraint and
PodSchedulingGate.

Field names, list types and required members follow k8s.io/api core/v1 types.go at v0.32, so
a member of the wrong type is refused (400) before validation, ``kubectl explain
pod.spec.affinity.nodeAffinity`` answers, and kubectl's client-side validation knows the
fields. The rules beyond types are ``servers.apiserver.kinds.affinity``'s.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    CORE,
    META,
    Obj,
    array,
    integer,
    obj,
    ref,
    refs,
    string,
    strings,
)

_NODE_OPERATORS = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _pod_affinity(doc: str, verb: str) -> Obj:
    return obj(doc, {
        _REQUIRED: refs("PodAffinityTerm", f"Pods that must {verb} this pod at scheduling "
                        "time; terms are ANDed."),
        _PREFERRED: refs("WeightedPodAffinityTerm", f"Pods this pod should preferably {verb}; "
                         "the node with the greatest sum of weights wins."),
    })


#: The schemas, by full name.
SCHEMAS: dict[str, Obj] = {
    CORE + "Affinity": obj("Affinity is a group of affinity scheduling rules.", {
        "nodeAffinity": ref("NodeAffinity", "Node affinity scheduling rules for the pod."),
        "podAffinity": ref("PodAffinity", "Pod affinity scheduling rules (e.g. co-locate "
                           "this pod in the same node, zone, etc. as some other pod(s))."),
        "podAntiAffinity": ref("PodAntiAffinity", "Pod anti-affinity scheduling rules (e.g. "
                               "avoid putting this pod in the same node, zone, etc. as some "
                               "other pod(s))."),
    }),
    CORE + "NodeAffinity": obj("Node affinity is a group of node affinity scheduling rules.", {
        _REQUIRED: ref("NodeSelector", "The node must match this selector at scheduling "
                       "time."),
        _PREFERRED: refs("PreferredSchedulingTerm", "Nodes matching these terms are "
                         "preferred, by the sum of the weights of the terms they match."),
    }),
    CORE + "NodeSelector": obj(
        "A node selector represents the union of the results of one or more label queries "
        "over a set of nodes; that is, it represents the OR of the selectors represented by "
        "the node selector terms.",
        {"nodeSelectorTerms": refs("NodeSelectorTerm", "Required. A list of node selector "
                                   "terms. The terms are ORed.")},
        ("nodeSelectorTerms",)),
    CORE + "NodeSelectorTerm": obj(
        "A null or empty node selector term matches no objects. The requirements of them are "
        "ANDed.",
        {"matchExpressions": refs("NodeSelectorRequirement", "A list of node selector "
                                  "requirements by node's labels."),
         "matchFields": refs("NodeSelectorRequirement", "A list of node selector requirements "
                             "by node's fields (only metadata.name).")}),
    CORE + "NodeSelectorRequirement": obj(
        "A selector that contains values, a key, and an operator that relates the key and "
        "values.",
        {"key": string("The label key that the selector applies to."),
         "operator": string("Represents a key's relationship to a set of values.",
                            enum=_NODE_OPERATORS),
         "values": strings("Values for In and NotIn (one or more), Gt and Lt (one integer); "
                           "empty for Exists and DoesNotExist.")},
        ("key", "operator")),
    CORE + "PreferredSchedulingTerm": obj(
        "An empty preferred scheduling term matches all objects with implicit weight 0.",
        {"weight": integer("Weight associated with matching the corresponding "
                           "nodeSelectorTerm, in the range 1-100."),
         "preference": ref("NodeSelectorTerm", "A node selector term, associated with the "
                           "corresponding weight.")},
        ("weight", "preference")),
    CORE + "PodAffinity": _pod_affinity("Pod affinity is a group of inter pod affinity "
                                        "scheduling rules.", "be co-located with"),
    CORE + "PodAntiAffinity": _pod_affinity("Pod anti affinity is a group of inter pod anti "
                                            "affinity scheduling rules.", "be kept apart from"),
    CORE + "PodAffinityTerm": obj(
        "Defines a set of pods (namely those matching the labelSelector relative to the "
        "given namespace(s)) that this pod should be co-located (affinity) or not co-located "
        "(anti-affinity) with, where co-located is defined as running on a node whose value "
        "of the label with key <topologyKey> matches that of any node on which a pod of the "
        "set of pods is running.",
        {"labelSelector": ref(META + "LabelSelector", "A label query over a set of "
                              "resources, in this case pods."),
         "namespaceSelector": ref(META + "LabelSelector", "A label query over the set of "
                                  "namespaces that the term applies to."),
         "namespaces": strings("The namespaces the term applies to (default: the pod's)."),
         "topologyKey": string("The node label whose value defines a topology domain. Empty "
                               "topologyKey is not allowed."),
         "matchLabelKeys": strings("Pod label keys whose values are added to labelSelector."),
         "mismatchLabelKeys": strings("Pod label keys whose values are excluded by "
                                      "labelSelector.")},
        ("topologyKey",)),
    CORE + "WeightedPodAffinityTerm": obj(
        "The weights of all of the matched WeightedPodAffinityTerm fields are added "
        "per-node to find the most preferred node(s).",
        {"weight": integer("Weight associated with matching the corresponding "
                           "podAffinityTerm, in the range 1-100."),
         "podAffinityTerm": ref("PodAffinityTerm", "Required. A pod affinity term, "
                                "associated with the corresponding weight.")},
        ("weight", "podAffinityTerm")),
    CORE + "PodSchedulingGate": obj(
        "PodSchedulingGate is associated to a Pod to guard its scheduling.",
        {"name": string("Name of the scheduling gate. Each scheduling gate must have a unique "
                        "name field.")},
        ("name",)),
    CORE + "TopologySpreadConstraint": obj(
        "TopologySpreadConstraint specifies how to spread matching pods among the given "
        "topology.",
        {"maxSkew": integer("The degree to which pods may be unevenly distributed; greater "
                            "than zero."),
         "topologyKey": string("The key of node labels; nodes with the same value are in the "
                               "same topology domain."),
         "whenUnsatisfiable": string("How to deal with a pod if it doesn't satisfy the spread "
                                     "constraint.", enum=("DoNotSchedule", "ScheduleAnyway")),
         "labelSelector": ref(META + "LabelSelector", "Finds the pods counted in their "
                              "domains."),
         "minDomains": integer("A minimum number of eligible domains (DoNotSchedule only)."),
         "nodeAffinityPolicy": string("Whether nodeAffinity/nodeSelector bound the domains: "
                                      "Honor (default) or Ignore.", enum=("Honor", "Ignore")),
         "nodeTaintsPolicy": string("Whether node taints bound the domains: Honor or Ignore "
                                    "(default).", enum=("Honor", "Ignore")),
         "matchLabelKeys": array(string(), "Pod label keys added to labelSelector.",
                                 list_type="atomic")},
        ("maxSkew", "topologyKey", "whenUnsatisfiable")),
}
