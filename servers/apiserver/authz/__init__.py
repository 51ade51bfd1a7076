"""Authorization: who may do what, decided per request from its attributes.

    Attributes   what one request asks (user, groups, verb, group/resource/subresource,
                 namespace, name — or a non-resource path), as kube's authorizer.Attributes
    Decision     allowed, denied, or no opinion, with the reason a log line or review reports
    Authorizer   the seam: ``authorize(attrs) -> Decision``; AlwaysAllow and Union here, RBAC
                 in ``authz.rbac`` (rules from Role/ClusterRole objects kept in memory), Node
                 in ``authz.node`` (what every kubelet needs; NodeRestriction narrows writes)

``--authorization-mode`` is a comma-separated list (``Node,RBAC``): ``Union`` asks each
authorizer in turn and the first with an opinion decides, as kube's union authorizer does.

``requestinfo`` turns an HTTP request into Attributes as kube's RequestInfoFactory does;
``http`` holds the aiohttp middleware and the access-review endpoints; ``bootstrap`` the
default roles and bindings. This module is pure data: no HTTP, no storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from servers.apimachinery import errors
from servers.apiserver.auth import (
    ANONYMOUS_USER,
    AUTHENTICATED_GROUP,
    MASTERS_GROUP,
    UNAUTHENTICATED_GROUP,
)

#: The group whose members may do everything (kube's ``user.SystemPrivilegedGroup``).
MASTERS = MASTERS_GROUP
MODES = ("AlwaysAllow", "Node", "RBAC")


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it (``resource_request`` False: ``path`` counts)."""

    user: str
    groups: tuple[str, ...]
    verb: str
    resource_request: bool = True
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    #: A list or watch's ``fieldSelector`` as sent (the Node authorizer reads spec.nodeName).
    field_selector: str = ""


@dataclass(frozen=True)
class Decision:
    """The answer for one request; ``reason`` says which binding allowed it, or why not.

    ``decided`` False is kube's ``DecisionNoOpinion``: not allowed, but the next authorizer
    of a ``Union`` is asked.
    """

    allowed: bool
    reason: str = ""
    decided: bool = True


def no_opinion(reason: str = "") -> Decision:
    """Neither allowed nor denied: let the next authorizer decide."""
    return Decision(False, reason, decided=False)


class Authorizer(Protocol):
    """Decides requests. Must not block: it answers from memory."""

    def authorize(self, attrs: Attributes) -> Decision:
        """Allowed or denied (never raises for an ordinary request)."""
        ...


class AlwaysAllow:
    """``--authorization-mode AlwaysAllow``: every request is allowed."""

    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(True, "AlwaysAllow")


class Union:
    """Several authorizers in order: the first that allows or denies decides; when none has
    an opinion the request is denied, with their reasons (kube's ``union.New``)."""

    def __init__(self, *authorizers: Authorizer) -> None:
        self.authorizers = authorizers

    def authorize(self, attrs: Attributes) -> Decision:
        reasons: list[str] = []
        for authorizer in self.authorizers:
            decision = authorizer.authorize(attrs)
            if decision.allowed:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
            if decision.decided:
                break
        return Decision(False, "\n".join(reasons))


class Privileged:
    """``system:masters`` may do anything, whatever the modes (kube puts this authorizer
    first whenever authorization is not AlwaysAllow)."""

    def authorize(self, attrs: Attributes) -> Decision:
        if MASTERS in attrs.groups:
            return Decision(True, f'member of "{MASTERS}"')
        return no_opinion()


def parse_modes(text: str) -> tuple[str, ...]:
    """``Node,RBAC`` -> ("Node", "RBAC"); ValueError for an unknown, repeated or missing mode
    (kube-apiserver's messages)."""
    modes = tuple(m.strip() for m in text.split(","))
    for mode in modes:
        if mode not in MODES:
            msg = f"authorization-mode {mode!r} is not a valid mode (one of {', '.join(MODES)})"
            raise ValueError(msg)
        if modes.count(mode) > 1:
            msg = f"authorization-mode {mode!r} has mode specified more than once"
            raise ValueError(msg)
    return modes


def effective_groups(user: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    """The user's groups plus ``system:authenticated`` (or ``system:unauthenticated`` for the
    anonymous user), which kube's authenticators add to every identity they return."""
    implied = UNAUTHENTICATED_GROUP if user == ANONYMOUS_USER.name else AUTHENTICATED_GROUP
    return groups if implied in groups else (*groups, implied)


def forbidden_message(attrs: Attributes) -> str:
    """kube's ``forbiddenMessage``: ``User "alice" cannot list resource "pods" in API group ""
    in the namespace "default"`` (or ``at the cluster scope``, or ``path "/x"``)."""
    if not attrs.resource_request:
        return f'User "{attrs.user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    head = (f'User "{attrs.user}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.api_group}"')
    if attrs.namespace:
        return f'{head} in the namespace "{attrs.namespace}"'
    return f"{head} at the cluster scope"


def forbidden(attrs: Attributes, reason: str = "") -> errors.Forbidden:
    """The 403 kube-apiserver answers a denied request with (``responsewriters.Forbidden``)."""
    why = forbidden_message(attrs) + (f": {reason}" if reason else "")
    if not attrs.resource_request:
        return errors.Forbidden(why=why)
    return errors.Forbidden(attrs.resource, attrs.name, why, group=attrs.api_group)
