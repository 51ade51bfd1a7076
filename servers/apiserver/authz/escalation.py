"""RBAC's escalation check: nobody grants permissions they do not hold themselves.

Under RBAC, a user may write a Role or ClusterRole only if its rules are covered by the rules
they already have (in the role's namespace; cluster-wide for a ClusterRole), or if they may
``escalate`` on roles; and may write a binding only if the referenced role's rules are covered
by theirs in the binding's namespace, or if they may ``bind`` that role. ``system:masters``
may do anything. Without this, anyone allowed to create RoleBindings could bind themselves
to ``cluster-admin``.

The authorization middleware records who is asking (``requester``); admission calls ``check``
on every create and update of an RBAC object, patches included. Writes nobody asked for over
HTTP (the bootstrap policy) and every write under AlwaysAllow are not checked.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/pkg/registry/rbac/escalation_check.go
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from servers.apimachinery import errors
from servers.apiserver.authz import MASTERS, Attributes, effective_groups
from servers.apiserver.authz.rbac import RBACAuthorizer
from servers.apiserver.authz.rules import RBAC_GROUP, Binding, Rule, rules_of

if TYPE_CHECKING:
    from servers.apiserver.auth import UserInfo
    from servers.apiserver.resources import Resource

Obj = dict[str, Any]
_REQUESTER: contextvars.ContextVar[tuple[UserInfo, RBACAuthorizer] | None] = (
    contextvars.ContextVar("km_rbac_requester", default=None))


def requester(user: UserInfo, authorizer: RBACAuthorizer) -> contextvars.Token[Any]:
    """Record the user of the request being served (reset with the returned token)."""
    return _REQUESTER.set((user, authorizer))


def reset(token: contextvars.Token[Any]) -> None:
    _REQUESTER.reset(token)


def atoms(rule: Rule) -> Iterator[Attributes]:
    """One request per verb, group, resource and name a rule allows (``Covers`` breaks rules
    down the same way); ``*`` stays literal, so only a ``*`` covers it."""
    verbs = sorted(rule.verbs)
    if rule.non_resource_urls:
        for url in rule.non_resource_urls:
            for verb in verbs:
                yield Attributes("", (), verb, resource_request=False, path=url)
        return
    for group in sorted(rule.api_groups):
        for combined in rule.resources:
            resource, _, sub = combined.partition("/")
            for name in sorted(rule.resource_names) or [""]:
                for verb in verbs:
                    yield Attributes("", (), verb, api_group=group, resource=resource,
                                     subresource=sub, name=name)


def uncovered(owner: list[Rule], wanted: tuple[Rule, ...]) -> list[Attributes]:
    """The parts of ``wanted`` that no rule of ``owner`` allows."""
    return [a for rule in wanted for a in atoms(rule) if not any(o.allows(a) for o in owner)]


def _describe(a: Attributes) -> str:
    if not a.resource_request:
        return f"{{NonResourceURLs:[{json.dumps(a.path)}], Verbs:[{json.dumps(a.verb)}]}}"
    resource = a.resource + (f"/{a.subresource}" if a.subresource else "")
    names = f", ResourceNames:[{json.dumps(a.name)}]" if a.name else ""
    return (f"{{APIGroups:[{json.dumps(a.api_group)}], Resources:[{json.dumps(resource)}]"
            f"{names}, Verbs:[{json.dumps(a.verb)}]}}")


def check(resource: Resource, obj: Obj) -> None:
    """Raise Forbidden when the requesting user would grant more than they hold."""
    current = _REQUESTER.get()
    if current is None or resource.group != RBAC_GROUP:
        return
    user, rbac = current
    groups = effective_groups(user.name, user.groups)
    if MASTERS in groups:
        return
    meta = obj.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    if resource.kind in ("Role", "ClusterRole"):
        bypass = Attributes(user.name, user.groups, "escalate", api_group=RBAC_GROUP,
                            resource=resource.plural, namespace=namespace, name=name)
        wanted: tuple[Rule, ...] | None = rules_of(obj)
    else:
        ref = Binding.from_dict(obj)
        plural = "clusterroles" if ref.role_kind == "ClusterRole" else "roles"
        bypass = Attributes(user.name, user.groups, "bind", api_group=RBAC_GROUP,
                            resource=plural, namespace=namespace, name=ref.role_name)
        wanted = rbac.policy.role_rules(ref.role_kind, namespace, ref.role_name)
    if rbac.authorize(bypass).allowed:
        return
    who = f'user "{user.name}" (groups={json.dumps(list(groups), separators=(",", ":"))})'
    if wanted is None:
        raise errors.Forbidden(resource.plural, name, f"{who} cannot bind to a role that "
                               "does not exist", group=RBAC_GROUP)
    missing = uncovered(rbac.rules_for(user.name, user.groups, namespace), wanted)
    if missing:
        raise errors.Forbidden(resource.plural, name, f"{who} is attempting to grant RBAC "
                               "permissions not currently held:\n"
                               + "\n".join(_describe(a) for a in missing), group=RBAC_GROUP)
