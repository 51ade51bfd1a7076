"""The kubelet's service account tokens for projected volumes (pkg/kubelet/token/token_manager.go).

A projected ``serviceAccountToken`` source (``audience``, ``expirationSeconds``, ``path``) is
filled with a token the kubelet asks the apiserver for through TokenRequest, bound to the pod
(name and uid), for the pod's service account; the Node authorizer lets a node ask only for
its own pods. Tokens are cached per pod, account, audience and life, and asked for again once
80 % of their life has gone (or 24 hours, whichever is first), as kube's ``requiresRefresh``
does (its jitter of up to ten seconds included); ``forget`` drops a removed pod's.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import StatusError
from servers.client.errors import ClientError
from servers.client.resources import ResourceRef

if TYPE_CHECKING:
    from servers.client.rest import Client

Obj = dict[str, Any]
SERVICEACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")
DEFAULT_EXPIRATION_SECONDS = 3600
MAX_TTL_SECONDS = 24 * 3600
MAX_JITTER_SECONDS = 10.0
#: (pod uid, service account, audience, expirationSeconds)
Key = tuple[str, str, str, int]


class TokenError(Exception):
    """A token could not be had; the message is the FailedMount event's text."""


@dataclass(frozen=True)
class Token:
    text: str
    expires: float
    seconds: int

    def needs_refresh(self, now: float, jitter: float = 0.0) -> bool:
        """Past 80 % of its life, or older than a day (less ``jitter``)."""
        issued = self.expires - self.seconds
        return now > issued + MAX_TTL_SECONDS - jitter or \
            now > self.expires - self.seconds * 0.2 - jitter


def token_sources(pod: Obj) -> list[Obj]:
    """Every projected serviceAccountToken source of the pod's volumes."""
    return [part["serviceAccountToken"]
            for volume in (pod.get("spec") or {}).get("volumes") or ()
            for part in (volume.get("projected") or {}).get("sources") or ()
            if isinstance(part, dict) and isinstance(part.get("serviceAccountToken"), dict)]


def source_key(source: Obj) -> tuple[str, int]:
    """How ``Sources.tokens`` is keyed: (audience, expirationSeconds)."""
    return (str(source.get("audience") or ""),
            int(source.get("expirationSeconds") or DEFAULT_EXPIRATION_SECONDS))


class TokenManager:
    """Asks for, caches and refreshes the tokens of pods' projected volumes."""

    def __init__(self, client: Client, *, clock: Any = time.time) -> None:
        self.client = client
        self.clock = clock
        self._cache: dict[Key, Token] = {}

    async def for_pod(self, pod: Obj) -> dict[tuple[str, int], str]:
        """The pod's tokens by (audience, expirationSeconds); TokenError if one is refused."""
        out: dict[tuple[str, int], str] = {}
        for source in token_sources(pod):
            audience, seconds = source_key(source)
            out[(audience, seconds)] = await self.token(pod, audience, seconds)
        return out

    async def token(self, pod: Obj, audience: str, seconds: int) -> str:
        meta = pod["metadata"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        key = (meta["uid"], account, audience, seconds)
        cached = self._cache.get(key)
        jitter = random.uniform(0, MAX_JITTER_SECONDS)  # spreading, not secrecy
        if cached is not None and not cached.needs_refresh(self.clock(), jitter):
            return cached.text
        try:
            fresh = await self._request(pod, account, audience, seconds)
        except (StatusError, ClientError) as exc:
            if cached is not None and self.clock() < cached.expires:
                return cached.text  # kube keeps a still-valid token when a refresh fails
            msg = f'failed to fetch token: {exc}'
            raise TokenError(msg) from None
        self._cache[key] = fresh
        return fresh.text

    async def _request(self, pod: Obj, account: str, audience: str, seconds: int) -> Token:
        meta = pod["metadata"]
        spec: Obj = {"expirationSeconds": seconds,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                        "name": meta["name"], "uid": meta["uid"]}}
        if audience:
            spec["audiences"] = [audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"name": account}, "spec": spec}
        answer = await self.client.create(SERVICEACCOUNTS, body, meta.get("namespace"),
                                          subresource="token")
        status = answer.get("status") or {}
        expires = dt.datetime.strptime(status["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
        return Token(str(status["token"]), expires.replace(tzinfo=dt.timezone.utc).timestamp(),
                     seconds)

    def forget(self, uid: str) -> None:
        """Drop a removed pod's tokens."""
        for key in [k for k in self._cache if k[0] == uid]:
            del self._cache[key]
