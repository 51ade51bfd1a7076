"""Scheduling constraints of a PodSpec: affinity, topology spread, priority class name.

What the scheduler parses must be refused here first, with kube's messages (422 naming the
field), so a malformed term never reaches it. Rules follow k8s.io/kubernetes at v1.32,
pkg/apis/core/validation/validation.go (``validateAffinity``, ``ValidateNodeSelector``,
``ValidateNodeSelectorRequirement``, ``ValidateNodeFieldSelectorRequirement``,
``validatePodAffinityTerm``, ``validateTopologySpreadConstraints``) and
staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation (``ValidateLabelSelector``).
Members of the wrong JSON type are skipped here: the schema check refuses them earlier.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds import priorityclass
from servers.apiserver.kinds._common import Obj, as_dict, as_list, dicts

NOT_POSITIVE = "must be greater than zero"
BAD_OPERATOR = "not a valid selector operator"
IN_VALUES = "must be specified when `operator` is 'In' or 'NotIn'"
EXISTS_VALUES = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
WEIGHT = "must be in the range 1-100"
SCHEDULE_ACTIONS = ("DoNotSchedule", "ScheduleAnyway")
INCLUSION_POLICIES = ("Honor", "Ignore")


def _label_name(key: Any, path: str) -> list[Cause]:
    """``ValidateLabelName``: a qualified name."""
    text = key if isinstance(key, str) else ""
    return [field.invalid(path, text, m) for m in validation.is_qualified_name(text)]


def _label_values(values: list[Any], path: str) -> list[Cause]:
    return [field.invalid(f"{path}[{i}]", v, m) for i, v in enumerate(values)
            if isinstance(v, str) for m in validation.is_valid_label_value(v)]


def _requirement(req: Obj, path: str, *, node: bool) -> list[Cause]:
    """A ``NodeSelectorRequirement`` (``node``: Gt and Lt too) or ``LabelSelectorRequirement``."""
    operator, values = req.get("operator"), as_list(req.get("values"))
    causes: list[Cause] = []
    if operator in ("In", "NotIn"):
        if not values:
            causes.append(field.required(f"{path}.values", IN_VALUES))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            causes.append(field.forbidden(f"{path}.values", EXISTS_VALUES))
    elif node and operator in ("Gt", "Lt"):
        if len(values) != 1:
            causes.append(field.required(f"{path}.values", "must be specified single value "
                                         "when `operator` is 'Lt' or 'Gt'"))
    else:
        causes.append(field.invalid(f"{path}.operator", operator, BAD_OPERATOR))
    return causes + _label_name(req.get("key"), f"{path}.key") + \
        _label_values(values, f"{path}.values")


def _field_requirement(req: Obj, path: str) -> list[Cause]:
    """``ValidateNodeFieldSelectorRequirement``: only ``metadata.name``, In/NotIn, one value."""
    causes: list[Cause] = []
    values = as_list(req.get("values"))
    if req.get("operator") in ("In", "NotIn"):
        if len(values) != 1:
            causes.append(field.required(f"{path}.values", "must be only one value when "
                                         "`operator` is 'In' or 'NotIn' for node field "
                                         "selector"))
    else:
        causes.append(field.invalid(f"{path}.operator", req.get("operator"), BAD_OPERATOR))
    if req.get("key") != "metadata.name":
        causes.append(field.invalid(f"{path}.key", req.get("key"),
                                    "not a valid field selector key"))
    else:
        causes += [field.invalid(f"{path}.values[{i}]", v, m) for i, v in enumerate(values)
                   if isinstance(v, str) for m in validation.is_dns1123_subdomain(v)]
    return causes


def node_selector_term(term: Obj, path: str) -> list[Cause]:
    """``ValidateNodeSelectorTerm``: its expressions and fields."""
    causes = [c for i, r in enumerate(dicts(term.get("matchExpressions")))
              for c in _requirement(r, f"{path}.matchExpressions[{i}]", node=True)]
    return causes + [c for i, r in enumerate(dicts(term.get("matchFields")))
                     for c in _field_requirement(r, f"{path}.matchFields[{i}]")]


def _weight(item: Obj, path: str) -> list[Cause]:
    weight = item.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
        return [field.invalid(f"{path}.weight", weight, WEIGHT)]
    return []


def _node_affinity(na: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    required = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        terms_path = f"{path}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        terms = dicts(required.get("nodeSelectorTerms"))
        if not terms:
            causes.append(field.required(terms_path, "must have at least one node selector "
                                         "term"))
        causes += [c for i, t in enumerate(terms)
                   for c in node_selector_term(t, f"{terms_path}[{i}]")]
    preferred = f"{path}.preferredDuringSchedulingIgnoredDuringExecution"
    for i, item in enumerate(dicts(na.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        causes += _weight(item, f"{preferred}[{i}]")
        causes += node_selector_term(as_dict(item.get("preference")),
                                     f"{preferred}[{i}].preference")
    return causes


def label_selector(selector: Any, path: str) -> list[Cause]:
    """``ValidateLabelSelector``: matchLabels are labels, matchExpressions In/NotIn/Exists/
    DoesNotExist with their values."""
    if not isinstance(selector, dict):
        return []
    causes = validation.validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    return causes + [c for i, r in enumerate(dicts(selector.get("matchExpressions")))
                     for c in _requirement(r, f"{path}.matchExpressions[{i}]", node=False)]


def _pod_affinity_term(term: Obj, path: str) -> list[Cause]:
    causes = label_selector(term.get("labelSelector"), f"{path}.labelSelector")
    causes += label_selector(term.get("namespaceSelector"), f"{path}.namespaceSelector")
    causes += [field.invalid(f"{path}.namespace", ns, m) for ns in as_list(term.get("namespaces"))
               if isinstance(ns, str) for m in validation.is_dns1123_label(ns)]
    key = term.get("topologyKey")
    if not key:
        causes.append(field.required(f"{path}.topologyKey", "can not be empty"))
    return causes + _label_name(key, f"{path}.topologyKey")


def _pod_affinity(pa: Obj, path: str) -> list[Cause]:
    required = f"{path}.requiredDuringSchedulingIgnoredDuringExecution"
    causes = [c for i, t in enumerate(dicts(pa.get("requiredDuringSchedulingIgnoredDuring"
                                                   "Execution")))
              for c in _pod_affinity_term(t, f"{required}[{i}]")]
    preferred = f"{path}.preferredDuringSchedulingIgnoredDuringExecution"
    for i, item in enumerate(dicts(pa.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        causes += _weight(item, f"{preferred}[{i}]")
        causes += _pod_affinity_term(as_dict(item.get("podAffinityTerm")),
                                     f"{preferred}[{i}].podAffinityTerm")
    return causes


def validate_affinity(affinity: Any, path: str) -> list[Cause]:
    """``validateAffinity``: node affinity, pod affinity and pod anti-affinity."""
    if not isinstance(affinity, dict):
        return []
    causes: list[Cause] = []
    if isinstance(affinity.get("nodeAffinity"), dict):
        causes += _node_affinity(affinity["nodeAffinity"], f"{path}.nodeAffinity")
    for member in ("podAffinity", "podAntiAffinity"):
        if isinstance(affinity.get(member), dict):
            causes += _pod_affinity(affinity[member], f"{path}.{member}")
    return causes


def _min_domains(value: Any, action: Any, path: str) -> list[Cause]:
    if value is None:
        return []
    causes = [field.invalid(path, value, NOT_POSITIVE)] if not isinstance(value, int) or \
        value <= 0 else []
    if action != "DoNotSchedule":
        causes.append(field.invalid(path, value, "can only use minDomains if "
                                    f"whenUnsatisfiable=DoNotSchedule, not {action or ''}"))
    return causes


def _spread(constraint: Obj, later: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    skew = constraint.get("maxSkew")
    if not isinstance(skew, int) or isinstance(skew, bool) or skew <= 0:
        causes.append(field.invalid(f"{path}.maxSkew", skew, NOT_POSITIVE))
    key, action = constraint.get("topologyKey"), constraint.get("whenUnsatisfiable")
    if not key:
        causes.append(field.required(f"{path}.topologyKey", "can not be empty"))
    if action not in SCHEDULE_ACTIONS:
        causes.append(field.not_supported(f"{path}.whenUnsatisfiable", action or "",
                                          SCHEDULE_ACTIONS))
    if any(c.get("topologyKey") == key and c.get("whenUnsatisfiable") == action
           for c in later):
        causes.append(field.duplicate(f"{path}.{{topologyKey, whenUnsatisfiable}}",
                                      f"{{{key}, {action}}}"))
    causes += _min_domains(constraint.get("minDomains"), action, f"{path}.minDomains")
    for member in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
        policy = constraint.get(member)
        if policy is not None and policy not in INCLUSION_POLICIES:
            causes.append(field.not_supported(f"{path}.{member}", policy, INCLUSION_POLICIES))
    return causes + label_selector(constraint.get("labelSelector"), f"{path}.labelSelector")


def validate_topology_spread(constraints: Any, path: str) -> list[Cause]:
    """``validateTopologySpreadConstraints``."""
    items = dicts(constraints)
    return [c for i, item in enumerate(items)
            for c in _spread(item, items[i + 1:], f"{path}[{i}]")]


def validate_scheduling_gates(gates: Any, path: str) -> list[Cause]:
    """``validateSchedulingGates``: qualified names, no duplicates."""
    causes: list[Cause] = []
    seen: set[Any] = set()
    for i, gate in enumerate(dicts(gates)):
        name = gate.get("name")
        text = name if isinstance(name, str) else ""
        causes += [field.invalid(f"{path}[{i}]", text, m)
                   for m in validation.is_qualified_name(text)]
        if name in seen:
            causes.append(field.duplicate(f"{path}[{i}]", name))
        seen.add(name)
    return causes


def validate_gates_update(new: Any, old: Any, path: str) -> list[Cause]:
    """``validateOnlyDeletedSchedulingGates``: an update may remove gates, never add one."""
    before = {g.get("name") for g in dicts(old)}
    return [field.forbidden(f"{path}[{i}].name", "only deletion is allowed, but found new "
                            f"scheduling gate '{g.get('name')}'")
            for i, g in enumerate(dicts(new)) if g.get("name") not in before]


def validate_scheduling(spec: Obj, path: str) -> list[Cause]:
    """Every scheduling constraint of a pod spec at ``path``."""
    causes = validate_affinity(spec.get("affinity"), f"{path}.affinity")
    causes += validate_scheduling_gates(spec.get("schedulingGates"), f"{path}.schedulingGates")
    causes += validate_topology_spread(spec.get("topologySpreadConstraints"),
                                       f"{path}.topologySpreadConstraints")
    name = spec.get("priorityClassName")
    if isinstance(name, str) and name:
        causes += [field.invalid(f"{path}.priorityClassName", name, m)
                   for m in validation.is_dns1123_subdomain(name)]
    if spec.get("preemptionPolicy") is not None:
        causes += priorityclass.validate_preemption_policy(spec["preemptionPolicy"],
                                                           f"{path}.preemptionPolicy")
    return causes
