"""The RBAC authorizer: Roles, ClusterRoles and their bindings, evaluated from memory.

``Policy`` holds the four RBAC resources in parsed form, keyed like storage; ``cache`` keeps it
current by listing and watching them through the registry. ``RBACAuthorizer.authorize`` then
answers each request without touching storage:

* members of ``system:masters`` may do everything (kube's privileged-group authorizer);
* every ClusterRoleBinding naming the user or one of their groups grants its ClusterRole's
  rules everywhere;
* every RoleBinding in the request's namespace naming them grants its Role's (same namespace)
  or ClusterRole's rules in that namespace only.

Rules only ever add permissions (no deny rules), so the first matching rule decides. A
ClusterRole with an ``aggregationRule`` has the rules of the ClusterRoles it selects.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/auth/authorizer/rbac/rbac.go
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from servers.apimachinery import errors
from servers.apimachinery.selectors import NOTHING, LabelSelector, label_selector_from_object
from servers.apiserver.authz import MASTERS, Attributes, Decision, effective_groups
from servers.apiserver.authz.rules import Binding, Rule, rules_of

Obj = dict[str, Any]
ROLES, ROLE_BINDINGS = "roles", "rolebindings"
CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS = "clusterroles", "clusterrolebindings"
PLURALS = (CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS)
DECISIONS_KEPT = 4096  # remembered decisions; all are forgotten when the policy changes


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _selector(selector: Any) -> LabelSelector:
    try:
        return label_selector_from_object(selector)
    except errors.StatusError:
        return NOTHING


class Policy:
    """The RBAC objects, parsed: rules by role, bindings by namespace ("" for cluster)."""

    def __init__(self) -> None:
        self.roles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self.cluster_roles: dict[str, tuple[Rule, ...]] = {}
        self.bindings: dict[str, dict[str, Binding]] = {}  # namespace -> name -> binding
        self._labels: dict[str, Obj] = {}  # cluster role -> its labels
        self._selectors: dict[str, tuple[LabelSelector, ...]] = {}  # aggregated roles
        self._aggregated: dict[str, tuple[Rule, ...]] = {}  # computed on demand
        self._versions: dict[tuple[str, str, str], int] = {}  # (plural, ns, name) -> rv
        self.generation = 0  # counts changes, so answers derived from the policy can be kept

    def _newer(self, plural: str, obj: Obj) -> bool:
        """False for a version older than one already applied (a late write-through)."""
        key = (plural, *_key(obj))
        try:
            rv = int((obj.get("metadata") or {}).get("resourceVersion") or 0)
        except (TypeError, ValueError):
            rv = 0
        if rv and rv < self._versions.get(key, 0):
            return False
        if rv:
            self._versions[key] = rv
        return True

    def _put_cluster_role(self, name: str, obj: Obj) -> None:
        self.cluster_roles[name] = rules_of(obj)
        self._labels[name] = (obj.get("metadata") or {}).get("labels") or {}
        aggregation = obj.get("aggregationRule")
        if isinstance(aggregation, dict):
            self._selectors[name] = tuple(
                _selector(s) for s in aggregation.get("clusterRoleSelectors") or [])
        else:
            self._selectors.pop(name, None)
        self._aggregated.clear()

    def _forget_cluster_role(self, name: str) -> None:
        for table in (self.cluster_roles, self._labels, self._selectors):
            table.pop(name, None)
        self._aggregated.clear()

    def cluster_role_rules(self, name: str) -> tuple[Rule, ...] | None:
        """A ClusterRole's rules; for one with an ``aggregationRule``, the rules of every
        ClusterRole its selectors match (what kube's aggregation controller would write into
        it — km evaluates it here instead of rewriting the object)."""
        selectors = self._selectors.get(name)
        if selectors is None:
            return self.cluster_roles.get(name)
        if name not in self._aggregated:
            self._aggregated[name] = tuple(dict.fromkeys(
                rule for other, rules in self.cluster_roles.items()
                if other != name and other not in self._selectors
                and any(s.matches(self._labels.get(other)) for s in selectors)
                for rule in rules))
        return self._aggregated[name]

    def put(self, plural: str, obj: Obj) -> None:
        """Add or replace one object of resource ``plural`` (unless a newer one is known)."""
        if not self._newer(plural, obj):
            return
        self.generation += 1
        namespace, name = _key(obj)
        if plural == ROLES:
            self.roles[namespace, name] = rules_of(obj)
        elif plural == CLUSTER_ROLES:
            self._put_cluster_role(name, obj)
        elif plural in (ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS):
            scope = namespace if plural == ROLE_BINDINGS else ""
            binding = Binding.from_dict(obj)
            self.bindings.setdefault(scope, {})[name] = binding

    def remove(self, plural: str, obj: Obj) -> None:
        """Forget one object (a delete; its resourceVersion is the delete's revision)."""
        if not self._newer(plural, obj):
            return
        self.generation += 1
        namespace, name = _key(obj)
        if plural == ROLES:
            self.roles.pop((namespace, name), None)
        elif plural == CLUSTER_ROLES:
            self._forget_cluster_role(name)
        elif plural in (ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS):
            scope = namespace if plural == ROLE_BINDINGS else ""
            self.bindings.get(scope, {}).pop(name, None)

    def replace(self, plural: str, objs: list[Obj]) -> None:
        """Set every object of ``plural`` at once (after a list)."""
        self._versions = {k: v for k, v in self._versions.items() if k[0] != plural}
        self.generation += 1
        if plural == ROLES:
            self.roles.clear()
        elif plural == CLUSTER_ROLES:
            for name in list(self.cluster_roles):
                self._forget_cluster_role(name)
        else:
            cluster = plural == CLUSTER_ROLE_BINDINGS
            for scope in [s for s in self.bindings if (s == "") == cluster]:
                del self.bindings[scope]
        for obj in objs:
            self.put(plural, obj)

    def role_rules(self, kind: str, namespace: str, name: str) -> tuple[Rule, ...] | None:
        """The rules of a ClusterRole, or of a Role in ``namespace``; None when unknown."""
        if kind == "ClusterRole":
            return self.cluster_role_rules(name)
        if kind == "Role" and namespace:
            return self.roles.get((namespace, name))
        return None

    def _role_rules(self, binding: Binding) -> tuple[Rule, ...]:
        return self.role_rules(binding.role_kind, binding.namespace, binding.role_name) or ()

    def grants(self, user: str, groups: tuple[str, ...], namespace: str
               ) -> Iterator[tuple[Binding, tuple[Rule, ...]]]:
        """Each binding that applies to the user for a request in ``namespace``, with its
        role's rules: cluster bindings first, then the namespace's own."""
        scopes = ("", namespace) if namespace else ("",)
        for scope in scopes:
            for binding in self.bindings.get(scope, {}).values():
                if binding.applies_to(user, groups):
                    yield binding, self._role_rules(binding)


class RBACAuthorizer:
    """``--authorization-mode RBAC``: allow what some binding of the user grants."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else Policy()
        self._decisions: dict[Attributes, Decision] = {}
        self._generation = self.policy.generation

    def authorize(self, attrs: Attributes) -> Decision:
        """The decision for ``attrs``, remembered until the policy changes: clients repeat
        the same few requests (a controller's creates, a kubelet's status writes), and
        walking every binding for each costs a tenth of a create's time."""
        if self._generation != self.policy.generation:
            self._decisions.clear()
            self._generation = self.policy.generation
        decision = self._decisions.get(attrs)
        if decision is None:
            decision = self._decide(attrs)
            if len(self._decisions) >= DECISIONS_KEPT:
                self._decisions.clear()
            self._decisions[attrs] = decision
        return decision

    def _decide(self, attrs: Attributes) -> Decision:
        groups = effective_groups(attrs.user, attrs.groups)
        if MASTERS in groups:
            return Decision(True, f'member of "{MASTERS}"')
        for binding, rules in self.policy.grants(attrs.user, groups, attrs.namespace):
            if any(rule.allows(attrs) for rule in rules):
                return Decision(True, f"RBAC: allowed by {binding.describe()}")
        return Decision(False, "")

    def rules_for(self, user: str, groups: tuple[str, ...], namespace: str) -> list[Rule]:
        """Every rule that applies to the user in ``namespace`` (for rules reviews)."""
        groups = effective_groups(user, groups)
        return [r for _, rules in self.policy.grants(user, groups, namespace) for r in rules]
