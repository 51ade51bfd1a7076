"""rbac.authorization.k8s.io/v1: defaults and validation of roles and bindings.

Kubernetes references (k8s.io/kubernetes at v1.32): ``pkg/apis/rbac/v1/defaults.go``
(roleRef and subject ``apiGroup``), ``pkg/apis/rbac/validation/validation.go`` (rules need
verbs, and resources with API groups or non-resource URLs, the latter only in ClusterRoles;
bindings need a roleRef that may never change and well-formed subjects) and ``ValidateRBACName``:
RBAC names are path segments, so ``system:kube-scheduler`` is a valid name.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, as_list, dicts

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    """``path.IsValidPathSegmentName`` (and ``...Prefix`` for generateName)."""
    messages = []
    if not prefix and name in (".", ".."):
        messages.append(f"may not be '{name}'")
    messages += [f"may not contain '{c}'" for c in "/%" if c in name]
    return messages


# -- defaults --------------------------------------------------------------------------------

def default_binding(binding: Obj, old: Obj | None = None) -> None:
    """``roleRef.apiGroup`` and each User/Group subject's ``apiGroup`` default to rbac's."""
    ref = binding.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for subject in dicts(binding.get("subjects")):
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = GROUP


# -- roles -----------------------------------------------------------------------------------

def _rule(rule: Obj, path: str, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    if not as_list(rule.get("verbs")):
        causes.append(field.required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = as_list(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            causes.append(field.invalid(f"{path}.nonResourceURLs", urls,
                                        "namespaced rules cannot apply to non-resource URLs"))
        if any(as_list(rule.get(k)) for k in ("apiGroups", "resources", "resourceNames")):
            causes.append(field.invalid(f"{path}.nonResourceURLs", urls, "rules cannot apply "
                                        "to both regular resources and non-resource URLs"))
        return causes
    if not as_list(rule.get("apiGroups")):
        causes.append(field.required(f"{path}.apiGroups",
                                     "resource rules must supply at least one api group"))
    if not as_list(rule.get("resources")):
        causes.append(field.required(f"{path}.resources",
                                     "resource rules must supply at least one resource"))
    return causes


def _rules(role: Obj, namespaced: bool) -> list[Cause]:
    return [cause for i, rule in enumerate(as_list(role.get("rules")))
            for cause in _rule(as_dict(rule), f"rules[{i}]", namespaced)]


def validate_role(role: Obj, old: Obj | None = None) -> list[Cause]:
    """A Role's rules: verbs, API groups and resources; no non-resource URLs."""
    return _rules(role, namespaced=True)


def validate_cluster_role(role: Obj, old: Obj | None = None) -> list[Cause]:
    """A ClusterRole's rules, and at least one selector in an ``aggregationRule``."""
    causes = _rules(role, namespaced=False)
    aggregation = role.get("aggregationRule")
    if isinstance(aggregation, dict) and not as_list(aggregation.get("clusterRoleSelectors")):
        causes.append(field.required(
            "aggregationRule.clusterRoleSelectors",
            "at least one clusterRoleSelector required if aggregationRule is non-nil"))
    return causes


# -- bindings --------------------------------------------------------------------------------

def _subject(subject: Obj, path: str, namespaced: bool) -> list[Cause]:
    name, kind, group = subject.get("name"), subject.get("kind"), subject.get("apiGroup", "")
    causes = [] if name else [field.required(f"{path}.name")]
    if kind == "ServiceAccount":
        if name:
            causes += [field.invalid(f"{path}.name", name, m)
                       for m in validation.name_is_dns_subdomain(str(name), False)]
        if group:
            causes.append(field.not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            causes.append(field.required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            causes.append(field.not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        causes.append(field.not_supported(f"{path}.kind", kind, list(SUBJECT_KINDS)))
    return causes


def _role_ref(ref: Any, kinds: tuple[str, ...]) -> list[Cause]:
    if not isinstance(ref, dict):
        return [field.required("roleRef")]
    causes: list[Cause] = []
    if ref.get("apiGroup") != GROUP:
        causes.append(field.not_supported("roleRef.apiGroup", ref.get("apiGroup"), [GROUP]))
    if ref.get("kind") not in kinds:
        causes.append(field.not_supported("roleRef.kind", ref.get("kind"), list(kinds)))
    name = ref.get("name")
    if not name:
        causes.append(field.required("roleRef.name"))
    else:
        causes += [field.invalid("roleRef.name", name, m)
                   for m in name_is_path_segment(str(name), False)]
    return causes


def _binding(binding: Obj, old: Obj | None, kinds: tuple[str, ...]) -> list[Cause]:
    namespaced = kinds != ("ClusterRole",)
    causes = _role_ref(binding.get("roleRef"), kinds)
    for i, subject in enumerate(as_list(binding.get("subjects"))):
        causes += _subject(as_dict(subject), f"subjects[{i}]", namespaced)
    if old is not None and binding.get("roleRef") != old.get("roleRef"):
        causes.append(field.invalid("roleRef", binding.get("roleRef"), "cannot change roleRef"))
    return causes


def validate_role_binding(binding: Obj, old: Obj | None = None) -> list[Cause]:
    """A RoleBinding: a Role or ClusterRole ref (immutable) and valid subjects."""
    return _binding(binding, old, ("Role", "ClusterRole"))


def validate_cluster_role_binding(binding: Obj, old: Obj | None = None) -> list[Cause]:
    """A ClusterRoleBinding: a ClusterRole ref (immutable) and valid subjects."""
    return _binding(binding, old, ("ClusterRole",))
