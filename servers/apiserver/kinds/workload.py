"""Rules shared by the workload kinds (apps/v1, batch/v1, policy/v1): selectors and templates.

Kubernetes references (k8s.io/kubernetes at v1.32): ``ValidateLabelSelector``
(k8s.io/apimachinery pkg/apis/meta/v1/validation), ``ValidatePodTemplateSpecForReplicaSet``
and ``ValidateImmutableField`` (pkg/apis/apps/validation, pkg/apis/core/validation),
``ValidatePositiveIntOrPercent`` / ``IsNotMoreThan100Percent`` and the template defaults the
generated defaulters give a nested ``PodTemplateSpec`` (the pod's own).
"""

from __future__ import annotations

import re
from typing import Any

from servers.apimachinery import errors, field, selectors, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, as_list
from servers.apiserver.kinds.podspec import default_pod_spec, validate_pod_spec

FIELD_IMMUTABLE = "field is immutable"
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_PERCENT = re.compile(r"[0-9]+%")


def template_labels(template: Any) -> Obj:
    """The labels of a pod template (empty when absent)."""
    return as_dict(as_dict(as_dict(template).get("metadata")).get("labels"))


def default_template(template: Any) -> None:
    """The pod defaults inside a template (``SetDefaults_PodSpec`` and its containers')."""
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def default_labels_from_template(obj: Obj, template: Any) -> None:
    """An object without labels takes its template's (Job, and the old extensions kinds)."""
    labels = template_labels(template)
    meta = obj.setdefault("metadata", {})
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)


def validate_selector(selector: Any, path: str) -> list[Cause]:
    """``ValidateLabelSelector``: valid matchLabels, known operators, values only with
    In/NotIn (required there)."""
    sel = as_dict(selector)
    causes = validation.validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(as_list(sel.get("matchExpressions"))):
        where = f"{path}.matchExpressions[{i}]"
        expr = as_dict(expr)
        op, values = expr.get("operator"), as_list(expr.get("values"))
        if op in ("In", "NotIn") and not values:
            causes.append(field.required(f"{where}.values",
                                         "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            causes.append(field.forbidden(f"{where}.values", "may not be specified when "
                                          "`operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in _OPERATORS:
            causes.append(field.invalid(f"{where}.operator", op, "not a valid selector operator"))
        key = expr.get("key")
        causes += [field.invalid(f"{where}.key", key, m)
                   for m in validation.is_qualified_name(str(key or ""))]
    return causes


def selector_matches(selector: Any, labels: Obj) -> bool | None:
    """Whether a ``metav1.LabelSelector`` selects ``labels``; None when it cannot be parsed
    (its own causes say why)."""
    try:
        return selectors.label_selector_from_object(as_dict(selector)).matches(labels)
    except errors.StatusError:
        return None


def selector_empty(selector: Any) -> bool:
    """True for a selector that restricts nothing (``{}``, no labels, no expressions)."""
    sel = as_dict(selector)
    return not sel.get("matchLabels") and not sel.get("matchExpressions")


def required_selector(spec: Obj, kind: str) -> list[Cause]:
    """``spec.selector`` must be given, valid and not empty (apps/v1's rule)."""
    selector = spec.get("selector")
    if selector is None:
        return [field.required("spec.selector")]
    causes = validate_selector(selector, "spec.selector")
    if not causes and selector_empty(selector):
        causes.append(field.invalid("spec.selector", selector,
                                    f"empty selector is invalid for {kind}"))
    return causes


def template_for_selector(spec: Obj, *, restart_policies: tuple[str, ...] = ("Always",),
                          kind: str = "ReplicaSet") -> list[Cause]:
    """``ValidatePodTemplateSpecForReplicaSet``: a template whose labels the selector selects,
    a valid pod spec, a restart policy among ``restart_policies`` and no activeDeadline."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [field.required("spec.template")]
    labels = template_labels(template)
    causes: list[Cause] = []
    selector = spec.get("selector")
    if selector is not None and not selector_empty(selector) and \
            selector_matches(selector, labels) is False:
        causes.append(field.invalid("spec.template.metadata.labels", labels,
                                    "`selector` does not match template `labels`"))
    causes += validation.validate_labels(labels, "spec.template.metadata.labels")
    pod_spec = as_dict(template.get("spec"))
    causes += validate_pod_spec(pod_spec, "spec.template.spec")
    policy = pod_spec.get("restartPolicy")
    if policy and policy not in restart_policies:
        causes.append(field.not_supported("spec.template.spec.restartPolicy", policy,
                                          list(restart_policies)))
    if kind and pod_spec.get("activeDeadlineSeconds") is not None:
        causes.append(field.forbidden("spec.template.spec.activeDeadlineSeconds",
                                      f"activeDeadlineSeconds in {kind} is not Supported"))
    return causes


def immutable(path: str, new: Any, old: Any) -> list[Cause]:
    """``ValidateImmutableField``."""
    return [] if new == old else [field.invalid(path, new, FIELD_IMMUTABLE)]


def int_or_percent(path: str, value: Any) -> list[Cause]:
    """``ValidatePositiveIntOrPercent`` then ``IsNotMoreThan100Percent``."""
    if value is None:
        return []
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            return [field.invalid(path, value, "a valid percent string must be a numeric "
                                  "string followed by an ending '%' (e.g. '1%',  or '93%', "
                                  "regex used for validation is '[0-9]+%')")]
        if int(value[:-1]) > 100:
            return [field.invalid(path, value, "must not be greater than 100%")]
        return []
    if isinstance(value, bool) or not isinstance(value, int):
        return [field.invalid(path, value, "must be an integer or percentage (e.g '5%')")]
    return validation.validate_nonnegative(value, path)


def is_zero(value: Any) -> bool:
    """An IntOrString that means zero (``0`` or ``"0%"``)."""
    return value in (0, "0%")


def positive(path: str, value: Any) -> list[Cause]:
    """``ValidatePositiveField``-like: an optional integer that must be above 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        return [field.invalid(path, value, "must be greater than 0")]
    return []
