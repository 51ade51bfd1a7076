"""Impersonation (``kubectl --as alice --as-group devs``): act as another user, if allowed.

The ``Impersonate-User`` and ``Impersonate-Group`` headers name who the request should run as;
the authenticated user needs the ``impersonate`` verb on ``users`` (``serviceaccounts`` for
``system:serviceaccount:NS:NAME``) and ``groups`` of those names. The request is then
authorized, and its reviews answered, as the impersonated user. Other ``Impersonate-*``
headers (uid, extra) are refused with 400 rather than ignored.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go
"""

from __future__ import annotations

from collections.abc import Mapping

from servers.apimachinery import errors
from servers.apiserver.auth import ANONYMOUS_USER, UserInfo, authenticated
from servers.apiserver.authz import Attributes, Authorizer, forbidden
from servers.apiserver.authz.rules import SERVICE_ACCOUNT_PREFIX

USER = "Impersonate-User"
GROUP = "Impersonate-Group"
PREFIX = "impersonate-"


def _target(name: str, resource: str) -> tuple[str, str, str]:
    """(resource, namespace, name) the impersonate verb is checked on."""
    if resource == "users" and name.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace, _, account = name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return "serviceaccounts", namespace, account
    return resource, "", name


def impersonated(headers: Mapping[str, str], groups_of: list[str], actor: UserInfo,
                 authorizer: Authorizer) -> UserInfo | None:
    """The user to act as (None without impersonation headers); Forbidden if not allowed."""
    user = headers.get(USER)
    others = [h for h in headers if h.lower().startswith(PREFIX)
              and h.lower() not in (USER.lower(), GROUP.lower())]
    if user is None:
        if groups_of or others:
            raise errors.BadRequest("requested impersonation of groups or extras without "
                                    "impersonating a user")
        return None
    if others:
        raise errors.BadRequest(f"impersonation header {others[0]} is not supported")
    for name, resource in [(user, "users"), *((g, "groups") for g in groups_of)]:
        kind, namespace, object_name = _target(name, resource)
        attrs = Attributes(actor.name, actor.groups, "impersonate", resource=kind,
                           namespace=namespace, name=object_name)
        if not authorizer.authorize(attrs).allowed:
            raise forbidden(attrs)
    if user == ANONYMOUS_USER.name:
        return UserInfo(user, tuple(groups_of))
    if user.startswith(SERVICE_ACCOUNT_PREFIX):
        namespace = user.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")[0]
        groups_of = [*groups_of, "system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return authenticated(user, groups_of)
