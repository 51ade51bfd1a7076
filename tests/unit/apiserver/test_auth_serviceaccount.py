"""Service account JWTs: signing, verification, claims, audience and expiry."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from servers.apiserver.auth import AuthenticationError
from servers.apiserver.auth import serviceaccount as sa

ISSUER = "https://kubernetes.default.svc.cluster.local"
SA = {"metadata": {"name": "default", "namespace": "ns1", "uid": "sa-uid"}}
POD = {"metadata": {"name": "web", "uid": "pod-uid"}}
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: sa.PrivateKey, **kw: object) -> str:
    args: dict = {"issuer": ISSUER, "audiences": ["api"], "expiration_seconds": 3600,
                  "namespace": "ns1", "service_account": SA, "now": NOW}
    args.update(kw)
    return sa.Signer(key, ISSUER).sign(sa.claims(**args))


def _verifier(key: sa.PrivateKey, audiences: tuple[str, ...] = ("api",)) -> sa.Verifier:
    return sa.Verifier([key.public_key()], (ISSUER,), audiences)


def _part(token: str, i: int) -> dict:
    text = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_rsa_token_verifies_as_the_service_account(rsa_key: rsa.RSAPrivateKey) -> None:
    token = _token(rsa_key, pod=POD)
    claims = _verifier(rsa_key).verify(token, now=NOW + 10)
    assert claims.user.name == "system:serviceaccount:ns1:default"
    assert claims.user.groups == ("system:serviceaccounts", "system:serviceaccounts:ns1",
                                  "system:authenticated")
    assert claims.bound == (sa.BoundRef("pod", "web", "pod-uid"),)
    assert claims.expires == NOW + 3600


def test_claims_are_kubes(rsa_key: rsa.RSAPrivateKey) -> None:
    token = _token(rsa_key, pod=POD)
    header, payload = _part(token, 0), _part(token, 1)
    assert header == {"alg": "RS256", "kid": sa.key_id(rsa_key.public_key())}
    assert payload["sub"] == "system:serviceaccount:ns1:default"
    assert payload["iss"] == ISSUER and payload["aud"] == ["api"]
    assert payload["iat"] == payload["nbf"] == NOW and payload["exp"] == NOW + 3600
    assert payload["kubernetes.io"] == {
        "namespace": "ns1", "serviceaccount": {"name": "default", "uid": "sa-uid"},
        "pod": {"name": "web", "uid": "pod-uid"}}


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ec_keys_sign_and_verify(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    token = _token(key)
    assert _verifier(key).verify(token, now=NOW).name == "default"
    jwk = _verifier(key).jwks()["keys"][0]
    assert jwk["kty"] == "EC" and jwk["alg"] == sa.algorithm(key)


def test_expired_token_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    token = _token(rsa_key, expiration_seconds=600)
    _verifier(rsa_key).verify(token, now=NOW + 600 + sa.LEEWAY_SECONDS)  # within leeway
    with pytest.raises(AuthenticationError, match="expired"):
        _verifier(rsa_key).verify(token, now=NOW + 601 + sa.LEEWAY_SECONDS)


def test_wrong_audience_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthenticationError, match="audiences"):
        _verifier(rsa_key, ("other",)).verify(_token(rsa_key), now=NOW)


def test_other_key_and_tampering_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = _token(other)
    with pytest.raises(AuthenticationError, match="signature"):
        _verifier(rsa_key).verify(token, now=NOW)
    good = _token(rsa_key)
    head, _body, sig = good.split(".")
    payload = _part(good, 1)
    payload["kubernetes.io"]["namespace"] = "kube-system"
    payload["sub"] = "system:serviceaccount:kube-system:default"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError, match="signature"):
        _verifier(rsa_key).verify(f"{head}.{forged}.{sig}", now=NOW)


def test_foreign_issuer_is_not_ours(rsa_key: rsa.RSAPrivateKey) -> None:
    token = sa.Signer(rsa_key, "https://elsewhere").sign(sa.claims(
        issuer="https://elsewhere", audiences=["api"], expiration_seconds=600,
        namespace="ns1", service_account=SA, now=NOW))
    verifier = _verifier(rsa_key)
    assert not verifier.looks_like_ours(token)
    assert verifier.looks_like_ours(_token(rsa_key))
    assert not verifier.looks_like_ours("static-token")
    with pytest.raises(AuthenticationError, match="issuer"):
        verifier.verify(token, now=NOW)


def test_jwks_rsa(rsa_key: rsa.RSAPrivateKey) -> None:
    (jwk,) = _verifier(rsa_key).jwks()["keys"]
    assert jwk["kty"] == "RSA" and jwk["e"] == "AQAB" and jwk["use"] == "sig"
    assert jwk["kid"] == sa.key_id(rsa_key.public_key())


def test_key_files(tmp_path, rsa_key: rsa.RSAPrivateKey) -> None:
    from cryptography.hazmat.primitives import serialization as ser
    priv = tmp_path / "sa.key"
    priv.write_bytes(rsa_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                                           ser.NoEncryption()))
    pub = tmp_path / "sa.pub"
    pub.write_bytes(rsa_key.public_key().public_bytes(
        ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    assert sa.load_private_key(priv).private_numbers() == rsa_key.private_numbers()
    assert [sa.key_id(k) for k in sa.load_public_keys(pub)] == \
        [sa.key_id(k) for k in sa.load_public_keys(priv)]
    (tmp_path / "junk").write_text("nothing")
    with pytest.raises(sa.KeyFileError, match="no RSA or EC public key"):
        sa.load_public_keys(tmp_path / "junk")
    with pytest.raises(sa.KeyFileError, match="missing"):
        sa.load_private_key(tmp_path / "missing")
