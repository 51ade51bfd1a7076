"""Client certificates: the apiserver's TLS context, and a verified peer certificate → user.

The TLS handshake (stdlib ``ssl``, ``CERT_OPTIONAL`` against ``--client-ca-file``) checks the
chain: a certificate from another CA, or one not meant for clients (extended key usage), ends
the handshake, so it never becomes a request (asyncio drops handshake errors silently, so the
TLS object here logs the refusal). The Python ``ssl`` module cannot ask for a
certificate without also verifying it, so that refusal happens before HTTP, unlike
kube-apiserver's 401. The validity period, though, is not checked by the handshake
(``X509_V_FLAG_NO_CHECK_TIME``) but here, per request, so an expired certificate gets a logged
401 rather than a silent reset — the behaviour kube-apiserver's x509 authenticator has.

The user is the subject's common name and the groups its organizations, as kube's
``CommonNameUserConversion``.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go
"""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any

from servers.apiserver.auth import AuthenticationError, UserInfo, authenticated

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME; Python's ssl.VerifyFlags does not name it.
NO_CHECK_TIME = 0x200000
TLS_FILES = "cannot load --tls-cert-file/--tls-private-key-file: {error}"
CLIENT_CA = "cannot load --client-ca-file {path}: {error}"
REFUSED = "denied a TLS client: its certificate failed verification (%s)"

log = logging.getLogger(__name__)


class TLSConfigError(ValueError):
    """A certificate, key or CA file cannot be loaded (the message holds no key material)."""


def server_context(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    """The serving context: TLS 1.2+, our certificate, and client certificates if a CA is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(TLS_FILES.format(error=_reason(exc))) from None
    if client_ca_file:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(CLIENT_CA.format(path=client_ca_file,
                                                  error=_reason(exc))) from None
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= NO_CHECK_TIME
        context.sslobject_class = _LoggedRefusals
    return context


class _LoggedRefusals(ssl.SSLObject):
    """asyncio's TLS object, saying why it refused a client certificate (asyncio would not:
    it drops handshake errors silently). The peer's address is not known at this layer."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            log.warning(REFUSED, exc.verify_message or exc.reason)
            raise


def user_from_cert(cert: dict[str, Any], now: float | None = None) -> UserInfo:
    """The user a verified peer certificate (``getpeercert()``) names.

    Raises AuthenticationError when it is not valid yet or any more, or names no user.
    """
    name, groups = _subject(cert)
    who = name or "a certificate without a common name"
    now = time.time() if now is None else now
    try:
        not_before = ssl.cert_time_to_seconds(cert["notBefore"])
        not_after = ssl.cert_time_to_seconds(cert["notAfter"])
    except (KeyError, ValueError):
        raise AuthenticationError("client certificate has no readable validity", who) from None
    if now < not_before:
        raise AuthenticationError(f"client certificate is not valid before {cert['notBefore']}",
                                  who)
    if now > not_after:
        raise AuthenticationError(f"client certificate expired at {cert['notAfter']}", who)
    if not name:
        raise AuthenticationError("client certificate has no common name", who)
    return authenticated(name, groups)


def _subject(cert: dict[str, Any]) -> tuple[str, list[str]]:
    name, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value  # the last one, as Go's pkix.Name does
            elif key == "organizationName":
                groups.append(value)
    return name, groups


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    return exc.strerror or type(exc).__name__
