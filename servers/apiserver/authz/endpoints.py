"""Authorization on the HTTP side: the middleware that judges every request, and the
access-review endpoints ``kubectl auth can-i`` asks.

    POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews   may I ...?
    POST /apis/authorization.k8s.io/v1/subjectaccessreviews       may user U (groups G) ...?
    POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews    what may I do in namespace N?
    POST .../v1/namespaces/N/localsubjectaccessreviews             may U ... in namespace N?

Reviews are answered and never stored (201 with ``status.allowed``). ``Authorization``
bundles what one apiserver needs for its ``--authorization-mode`` (a list such as
``Node,RBAC``): the authorizers in a ``Union``, under RBAC the policy cache (started and
stopped by the app's ``cleanup_ctx``), and the middleware, which also honours
``Impersonate-User``/``Impersonate-Group`` (``impersonation``) and, under Node, marks a node's
requests for NodeRestriction (``noderestriction``). Under AlwaysAllow alone there is no
middleware at all, so requests pay nothing for it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from servers.apimachinery import errors, field, jsonio
from servers.apiserver import codec
from servers.apiserver.auth import ANONYMOUS_USER, USER_KEY, UserInfo
from servers.apiserver.authz import (
    MASTERS,
    AlwaysAllow,
    Attributes,
    Authorizer,
    Privileged,
    Union,
    effective_groups,
    escalation,
    forbidden,
    forbidden_message,
    impersonation,
    nodegraph,
    noderestriction,
    parse_modes,
    requestinfo,
)
from servers.apiserver.authz.cache import PolicyCache
from servers.apiserver.authz.node import NodeAuthorizer, node_identity
from servers.apiserver.authz.rbac import PLURALS, Policy, RBACAuthorizer
from servers.apiserver.authz.rules import RBAC_GROUP, Rule
from servers.apiserver.mirror import Mirror
from servers.apiserver.registry import Registry
from servers.apiserver.resources import AUTHORIZATION, GroupVersionKind
from servers.apiserver.schemas import schema_name, schemas
from servers.apiserver.schemas.check import check

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GROUP_VERSION = "authorization.k8s.io/v1"


def user_of(request: web.Request) -> UserInfo:
    """The identity authentication put on the request (anonymous when there is none)."""
    user = request.get(USER_KEY)
    return user if isinstance(user, UserInfo) else ANONYMOUS_USER


class Authorization:
    """The authorizer of one apiserver, its middleware and its review endpoints."""

    def __init__(self, mode: str, registry: Registry) -> None:
        self.mode = mode
        self.modes = parse_modes(mode)
        self.cache: PolicyCache | None = None
        self.rbac: RBACAuthorizer | None = None
        self.node: NodeAuthorizer | None = None
        self.graph: Mirror | None = None
        chain: list[Authorizer] = []
        for name in self.modes:
            if name == "RBAC":
                policy = Policy()
                self.cache = PolicyCache(registry, policy)
                self.rbac = RBACAuthorizer(policy)
                chain.append(self.rbac)
            elif name == "Node":
                graph = nodegraph.NodeGraph()
                self.graph = nodegraph.feed(registry, graph)
                self.node = NodeAuthorizer(graph)
                chain.append(self.node)
            else:
                chain.append(AlwaysAllow())
        self.checks = self.modes != ("AlwaysAllow",)
        self.authorizer: Authorizer = Union(Privileged(), *chain) if self.checks else chain[0]

    @property
    def middlewares(self) -> list[Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]]:
        """What to put in the app's middleware chain, after authentication."""
        return [self._authorize] if self.checks else []

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """A ``cleanup_ctx``: keeps the RBAC policy cache and the Node authorizer's graph
        running while the app serves; requests wait for their first full list."""
        feeds = [f for f in (self.cache, self.graph) if f is not None]
        for feed in feeds:
            feed.start()
        try:
            for feed in feeds:
                await feed.synced()
            if self.cache is None:
                log.info("authorization: %s", ",".join(self.modes))
            else:
                policy = self.cache.policy
                log.info("authorization: %s (%d cluster roles, %d roles, %d bindings)",
                         ",".join(self.modes), len(policy.cluster_roles), len(policy.roles),
                         sum(len(b) for b in policy.bindings.values()))
            yield
        finally:
            for feed in feeds:
                await feed.close()

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        user = user_of(request)
        try:
            acting = impersonation.impersonated(request.headers,
                                                request.headers.getall(impersonation.GROUP, []),
                                                user, self.authorizer)
        except errors.Forbidden as exc:
            log.info("forbidden: %s (impersonation; %s %s)", exc.message, request.method,
                     request.path_qs)
            raise
        if acting is not None:
            log.debug("user %r acts as %r (groups %s)", user.name, acting.name, acting.groups)
            with warnings.catch_warnings():  # USER_KEY is a plain string (auth is stdlib-only)
                warnings.simplefilter("ignore", web.NotAppKeyWarning)
                request[USER_KEY] = user = acting
        attrs = requestinfo.attributes(request.method, request.path, request.query, user.name,
                                       user.groups)
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:  # who, what, why: one line
            log.info("forbidden: %s (groups=%s; %s %s): %s", forbidden_message(attrs),
                     ",".join(user.groups) or "-", request.method, request.path_qs,
                     decision.reason or "no RoleBinding or ClusterRoleBinding of the user or "
                     "its groups grants it")
            raise forbidden(attrs, decision.reason)
        log.debug("allowed: user %r %s %s: %s", user.name, request.method, request.path,
                  decision.reason)
        node, is_node = node_identity(user.name, user.groups)
        if self.node is None or not is_node:
            return await self._serve(request, handler, attrs, user)
        token = noderestriction.requester(node)  # a node's writes pass NodeRestriction
        try:
            return await self._serve(request, handler, attrs, user)
        except errors.Forbidden as exc:  # logged like a denial: who, what, why
            log.info('forbidden: User "%s" (groups=%s; %s %s): NodeRestriction: %s', user.name,
                     ",".join(user.groups) or "-", request.method, request.path_qs, exc.message)
            raise
        finally:
            noderestriction.reset(token)

    async def _serve(self, request: web.Request, handler: Handler, attrs: Attributes,
                     user: UserInfo) -> web.StreamResponse:
        if self.rbac is None or attrs.api_group != RBAC_GROUP:
            return await handler(request)
        token = escalation.requester(user, self.rbac)
        try:
            response = await handler(request)
        finally:
            escalation.reset(token)
        self._write_through(request, attrs, response)
        return response

    def _write_through(self, request: web.Request, attrs: Attributes,
                       response: web.StreamResponse) -> None:
        """Apply an RBAC object this server just stored at once, rather than when its watch
        event arrives: a Role created by one request is known to the next (the binding that
        ``kubectl create -f`` sends right after it must pass the escalation check)."""
        if (self.cache is None or attrs.resource not in PLURALS or attrs.subresource
                or request.method not in ("POST", "PUT", "PATCH")
                or response.status not in (200, 201) or "dryRun" in request.query
                or not isinstance(response, web.Response)
                or not isinstance(response.body, bytes)):
            return
        obj = jsonio.loads(response.body)
        if isinstance(obj, dict) and obj.get("kind") != "Status":
            self.cache.policy.put(attrs.resource, obj)

    # -- access reviews ----------------------------------------------------------------------

    async def self_subject_access_review(self, request: web.Request) -> web.Response:
        review = await _review_body(request, "SelfSubjectAccessReview")
        user = user_of(request)
        return self._answer(review, user.name, user.groups)

    async def subject_access_review(self, request: web.Request) -> web.Response:
        return self._for_subject(await _review_body(request, "SubjectAccessReview"))

    async def local_subject_access_review(self, request: web.Request) -> web.Response:
        """A SubjectAccessReview confined to the namespace in the path."""
        review = await _review_body(request, "LocalSubjectAccessReview")
        namespace = request.match_info["namespace"]
        spec = review["spec"]
        if "nonResourceAttributes" in spec:
            raise _invalid(review, [field.invalid("spec.nonResourceAttributes",
                                                  spec["nonResourceAttributes"],
                                                  "disallowed on this kind of request")])
        asked = spec["resourceAttributes"].get("namespace") or ""
        if asked != namespace:
            raise errors.BadRequest(f"spec.resourceAttributes.namespace must equal namespace: "
                                    f'"{asked}" != "{namespace}"')
        review.setdefault("metadata", {})["namespace"] = namespace
        return self._for_subject(review)

    def _for_subject(self, review: Obj) -> web.Response:
        spec = review["spec"]
        user, groups = spec.get("user") or "", tuple(spec.get("groups") or ())
        if not user and not groups:
            raise _invalid(review, [field.invalid("spec.user", user, "at least one of user or "
                                                  "group must be specified")])
        return self._answer(review, user, groups)

    async def self_subject_rules_review(self, request: web.Request) -> web.Response:
        """What may I do in ``spec.namespace``? (``kubectl auth can-i --list``)."""
        review = await _read(request, "SelfSubjectRulesReview")
        user = user_of(request)
        if self.checks:
            namespace = str(review["spec"].get("namespace") or "")
            rules = self.rules_for(user, namespace)
        else:
            rules = [EVERYTHING, EVERY_URL]
        review["status"] = {
            "resourceRules": [_resource_rule(r) for r in rules if not r.non_resource_urls],
            "nonResourceRules": [{"verbs": sorted(r.verbs),
                                  "nonResourceURLs": list(r.non_resource_urls)}
                                 for r in rules if r.non_resource_urls],
            # A node's reads are narrowed by the graph, which rules cannot say (kube: the
            # Node authorizer's rules are incomplete).
            "incomplete": self.node is not None and node_identity(user.name, user.groups)[1]}
        return _created(review)

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        """What the modes grant the user in ``namespace``: a node's rules, then RBAC's."""
        if MASTERS in effective_groups(user.name, user.groups):
            return [EVERYTHING, EVERY_URL]
        rules = self.node.rules_for(user.name, user.groups) if self.node is not None else []
        if self.rbac is not None:
            rules += self.rbac.rules_for(user.name, user.groups, namespace)
        if "AlwaysAllow" in self.modes:
            rules += [EVERYTHING, EVERY_URL]
        return rules

    def _answer(self, review: Obj, user: str, groups: tuple[str, ...]) -> web.Response:
        decision = self.authorizer.authorize(review_attributes(review["spec"], user, groups))
        status: Obj = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        review["status"] = status
        return _created(review)


EVERYTHING = Rule(frozenset("*"), frozenset("*"), ("*",))
EVERY_URL = Rule(frozenset("*"), non_resource_urls=("*",))


def _created(review: Obj) -> web.Response:
    review.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    return web.Response(body=codec.encode(review), status=201, content_type=codec.JSON)


def _resource_rule(rule: Rule) -> Obj:
    out: Obj = {"verbs": sorted(rule.verbs), "apiGroups": sorted(rule.api_groups),
                "resources": list(rule.resources)}
    if rule.resource_names:
        out["resourceNames"] = sorted(rule.resource_names)
    return out


def review_attributes(spec: Obj, user: str, groups: tuple[str, ...]) -> Attributes:
    """The Attributes a review asks about (kube's ``ResourceAttributesFrom``)."""
    res = spec.get("resourceAttributes")
    if isinstance(res, dict):
        return Attributes(user, groups, str(res.get("verb") or ""),
                          api_group=str(res.get("group") or ""),
                          api_version=str(res.get("version") or ""),
                          resource=str(res.get("resource") or ""),
                          subresource=str(res.get("subresource") or ""),
                          namespace=str(res.get("namespace") or ""),
                          name=str(res.get("name") or ""))
    non = spec.get("nonResourceAttributes") or {}
    return Attributes(user, groups, str(non.get("verb") or ""), resource_request=False,
                      path=str(non.get("path") or ""))


async def _read(request: web.Request, kind: str) -> Obj:
    body = codec.decode_body(await request.read(), request.headers.get("Content-Type"),
                             codec.BODY_TYPES)  # kubectl auth can-i sends protobuf
    if not isinstance(body, dict):
        raise errors.BadRequest(f"a {kind} must be a JSON object")
    findings = check(schemas(), schema_name(GroupVersionKind(AUTHORIZATION, "v1", kind)), body)
    if findings.type_errors:
        raise errors.BadRequest(findings.type_errors[0])
    body["apiVersion"], body["kind"] = GROUP_VERSION, kind
    if not isinstance(body.get("spec"), dict):
        body["spec"] = {}
    return body


async def _review_body(request: web.Request, kind: str) -> Obj:
    body = await _read(request, kind)
    spec = body["spec"]
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if res is not None and non is not None:
        raise _invalid(body, [field.invalid("spec.nonResourceAttributes", non, "cannot be "
                                            "specified in combination with resourceAttributes")])
    if res is None and non is None:
        raise _invalid(body, [field.invalid("spec.resourceAttributes", None, "exactly one of "
                                            "nonResourceAttributes or resourceAttributes must "
                                            "be specified")])
    return body


def _invalid(review: Obj, causes: list[field.Cause]) -> errors.Invalid:
    name = str((review.get("metadata") or {}).get("name") or "")
    return errors.Invalid(review["kind"], name, causes, group=AUTHORIZATION)
