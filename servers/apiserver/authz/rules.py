"""RBAC rule matching: does one PolicyRule cover a request, does a binding name a user.

The rules are rbac/v1's (k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go at v1.32):
``*`` matches any verb, API group, resource or non-resource URL; ``*/status`` matches the
status subresource of any resource; ``pods`` does not match ``pods/status``; an empty
``resourceNames`` matches every name; a non-resource URL ending in ``*`` is a prefix. Rules are
parsed once from the stored JSON into frozen records, so a request costs set lookups only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servers.apiserver.authz import Attributes
from servers.apiserver.resources import RBAC

Obj = dict[str, Any]
ALL = "*"
RBAC_GROUP = RBAC
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Rule:
    """One PolicyRule of a Role or ClusterRole."""

    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: tuple[str, ...] = ()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, rule: Obj) -> Rule:
        return cls(frozenset(_strings(rule.get("verbs"))),
                   frozenset(_strings(rule.get("apiGroups"))),
                   _strings(rule.get("resources")),
                   frozenset(_strings(rule.get("resourceNames"))),
                   _strings(rule.get("nonResourceURLs")))

    def allows(self, attrs: Attributes) -> bool:
        """True when this rule covers the request."""
        if not (ALL in self.verbs or attrs.verb in self.verbs):
            return False
        if not attrs.resource_request:
            return self._url_matches(attrs.path)
        return (
            (ALL in self.api_groups or attrs.api_group in self.api_groups)
            and self._resource_matches(attrs.resource, attrs.subresource)
            and (not self.resource_names or attrs.name in self.resource_names)
        )

    def _resource_matches(self, resource: str, subresource: str) -> bool:
        combined = f"{resource}/{subresource}" if subresource else resource
        for allowed in self.resources:
            if allowed in (ALL, combined):
                return True
            if subresource and allowed == f"*/{subresource}":
                return True
        return False

    def _url_matches(self, path: str) -> bool:
        for allowed in self.non_resource_urls:
            if allowed in (ALL, path):
                return True
            if allowed.endswith("*") and path.startswith(allowed[:-1]):
                return True
        return False


def rules_of(role: Obj) -> tuple[Rule, ...]:
    """The parsed rules of a Role or ClusterRole object."""
    rules = role.get("rules")
    return tuple(Rule.from_dict(r) for r in rules if isinstance(r, dict)) if isinstance(
        rules, list) else ()


@dataclass(frozen=True)
class Subject:
    """A User, Group or ServiceAccount a binding grants its role to."""

    kind: str
    name: str
    namespace: str = ""

    def matches(self, user: str, groups: tuple[str, ...], binding_namespace: str) -> bool:
        """``appliesToUser``: a ServiceAccount without a namespace is the binding's."""
        if self.kind == "User":
            return user == self.name
        if self.kind == "Group":
            return self.name in groups
        if self.kind == "ServiceAccount":
            namespace = self.namespace or binding_namespace
            return user == f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{self.name}"
        return False


@dataclass(frozen=True)
class Binding:
    """A RoleBinding (``namespace`` set) or ClusterRoleBinding, reduced to what matching needs."""

    name: str
    namespace: str
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]

    @classmethod
    def from_dict(cls, binding: Obj) -> Binding:
        meta = binding.get("metadata") or {}
        ref = binding.get("roleRef") or {}
        subjects = tuple(
            Subject(str(s.get("kind", "")), str(s.get("name", "")), str(s.get("namespace", "")))
            for s in binding.get("subjects") or [] if isinstance(s, dict))
        return cls(str(meta.get("name", "")), str(meta.get("namespace", "")),
                   str(ref.get("kind", "")), str(ref.get("name", "")), subjects)

    def applies_to(self, user: str, groups: tuple[str, ...]) -> bool:
        return any(s.matches(user, groups, self.namespace) for s in self.subjects)

    def describe(self) -> str:
        """``RoleBinding "ns/name" of ClusterRole "view"`` style, as RBAC's allow reason."""
        if self.namespace:
            where = f'RoleBinding "{self.name}/{self.namespace}"'
        else:
            where = f'ClusterRoleBinding "{self.name}"'
        return f'{where} of {self.role_kind} "{self.role_name}"'
