"""Schema pieces shared by the workload groups (apps/v1, batch/v1, policy/v1): a kind's
``spec``/``status`` header, status conditions merged by ``type``, selectors, IntOrString.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    INT_OR_STRING,
    META,
    Obj,
    array,
    kind_header,
    obj,
    ref,
    string,
    time,
)


def workload_kind(desc: str, package: str, kind: str, group: str) -> Obj:
    """A top-level kind with ``spec`` and ``status`` (``<Kind>Spec``/``<Kind>Status``)."""
    return obj(desc, {**kind_header("In CamelCase."),
                      "spec": ref(f"{package}{kind}Spec", f"Specification of the desired "
                                  f"behavior of the {kind}."),
                      "status": ref(f"{package}{kind}Status", f"Most recently observed "
                                    f"status of the {kind}.")},
               gvk=(group, "v1", kind))


def condition(desc: str, *, probe: bool = False, update: bool = False) -> Obj:
    """A controller condition: type, status, reason, message and its timestamps."""
    props: dict[str, Obj] = {
        "type": string("Type of the condition."),
        "status": string("Status of the condition, one of True, False, Unknown."),
        "reason": string("The reason for the condition's last transition."),
        "message": string("A human readable message indicating details about the "
                          "transition."),
        "lastTransitionTime": time("Last time the condition transitioned from one status to "
                                   "another."),
    }
    if probe:
        props["lastProbeTime"] = time("Last time the condition was checked.")
    if update:
        props["lastUpdateTime"] = time("The last time this condition was updated.")
    return obj(desc, props, ("type", "status"))


def conditions(name: str, desc: str) -> Obj:
    """A ``conditions`` list merged by ``type`` in strategic merge patches."""
    return array(ref(name), desc, list_type="map", keys=("type",), patch="merge",
                 merge_key="type")


def selector(desc: str) -> Obj:
    """A ``metav1.LabelSelector``."""
    return ref(META + "LabelSelector", desc)


def int_or_string(desc: str) -> Obj:
    """An ``IntOrString`` (a count or a percentage such as ``25%``)."""
    return ref(INT_OR_STRING, desc)
