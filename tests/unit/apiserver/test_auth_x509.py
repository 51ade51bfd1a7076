"""Client certificate checks: the verified peer certificate → user, and the TLS context."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver.auth import AUTHENTICATED_GROUP, AuthenticationError, UserInfo
from servers.apiserver.auth.x509 import (
    NO_CHECK_TIME,
    TLSConfigError,
    server_context,
    user_from_cert,
)

NOW = ssl.cert_time_to_seconds("Nov 28 12:00:00 2026 GMT")


def peercert(*rdns: tuple[str, str], before: str = "Nov 27 12:00:00 2026 GMT",
             after: str = "Nov 27 12:00:00 2027 GMT") -> dict[str, Any]:
    """A dict shaped like ``SSLSocket.getpeercert()``."""
    return {"subject": tuple(((k, v),) for k, v in rdns), "notBefore": before, "notAfter": after}


def test_common_name_is_the_user_and_organizations_the_groups() -> None:
    cert = peercert(("organizationName", "system:nodes"), ("organizationName", "extra"),
                    ("commonName", "system:node:n1"))
    assert user_from_cert(cert, NOW) == UserInfo(
        "system:node:n1", ("system:nodes", "extra", AUTHENTICATED_GROUP))


def test_an_expired_certificate_is_refused_naming_its_holder() -> None:
    cert = peercert(("commonName", "admin"), after="Nov 28 11:59:59 2026 GMT")
    with pytest.raises(AuthenticationError, match="expired") as info:
        user_from_cert(cert, NOW)
    assert info.value.who == "admin"


def test_a_certificate_not_yet_valid_is_refused() -> None:
    cert = peercert(("commonName", "admin"), before="Nov 29 12:00:00 2026 GMT")
    with pytest.raises(AuthenticationError, match="not valid before"):
        user_from_cert(cert, NOW)


def test_a_certificate_without_common_name_is_refused() -> None:
    with pytest.raises(AuthenticationError, match="no common name"):
        user_from_cert(peercert(("organizationName", "system:masters")), NOW)


def test_a_certificate_without_validity_is_refused() -> None:
    with pytest.raises(AuthenticationError, match="validity"):
        user_from_cert({"subject": ((("commonName", "x"),),)}, NOW)


def test_bad_serving_files_are_one_line_without_key_material(tmp_path: Path) -> None:
    key = tmp_path / "apiserver.key"
    key.write_text("-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n")
    with pytest.raises(TLSConfigError) as info:
        server_context(str(tmp_path / "missing.crt"), str(key), None)
    assert str(info.value).startswith("cannot load --tls-cert-file/--tls-private-key-file")
    assert "c2VjcmV0" not in str(info.value)


def test_client_certificates_are_asked_for_and_their_time_checked_per_request(
        tmp_path: Path) -> None:
    from servers.certs import pki
    ca_key, ca = pki.make_ca("test-ca", 1)
    key, cert = pki.sign(ca, ca_key, "kube-apiserver", (), 1, sans=["127.0.0.1"])
    for name, data in (("ca.crt", pki.cert_pem(ca)), ("s.crt", pki.cert_pem(cert)),
                       ("s.key", pki.key_pem(key))):
        (tmp_path / name).write_bytes(data)
    plain = server_context(str(tmp_path / "s.crt"), str(tmp_path / "s.key"), None)
    assert plain.verify_mode == ssl.CERT_NONE
    context = server_context(str(tmp_path / "s.crt"), str(tmp_path / "s.key"),
                             str(tmp_path / "ca.crt"))
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert context.verify_flags & NO_CHECK_TIME
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
