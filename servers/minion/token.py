"""The join token, in k3s' secure format: ``K10<sha256 of the cluster CA>::<id>.<secret>``.

The part after ``::`` is a Kubernetes bootstrap token (``[a-z0-9]{6}.[a-z0-9]{16}``,
kubernetes ``staging/src/k8s.io/cluster-bootstrap/token/api/types.go``); the hash pins the
cluster's CA certificate, as kubeadm's ``--discovery-token-ca-cert-hash`` does, so a node
trusts nothing the server says before the CA it serves hashes to the token's value
(k3s ``pkg/clientaccess/token.go``). A token without the hash is refused rather than trusted
blindly. Standard library only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

PREFIX = "K10"
_SECURE = re.compile(r"K10([0-9a-f]{64})::(.*)")
_BOOTSTRAP = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
SHAPE = "K10<sha256 of the cluster CA>::<id>.<secret>"


class TokenError(ValueError):
    """A token that is not in the secure format (one line; never echoes the secret)."""


@dataclass(frozen=True)
class Token:
    """A parsed join token. The secret stays out of ``repr``."""

    ca_hash: str
    token_id: str
    secret: str = field(repr=False)

    @property
    def bearer(self) -> str:
        """The bootstrap token as the apiserver takes it: ``<id>.<secret>``."""
        return f"{self.token_id}.{self.secret}"

    def pins(self, ca_pem: bytes) -> bool:
        """Whether ``ca_pem`` (the CA certificate's bytes, as served) is the pinned CA."""
        return hashlib.sha256(ca_pem).hexdigest() == self.ca_hash


def parse(text: str) -> Token:
    """``text`` as a Token; TokenError for anything else."""
    text = text.strip()
    secure = _SECURE.fullmatch(text)
    if secure is None:
        if _BOOTSTRAP.fullmatch(text) or text.startswith(PREFIX):
            msg = f"the token has no valid CA hash: want {SHAPE}"
        else:
            msg = f"the token is not in k3s' secure format: want {SHAPE}"
        raise TokenError(msg)
    bootstrap = _BOOTSTRAP.fullmatch(secure.group(2))
    if bootstrap is None:
        msg = f"the token's credential is not a bootstrap token <id>.<secret>: want {SHAPE}"
        raise TokenError(msg)
    return Token(secure.group(1), bootstrap.group(1), bootstrap.group(2))
