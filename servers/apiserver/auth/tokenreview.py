"""``POST /apis/authentication.k8s.io/v1/tokenreviews``: is this bearer token good, and whose?

What a server that delegates authentication asks (kube-scheduler's and kube-controller-manager's
/metrics, a kubelet in webhook mode): the apiserver runs the token through its own token
authenticators (the --token-auth-file tokens, then bootstrap tokens with
--enable-bootstrap-token-auth, and service account JWTs) and answers in ``status`` —
``authenticated``, ``user`` (username, uid, groups), ``audiences`` and ``error``. The review is
answered and never stored (201); an empty ``spec.token`` is 400, as kube-apiserver answers.
A token that is refused answers ``authenticated: false`` and kube's one ``error``, ``invalid
bearer token``, whatever the reason (an expired or deleted bootstrap token included): the
reason goes to the log, as kube's bootstrap authenticator logs it, never the token.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/pkg/registry/authentication/tokenreview/storage.go
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from servers.apimachinery import errors
from servers.apiserver import codec
from servers.apiserver.auth import AuthenticationError, UserInfo
from servers.apiserver.auth.tokens import TokenAuthenticator

if TYPE_CHECKING:
    from servers.apiserver.auth.bootstrap import BootstrapTokens

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ServiceAccountReview = Callable[[str, list[str]],
                                Awaitable["tuple[UserInfo | None, list[str]] | None"]]
GROUP_VERSION = "authentication.k8s.io/v1"
PATH = f"/apis/{GROUP_VERSION}/tokenreviews"
#: kube-apiserver's --api-audiences default to the service-account issuer; km's issuer is
#: the in-cluster name kubeadm uses.
API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
TOKEN_REQUIRED = "token is required for TokenReview in authentication"
INVALID_TOKEN = "invalid bearer token"


def review(body: Obj, tokens: TokenAuthenticator | None,
           api_audiences: tuple[str, ...] = API_AUDIENCES,
           verified: tuple[UserInfo | None, list[str]] | None = None,
           bootstrap: BootstrapTokens | None = None) -> Obj:
    """The answered TokenReview for a decoded request ``body`` (400 when it has no token).

    Static and bootstrap tokens are not bound to an audience, so a good one is good for the
    server's own audiences only (kube's ``WrapAudienceAgnosticToken``): ``status.audiences``
    are those of ``spec.audiences`` (all asked when it names none) that are the server's,
    and a review asking none of them is refused. ``verified`` is a
    service account token's answer, already had: its user (None: refused) and the audiences
    it holds of those asked. ``bootstrap`` holds the bootstrap token Secrets (None: off).
    """
    if not isinstance(body, dict):
        raise errors.BadRequest("a TokenReview must be a JSON object")
    spec = body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.BadRequest(TOKEN_REQUIRED)
    if (body.get("metadata") or {}).get("namespace"):
        raise errors.BadRequest("namespace is not allowed on this type: "
                                f"{body['metadata']['namespace']}")
    asked = spec.get("audiences")
    audiences = [str(a) for a in asked] if isinstance(asked, list) and asked else \
        list(api_audiences)
    if verified is not None:
        user, audiences = verified
    else:
        audiences = [a for a in audiences if a in api_audiences]
        user = _token_user(token, tokens, bootstrap) if audiences else None
    status: Obj = {"authenticated": user is not None, "user": {}}
    if user is None:
        status["error"] = INVALID_TOKEN
    else:
        status["user"] = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            status["user"]["uid"] = user.uid
        status["audiences"] = audiences
    given = body.get("metadata")
    meta: Obj = given if isinstance(given, dict) else {}
    return {"kind": "TokenReview", "apiVersion": GROUP_VERSION,
            "metadata": {**meta, "creationTimestamp": None},
            "spec": spec, "status": status}


def _token_user(token: str, tokens: TokenAuthenticator | None,
                bootstrap: BootstrapTokens | None) -> UserInfo | None:
    """The token's user in kube's order (the token file, then bootstrap tokens); None when
    neither knows it or one refuses it (the refusal logged: who and why, never the token)."""
    user = tokens.authenticate(token) if tokens is not None else None
    if user is None and bootstrap is not None:
        try:
            user = bootstrap.authenticate(token)
        except AuthenticationError as exc:
            log.info("TokenReview: %s refused: %s", exc.who, exc)
    return user


class TokenReviews:
    """The endpoint, over the apiserver's token authenticator (None: no token is good),
    ``service_accounts``, an ``async (token, audiences) -> (user or None, audiences)`` for
    service account JWTs (servers.apiserver.tokenrequest), when they are on, and
    ``bootstrap_tokens``, the authenticator's ``BootstrapTokens`` (None: off);
    ``api_audiences`` are the server's (--api-audiences, else the issuer)."""

    def __init__(self, tokens: TokenAuthenticator | None,
                 service_accounts: ServiceAccountReview | None = None,
                 bootstrap_tokens: BootstrapTokens | None = None,
                 api_audiences: tuple[str, ...] = API_AUDIENCES) -> None:
        self.tokens = tokens if isinstance(tokens, TokenAuthenticator) else None
        self.service_accounts = service_accounts
        self.bootstrap_tokens = bootstrap_tokens
        self.api_audiences = api_audiences

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not raw:
            raise errors.BadRequest("the request has no body")
        body = codec.decode_body(raw, request.headers.get("Content-Type"), codec.BODY_TYPES)
        spec = body.get("spec") if isinstance(body, dict) else None
        token = spec.get("token") if isinstance(spec, dict) else None
        verified = None
        if self.service_accounts is not None and isinstance(token, str) and token:
            asked = spec.get("audiences") if isinstance(spec, dict) else None
            wanted = [str(a) for a in asked] if isinstance(asked, list) else []
            verified = await self.service_accounts(token, wanted)
        answer = review(body, self.tokens, self.api_audiences, verified=verified,
                        bootstrap=self.bootstrap_tokens)
        return web.Response(body=codec.encode(answer), status=201, content_type=codec.JSON)
