"""Table rows of the RBAC kinds, as kube-apiserver's printers give them.

Roles and ClusterRoles: Name, Created At (RFC 3339). RoleBindings and ClusterRoleBindings:
Name, Role (``ClusterRole/view``), Age, and with ``-o wide`` Users, Groups, ServiceAccounts
(``namespace/name``). See ``printRole``, ``printRoleBinding`` and ``rbac.SubjectsStrings`` in
k8s.io/kubernetes pkg/printers/internalversion/printers.go at v1.32.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.apiserver.kinds.printers import age

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def role_row(role: Obj, now: datetime) -> list[Any]:
    """Name, Created At."""
    meta = _meta(role)
    return [meta.get("name", ""), meta.get("creationTimestamp") or ""]


def subjects_strings(binding: Obj) -> tuple[str, str, str]:
    """Users, groups and service accounts (``ns/name``) of a binding, each joined by ", "."""
    users, groups, accounts = [], [], []
    for subject in binding.get("subjects") or []:
        if not isinstance(subject, dict):
            continue
        kind, name = subject.get("kind"), str(subject.get("name", ""))
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
    return ", ".join(users), ", ".join(groups), ", ".join(accounts)


def binding_row(binding: Obj, now: datetime) -> list[Any]:
    """Name, Role, Age, Users, Groups, ServiceAccounts."""
    ref = binding.get("roleRef") or {}
    return [_meta(binding).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            age(_meta(binding).get("creationTimestamp"), now), *subjects_strings(binding)]
