"""Service account tokens: signed JWTs naming a ServiceAccount (and maybe the pod they are for).

    Signer      signs claims with --service-account-signing-key-file (RSA: RS256, EC: ES256/384/512)
    Verifier    checks signature, issuer, audience and expiry against --service-account-key-file
    claims()    the claims kube's TokenRequest puts in a token (pkg/serviceaccount/claims.go)
    jwks()      the public keys as a JSON Web Key Set (/openid/v1/jwks)

A verified token is a ``Claims``: the user it names (``system:serviceaccount:NS:NAME`` in
``system:serviceaccounts`` and ``system:serviceaccounts:NS``) and the objects it is bound to;
whether those objects still exist is the caller's check (kube's ``validator.Validate`` asks
its getters: servers.apiserver.auth.bound). The key id is kube's: the base64url SHA-256 of
the public key's DER (pkg/serviceaccount/jwt.go ``keyIDFromPublicKey``).
Imports ``cryptography`` (the portable build has none: then service account tokens are off).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from servers.apiserver.auth import AuthenticationError, UserInfo, authenticated

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
Obj = dict[str, Any]

PREFIX = "system:serviceaccount:"
ALL_GROUP = "system:serviceaccounts"
#: kube's jwt.DefaultLeeway: clocks may differ by a minute.
LEEWAY_SECONDS = 60
_EC_ALGS = {"secp256r1": ("ES256", hashes.SHA256(), 32),
            "secp384r1": ("ES384", hashes.SHA384(), 48),
            "secp521r1": ("ES512", hashes.SHA512(), 66)}


class KeyFileError(ValueError):
    """A service account key file does not load (the message names the file, no key)."""


def user_name(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}:{name}"


def user_info(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The identity of a service account, with kube's two groups."""
    return authenticated(user_name(namespace, name),
                         (ALL_GROUP, f"{ALL_GROUP}:{namespace}"), uid)


def load_private_key(path: str | Path) -> PrivateKey:
    """An RSA or EC private key from a PEM file (PKCS#1, SEC1 or PKCS#8)."""
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: no unencrypted PEM private key") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyFileError(f"{path}: only RSA and EC keys sign service account tokens")
    return key


def load_public_keys(path: str | Path) -> list[PublicKey]:
    """Every public key in a PEM file: public keys, certificates' keys, private keys' halves.

    kube's --service-account-key-file takes any of them (keyutil.PublicKeysFromFile).
    """
    from cryptography import x509

    data = _read(path)
    keys: list[PublicKey] = []
    for block in _pem_blocks(data):
        label = block.split(b"\n", 1)[0]
        try:
            if b"CERTIFICATE" in label:
                key: Any = x509.load_pem_x509_certificate(block).public_key()
            elif b"PRIVATE" in label:
                key = serialization.load_pem_private_key(block, password=None).public_key()
            else:
                key = serialization.load_pem_public_key(block)
        except (ValueError, TypeError):
            raise KeyFileError(f"{path}: a PEM block does not load") from None
        if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            keys.append(key)
    if not keys:
        raise KeyFileError(f"{path}: no RSA or EC public key")
    return keys


def key_id(key: PublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


def algorithm(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RS256"
    return _EC_ALGS[key.curve.name][0]


@dataclass(frozen=True)
class Signer:
    """Signs claims as JWS compact serialisation with one private key."""

    key: PrivateKey
    issuer: str

    def sign(self, claims: Obj) -> str:
        public = self.key.public_key()
        header = {"alg": algorithm(public), "kid": key_id(public)}
        signing_input = _b64(_json(header)) + "." + _b64(_json(claims))
        return signing_input + "." + _b64(_sign(self.key, signing_input.encode()))


@dataclass(frozen=True)
class BoundRef:
    """An object a token is bound to: its kind, name and uid."""

    kind: str
    name: str
    uid: str


@dataclass(frozen=True)
class Claims:
    """A verified token: whose it is, when it ends, and what it is bound to."""

    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    expires: int
    bound: tuple[BoundRef, ...] = field(default=())

    @property
    def user(self) -> UserInfo:
        return user_info(self.namespace, self.name, self.uid)


def claims(*, issuer: str, audiences: list[str], expiration_seconds: int, namespace: str,
           service_account: Obj, pod: Obj | None = None, secret: Obj | None = None,
           node: Obj | None = None, now: float | None = None) -> Obj:
    """The claims kube's TokenRequest signs (pkg/serviceaccount/claims.go ``Claims``)."""
    issued = int(now if now is not None else time.time())
    private: Obj = {"namespace": namespace,
                    "serviceaccount": _ref(service_account)}
    for kind, obj in (("pod", pod), ("secret", secret), ("node", node)):
        if obj is not None:
            private[kind] = _ref(obj)
    sa_name = service_account["metadata"]["name"]
    return {"aud": list(audiences), "exp": issued + expiration_seconds, "iat": issued,
            "iss": issuer, "jti": str(uuid.uuid4()), "kubernetes.io": private,
            "nbf": issued, "sub": user_name(namespace, sa_name)}


@dataclass
class Verifier:
    """Verifies tokens signed by any of ``keys`` for any of ``issuers`` and ``audiences``."""

    keys: list[PublicKey]
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    _by_kid: dict[str, PublicKey] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_kid = {key_id(k): k for k in self.keys}

    def looks_like_ours(self, token: str) -> bool:
        """True for a JWT whose ``iss`` is one of ours (others go to other authenticators)."""
        parts = token.split(".")
        if len(parts) != 3:
            return False
        try:
            payload = json.loads(_unb64(parts[1]))
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("iss") in self.issuers

    def verify(self, token: str, now: float | None = None,
               audiences: tuple[str, ...] | None = None) -> Claims:
        """The token's claims; AuthenticationError (saying why, not the token) if not good.

        The token must hold one of ``audiences`` (default: the server's).
        """
        who = "<service account token>"
        audiences_wanted = audiences
        header, payload = self._verified(token, who)
        del header
        moment = now if now is not None else time.time()
        exp, nbf = payload.get("exp"), payload.get("nbf")
        if not isinstance(exp, int) or moment > exp + LEEWAY_SECONDS:
            raise AuthenticationError("service account token has expired", who)
        if isinstance(nbf, int) and moment < nbf - LEEWAY_SECONDS:
            raise AuthenticationError("service account token is not valid yet", who)
        aud = payload.get("aud")
        audiences = tuple(aud) if isinstance(aud, list) else (aud,) if isinstance(aud, str) \
            else ()
        if not set(audiences) & set(self.audiences if audiences_wanted is None
                                    else audiences_wanted):
            raise AuthenticationError("token audiences are not the server's audiences", who)
        return _parse(payload, audiences, who)

    def _verified(self, token: str, who: str) -> tuple[Obj, Obj]:
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthenticationError("not a JWT", who)
        try:
            header = json.loads(_unb64(parts[0]))
            payload = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except ValueError:
            raise AuthenticationError("malformed JWT", who) from None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise AuthenticationError("malformed JWT", who)
        if payload.get("iss") not in self.issuers:
            raise AuthenticationError("token issuer is not ours", who)
        kid = header.get("kid")
        candidates = [self._by_kid[kid]] if kid in self._by_kid else self.keys
        signing_input = (parts[0] + "." + parts[1]).encode()
        for key in candidates:
            if header.get("alg") == algorithm(key) and _check(key, signing_input, signature):
                return header, payload
        raise AuthenticationError("invalid signature", who)

    def jwks(self) -> Obj:
        """The JSON Web Key Set of the verification keys (kube's /openid/v1/jwks)."""
        return {"keys": [_jwk(k) for k in self.keys]}


def _parse(payload: Obj, audiences: tuple[str, ...], who: str) -> Claims:
    private = payload.get("kubernetes.io")
    if not isinstance(private, dict):
        raise AuthenticationError("token has no kubernetes.io claims", who)
    sa = private.get("serviceaccount") or {}
    namespace = private.get("namespace")
    if not isinstance(namespace, str) or not isinstance(sa, dict) or not sa.get("name"):
        raise AuthenticationError("token names no service account", who)
    if payload.get("sub") != user_name(namespace, sa["name"]):
        raise AuthenticationError("token subject does not match its service account", who)
    bound = tuple(BoundRef(kind, str(ref.get("name", "")), str(ref.get("uid", "")))
                  for kind in ("pod", "secret")
                  if isinstance(ref := private.get(kind), dict))
    return Claims(namespace, str(sa["name"]), str(sa.get("uid", "")), audiences,
                  int(payload["exp"]), bound)


def _ref(obj: Obj) -> Obj:
    meta = obj.get("metadata", {})
    return {"name": meta.get("name", ""), "uid": meta.get("uid", "")}


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    _, digest, size = _EC_ALGS[key.curve.name]
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _check(key: PublicKey, data: bytes, signature: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        _, digest, size = _EC_ALGS[key.curve.name]
        if len(signature) != 2 * size:
            return False
        der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                   int.from_bytes(signature[size:], "big"))
        key.verify(der, data, ec.ECDSA(digest))
        return True
    except InvalidSignature:
        return False


def _jwk(key: PublicKey) -> Obj:
    base: Obj = {"use": "sig", "kid": key_id(key), "alg": algorithm(key)}
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {**base, "kty": "RSA", "n": _b64(_int_bytes(numbers.n)),
                "e": _b64(_int_bytes(numbers.e))}
    point = key.public_numbers()
    size = _EC_ALGS[key.curve.name][2]
    crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
    return {**base, "kty": "EC", "crv": crv, "x": _b64(point.x.to_bytes(size, "big")),
            "y": _b64(point.y.to_bytes(size, "big"))}


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or 'unreadable'}") from None


def _pem_blocks(data: bytes) -> list[bytes]:
    blocks, current = [], []
    for line in data.splitlines():
        if line.startswith(b"-----BEGIN"):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END"):
                blocks.append(b"\n".join(current) + b"\n")
                current = []
    return blocks


def _json(obj: Obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("bad base64") from None
