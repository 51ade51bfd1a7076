"""Who sent a request: the authenticator the apiserver's identify middleware calls first.

In kube-apiserver's order: a verified client certificate, else a bearer token (a service
account JWT, a --token-auth-file token, a bootstrap token: ``bootstrap``), else
anonymous (when --anonymous-auth allows it; the health and version paths are always open, as
kube's ``system:public-info-viewer`` role allows). Credentials that are presented and not good
are refused even when anonymous requests are allowed. A refusal raises ``Unauthorized`` (the
error middleware, outside, makes it a 401 ``Status``) after one log line saying who, what and
why — never the credential.

Requests on the plain-HTTP port, which only ever binds to loopback, are the old insecure
port's: trusted as ``system:admin`` in ``system:masters``.
"""

from __future__ import annotations

import logging
import ssl
from argparse import Namespace
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from servers.apimachinery import errors
from servers.apiserver.auth import (
    ANONYMOUS_USER,
    LOOPBACK_ADMIN,
    AuthenticationError,
    UserInfo,
)
from servers.apiserver.auth.tokens import TokenAuthenticator
from servers.apiserver.auth.x509 import server_context, user_from_cert

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

#: The request key under which a verified service account token's claims wait for the
#: bound-object check (servers.apiserver.tokenrequest.check_bound, run by the middleware).
CLAIMS_KEY = "km.serviceaccount.claims"
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
DENIED = "denied %s %s from %s as %s: %s"
NO_CREDENTIALS = "no credentials, and anonymous requests are not allowed (--anonymous-auth)"


@dataclass(frozen=True)
class Authenticator:
    """``authenticator(request) -> UserInfo``, or ``errors.Unauthorized`` raised.

    The default trusts no one on the TLS port (no tokens, no anonymous requests); who may
    present a client certificate is decided by the TLS context (``x509.server_context``).
    """

    tokens: TokenAuthenticator | None = None
    anonymous: bool = False
    #: A ``serviceaccount.Verifier`` (None: service account tokens are off).
    service_accounts: Any = None
    #: A ``bootstrap.BootstrapTokens`` (None: --enable-bootstrap-token-auth is off).
    bootstrap_tokens: Any = None

    def __call__(self, request: web.Request) -> UserInfo:
        try:
            user = self.authenticate(request)
        except AuthenticationError as exc:
            _deny(request, exc.who, str(exc))
        if user is not None:
            return user
        if self.anonymous or _public(request.path):
            return ANONYMOUS_USER
        _deny(request, ANONYMOUS_USER.name, NO_CREDENTIALS)

    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The request's user; None when it presents no credentials at all.

        Raises AuthenticationError for credentials that are presented and not good.
        """
        transport = request.transport
        if transport is None:
            raise AuthenticationError("the connection is closed", "unknown")
        if transport.get_extra_info("sslcontext") is None:
            return LOOPBACK_ADMIN
        cert = transport.get_extra_info("peercert")
        if cert:
            return user_from_cert(cert)
        token = _bearer(request.headers.get("Authorization", ""))
        if token is None:
            return None
        if self.service_accounts is not None and self.service_accounts.looks_like_ours(token):
            claims = self.service_accounts.verify(token)
            request[CLAIMS_KEY] = claims
            return claims.user
        user = self.tokens.authenticate(token) if self.tokens is not None else None
        if user is None and self.bootstrap_tokens is not None:  # kube's order: file, then these
            user = self.bootstrap_tokens.authenticate(token)
        if user is None:
            raise AuthenticationError("invalid bearer token", "<unknown token>")
        return user


def deny(request: web.Request, exc: AuthenticationError) -> NoReturn:
    """Log the refusal of presented credentials and raise ``Unauthorized``."""
    _deny(request, exc.who, str(exc))


def _deny(request: web.Request, who: str, why: str) -> NoReturn:
    log.warning(DENIED, request.method, request.path, request.remote, who, why)
    raise errors.Unauthorized


def _bearer(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _public(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)


def from_options(opts: Namespace, service_accounts: Any = None
                 ) -> tuple[ssl.SSLContext | None, Authenticator]:
    """The HTTPS context (None without --secure-port) and the authenticator the flags ask for;
    ``service_accounts`` is the ``serviceaccount.Verifier`` of bearer JWTs, if any.

    Raises ``x509.TLSConfigError`` or ``tokens.TokenFileError`` for files that do not load.
    """
    if opts.secure_port is None:
        return None, Authenticator()
    context = server_context(opts.tls_cert_file, opts.tls_private_key_file, opts.client_ca_file)
    tokens = TokenAuthenticator.from_file(opts.token_auth_file) if opts.token_auth_file \
        else None
    if tokens is not None:
        log.info("token file %s: %d tokens", opts.token_auth_file, len(tokens))
    return context, Authenticator(tokens, anonymous=opts.anonymous_auth,
                                  service_accounts=service_accounts)
