"""Bootstrap tokens: ``Bearer <id>.<secret>`` checked against Secrets in kube-system.

A bootstrap token is a Secret of type ``bootstrap.kubernetes.io/token`` named
``bootstrap-token-<id>`` in ``kube-system`` with ``token-id``, ``token-secret``,
``usage-bootstrap-authentication: "true"`` and, optionally, ``expiration`` (RFC 3339) and
``auth-extra-groups`` (``system:bootstrappers:...``, comma separated). A good token is the
user ``system:bootstrap:<id>`` in ``system:bootstrappers`` plus the extra groups (sorted, as
kube's set). Nodes join with it (kubeadm join, k3s agent, ``km minion``).

``BootstrapTokens`` holds what the Secrets say, fed by ``put``/``remove``/``replace`` (the
list and watch is a ``mirror.Mirror``): a request costs a dict lookup and one constant-time
compare, no storage read. A token of another shape is not ours (None: other authenticators
may know it); a token of our shape that no Secret accepts is refused with the reason (never
the secret). Standard library only: the token cleaner and the all-in-one use the helpers too.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/auth/authenticator/token/bootstrap/bootstrap.go
and staging/src/k8s.io/cluster-bootstrap/token/api/types.go (the names).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from servers.apimachinery.meta import parse_rfc3339
from servers.apiserver.auth import AuthenticationError, UserInfo, authenticated

Obj = dict[str, Any]

NAMESPACE = "kube-system"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
TOKEN_ID = "token-id"
TOKEN_SECRET = "token-secret"
EXPIRATION = "expiration"
USAGE_AUTHENTICATION = "usage-bootstrap-authentication"
USAGE_SIGNING = "usage-bootstrap-signing"
EXTRA_GROUPS = "auth-extra-groups"
DESCRIPTION = "description"
TOKEN = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
_GROUP_NAME = re.compile(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]")


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a token of the bootstrap shape, else None."""
    match = TOKEN.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def data(secret: Obj, key: str) -> str:
    """One member of a Secret's ``data``, decoded ("" when absent or not base64)."""
    value = (secret.get("data") or {}).get(key)
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return ""


def expiration(secret: Obj) -> datetime | None:
    """When the token ends; None for never. An expiration that is no RFC 3339 time counts
    as already past (kube's ``HasExpired`` refuses such a token)."""
    text = data(secret, EXPIRATION)
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def expired(secret: Obj, now: datetime | None = None) -> bool:
    ends = expiration(secret)
    return ends is not None and (now or datetime.now(timezone.utc)) > ends


def groups(secret: Obj) -> tuple[str, ...]:
    """``system:bootstrappers`` and the extra groups, sorted; ValueError for a bad name."""
    found = {GROUP}
    extra = data(secret, EXTRA_GROUPS)
    for group in extra.split(",") if extra else ():
        if not _GROUP_NAME.fullmatch(group):
            msg = f"{group!r} does not match {_GROUP_NAME.pattern}"
            raise ValueError(msg)
        found.add(group)
    return tuple(sorted(found))


def make_secret(token_id: str, token_secret: str, *, extra_groups: tuple[str, ...] = (),
                description: str = "", expires: str = "", signing: bool = False) -> Obj:
    """The Secret that makes ``<id>.<secret>`` a bootstrap token for authentication."""
    values = {TOKEN_ID: token_id, TOKEN_SECRET: token_secret, USAGE_AUTHENTICATION: "true"}
    if signing:
        values[USAGE_SIGNING] = "true"
    if extra_groups:
        values[EXTRA_GROUPS] = ",".join(extra_groups)
    if description:
        values[DESCRIPTION] = description
    if expires:
        values[EXPIRATION] = expires
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": secret_name(token_id), "namespace": NAMESPACE},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}}


@dataclass(frozen=True)
class _Entry:
    """What one bootstrap Secret says, decoded once when the Secret arrives."""

    token_id: str
    secret: bytes
    expires: datetime | None
    usable: bool
    groups: tuple[str, ...] | None  # None: auth-extra-groups names a bad group
    deleting: bool


class BootstrapTokens:
    """Bootstrap token Secrets of kube-system by name, and the authenticator over them."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, secret: Obj) -> None:
        meta = secret.get("metadata") or {}
        name = str(meta.get("name") or "")
        if meta.get("namespace") != NAMESPACE or not name.startswith(SECRET_PREFIX):
            return
        if secret.get("type") != SECRET_TYPE:
            self._entries.pop(name, None)
            return
        try:
            extra: tuple[str, ...] | None = groups(secret)
        except ValueError:
            extra = None
        self._entries[name] = _Entry(
            data(secret, TOKEN_ID), data(secret, TOKEN_SECRET).encode(), expiration(secret),
            data(secret, USAGE_AUTHENTICATION) == "true", extra,
            bool(meta.get("deletionTimestamp")))

    def remove(self, secret: Obj) -> None:
        self._entries.pop(str((secret.get("metadata") or {}).get("name") or ""), None)

    def replace(self, secrets: list[Obj]) -> None:
        self._entries.clear()
        for secret in secrets:
            self.put(secret)

    def authenticate(self, token: str, now: datetime | None = None) -> UserInfo | None:
        """The token's user; None for a token not of the bootstrap shape.

        Raises AuthenticationError (saying why, never the secret) for one of our shape that
        no Secret makes good: unknown, deleted, wrong secret, expired, not for authentication.
        """
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, token_secret = parsed
        who = USER_PREFIX + token_id
        entry = self._entries.get(secret_name(token_id))
        if entry is None:
            raise AuthenticationError(f"no bootstrap token secret {secret_name(token_id)}", who)
        # Compare first, whatever else is wrong, so timing tells nothing about the Secret.
        if not hmac.compare_digest(entry.secret, token_secret.encode()):
            raise AuthenticationError(f"bootstrap token secret {secret_name(token_id)} has "
                                      f"another {TOKEN_SECRET}", who)
        reason = _refusal(entry, token_id, now or datetime.now(timezone.utc))
        if reason:
            raise AuthenticationError(f"bootstrap token {secret_name(token_id)} {reason}", who)
        assert entry.groups is not None
        return authenticated(who, entry.groups)


def _refusal(entry: _Entry, token_id: str, now: datetime) -> str:
    if entry.deleting:
        return "is deleted and awaiting removal"
    if entry.token_id != token_id:
        return f"has another {TOKEN_ID}"
    if entry.expires is not None and now > entry.expires:
        return "has expired"
    if not entry.usable:
        return f"is not marked {USAGE_AUTHENTICATION}=true"
    if entry.groups is None:
        return f"has an invalid {EXTRA_GROUPS}"
    return ""
