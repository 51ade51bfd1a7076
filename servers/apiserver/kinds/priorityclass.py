"""scheduling.k8s.io/v1 PriorityClass: defaults, validation, the two system classes, its row.

A PriorityClass maps a name pods give in ``spec.priorityClassName`` to the integer priority
the scheduler orders and preempts by (the Priority admission plugin,
``servers.apiserver.admission.priority``, resolves it). Rules and messages follow
k8s.io/kubernetes at v1.32: pkg/apis/scheduling/validation/validation.go
(``ValidatePriorityClass``, ``ValidatePriorityClassUpdate``), pkg/apis/scheduling/v1/helpers.go
(``SystemPriorityClasses``, ``IsKnownSystemPriorityClass``), pkg/apis/scheduling/v1/defaults.go
(preemptionPolicy defaults to PreemptLowerPriority) and printers.go (``printPriorityClass``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.apimachinery import field
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict
from servers.apiserver.kinds.printers import age

GROUP = "scheduling.k8s.io"
SYSTEM_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
SYSTEM_CLUSTER_CRITICAL = "system-cluster-critical"
SYSTEM_NODE_CRITICAL = "system-node-critical"
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
PREEMPT_NEVER = "Never"
PREEMPTION_POLICIES = (PREEMPT_LOWER_PRIORITY, PREEMPT_NEVER)
#: The priority a pod gets when it names no class and no class is the global default.
DEFAULT_PRIORITY = 0
_INT32 = (-(2**31), 2**31 - 1)

#: The classes every cluster has (created at start; never deletable), name -> (value, doc).
SYSTEM_CLASSES: dict[str, tuple[int, str]] = {
    SYSTEM_CLUSTER_CRITICAL: (SYSTEM_CRITICAL_PRIORITY, "Used for system critical pods that "
                              "must run in the cluster, but can be moved to another node if "
                              "necessary."),
    SYSTEM_NODE_CRITICAL: (SYSTEM_CRITICAL_PRIORITY + 1000, "Used for system critical pods "
                           "that must not be moved from their current node."),
}


def system_class(name: str) -> Obj:
    """The built-in class ``name`` as an object to create."""
    value, description = SYSTEM_CLASSES[name]
    return {"apiVersion": f"{GROUP}/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, "description": description,
            "preemptionPolicy": PREEMPT_LOWER_PRIORITY}


def default(pc: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_PriorityClass``: PreemptLowerPriority; a missing value is Go's zero."""
    pc.setdefault("value", 0)
    if pc.get("preemptionPolicy") is None:
        pc["preemptionPolicy"] = PREEMPT_LOWER_PRIORITY


def _known_system_class(name: str, value: Any, global_default: bool) -> str:
    """``IsKnownSystemPriorityClass``: "" when it is one, else why not."""
    if name not in SYSTEM_CLASSES:
        return f"{name} is not a known system priority class"
    wanted = SYSTEM_CLASSES[name][0]
    if value != wanted:
        return f"value of {name} PriorityClass must be {wanted}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def validate_preemption_policy(value: Any, path: str) -> list[Cause]:
    """``ValidatePreemptionPolicy`` (shared with the pod spec's ``preemptionPolicy``)."""
    if value in (None, ""):
        return [field.required(path)]
    if value not in PREEMPTION_POLICIES:
        return [field.not_supported(path, value, list(PREEMPTION_POLICIES))]
    return []


def validate(pc: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidatePriorityClass`` (and ``...Update`` when ``old`` is given)."""
    name = str(as_dict(pc.get("metadata")).get("name") or "")
    value = pc.get("value")
    causes: list[Cause] = []
    if not isinstance(value, int) or isinstance(value, bool) or not \
            _INT32[0] <= value <= _INT32[1]:
        causes.append(field.invalid("value", value, "must be a 32-bit integer"))
    elif name.startswith(SYSTEM_PREFIX):
        why = _known_system_class(name, value, bool(pc.get("globalDefault")))
        if why:
            causes.append(field.forbidden(
                "metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix are "
                f"reserved for system use only. error: {why}"))
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(field.forbidden("value", "maximum allowed value of a user defined "
                                      f"priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"))
    causes += validate_preemption_policy(pc.get("preemptionPolicy"), "preemptionPolicy")
    if old is not None:
        causes += validate_update(pc, old)
    return causes


def validate_update(pc: Obj, old: Obj) -> list[Cause]:
    """``ValidatePriorityClassUpdate``: value and preemptionPolicy are immutable."""
    causes: list[Cause] = []
    if pc.get("value") != old.get("value"):
        causes.append(field.forbidden("value", "may not be changed in an update."))
    if pc.get("preemptionPolicy") != old.get("preemptionPolicy"):
        causes.append(field.invalid("preemptionPolicy", pc.get("preemptionPolicy"),
                                    "field is immutable"))
    return causes


def row(pc: Obj, now: datetime) -> list[Any]:
    """``printPriorityClass``: NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY."""
    meta = as_dict(pc.get("metadata"))
    return [meta.get("name", ""), pc.get("value", 0), bool(pc.get("globalDefault")),
            age(meta.get("creationTimestamp"), now), pc.get("preemptionPolicy") or "<none>"]
