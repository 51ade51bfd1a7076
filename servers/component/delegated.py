"""Delegated authentication and authorization: the apiserver decides who may read /metrics.

kube's servers (kube-scheduler, kube-controller-manager, the kubelet) do not keep users of
their own; their secure port asks the apiserver
(``k8s.io/apiserver/pkg/server/options/authentication.go``, ``authorization.go``):

* **who** — a client certificate that the TLS handshake verified against
  ``--client-ca-file`` names the user (CN) and the groups (O); otherwise a bearer token is sent
  to the apiserver in an ``authentication.k8s.io/v1`` TokenReview (``status.authenticated``,
  ``status.user``). No credentials, or a token the apiserver does not know: 401.
* **may they** — an ``authorization.k8s.io/v1`` SubjectAccessReview for that user, the verb of
  the request and ``nonResourceAttributes.path``: allowed, or 403. A review that fails (the
  apiserver is away) is a 500, as kube's ``WithAuthorization`` answers.

Answers are cached briefly, as kube's delegating authenticator and authorizer do (10 s for
token reviews and for both allowed and denied decisions), so a Prometheus scraping every few
seconds costs the apiserver little. Tokens are kept only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from servers.apimachinery.errors import StatusError
from servers.client.errors import ClientError

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.client.rest import Client

__all__ = ["CACHE_TTL", "Decision", "DelegatedAuth", "ReviewFailed", "User",
           "user_of_subject"]

Obj = dict[str, Any]
CACHE_TTL = 10.0  # --authentication-token-webhook-cache-ttl, --authorization-webhook-cache-*
CACHE_SIZE = 1024
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
# k8s.io/apiserver/pkg/endpoints/request/requestinfo.go: HTTP method -> verb for paths.
VERBS = {"GET": "get", "HEAD": "get", "POST": "post", "PUT": "put", "PATCH": "patch",
         "DELETE": "delete", "OPTIONS": "options"}

K = TypeVar("K")
V = TypeVar("V")


class ReviewFailed(Exception):
    """The apiserver could not be asked (the request then fails with 500 or 401)."""


@dataclass(frozen=True)
class User:
    """An authenticated caller, as kube's ``user.Info``."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def user_of_subject(subject: Any) -> User | None:
    """The user of a verified peer certificate's subject (``ssl`` ``getpeercert()`` form):
    CN is the name, every O a group (kube's ``CommonNameUserConversion``)."""
    names: list[str] = []
    groups: list[str] = []
    for rdn in subject or ():
        for key, value in rdn:
            if key == "commonName":
                names.append(str(value))
            elif key == "organizationName":
                groups.append(str(value))
    if not names or not names[0]:
        return None
    return User(names[0], tuple(groups))


class _Cache(Generic[K, V]):
    """A small map whose entries expire after ``ttl`` seconds; the oldest go first when full."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self.clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class DelegatedAuth:
    """TokenReview and SubjectAccessReview through ``client``, with short-lived caches."""

    def __init__(self, client: Client, *, ttl: float = CACHE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        # A 1-tuple, so that "this token is no good" can be cached too (as kube does).
        self._tokens: _Cache[str, tuple[User | None]] = _Cache(ttl, CACHE_SIZE, clock)
        self._decisions: _Cache[tuple[User, str, str], Decision] = _Cache(
            ttl, CACHE_SIZE, clock)
        self.reviews = 0  # requests sent to the apiserver (the caches' effect is testable)

    async def authenticate_token(self, token: str) -> User | None:
        """The user the apiserver says ``token`` belongs to; ``None`` when it is no good.

        Raises ``ReviewFailed`` when the apiserver cannot be asked.
        """
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._tokens.get(key)
        if cached is not None:
            return cached[0]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": {"token": token}}
        status = await self._review(TOKEN_REVIEWS, body)
        user = _user_of_review(status) if status.get("authenticated") is True else None
        self._tokens.put(key, (user,))
        return user

    async def authorize(self, user: User, verb: str, path: str) -> Decision:
        """May ``user`` do ``verb`` on the non-resource ``path``? (``ReviewFailed`` if unknown.)"""
        key = (user, verb, path)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        spec: Obj = {"user": user.name, "groups": list(user.groups),
                     "nonResourceAttributes": {"path": path, "verb": verb}}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": spec}
        status = await self._review(ACCESS_REVIEWS, body)
        decision = Decision(status.get("allowed") is True and status.get("denied") is not True,
                            str(status.get("reason") or ""))
        self._decisions.put(key, decision)
        return decision

    async def _review(self, path: str, body: Obj) -> Obj:
        self.reviews += 1
        try:
            answer = await self.client.request("POST", path, body=body)
        except (StatusError, ClientError) as exc:
            raise ReviewFailed(f"{body['kind']}: {exc}") from exc
        status = answer.get("status") if isinstance(answer, dict) else None
        if not isinstance(status, dict):
            msg = f"{body['kind']}: the apiserver answered without a status"
            raise ReviewFailed(msg)
        return status


def _user_of_review(status: Obj) -> User | None:
    user = status.get("user")
    if not isinstance(user, dict) or not user.get("username"):
        return None
    extra = user.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    return User(str(user["username"]), tuple(str(g) for g in user.get("groups") or ()),
                str(user.get("uid") or ""),
                tuple(sorted((str(k), tuple(str(x) for x in v or ())) for k, v in extra.items())))
