"""HTTPS /healthz and /metrics on a control-plane server's ``--secure-port``, as kube's.

    registry = CollectorRegistry()           # one per server instance, never the global one
    async with secure_serving(opts, registry, client, name="kube-scheduler",
                              healthy=elector.healthy) as port:
        ...                                  # port: the real port, or None (--secure-port 0)

What is served (kube-scheduler's and kube-controller-manager's secure port):

* ``/healthz``, ``/livez``, ``/readyz`` — ``ok``, or 500 ``healthz check failed`` when
  ``healthy()`` says no; open to everyone (``--authorization-always-allow-paths``).
* ``/metrics`` — the Prometheus text of ``registry``, for callers the apiserver authenticates
  and authorizes (``delegated``: a client certificate verified against ``--client-ca-file``
  or a bearer token through TokenReview, then a SubjectAccessReview for ``get`` on the
  non-resource path). 401 without credentials, 403 when refused, as kube's Status objects.

The serving certificate is ``--tls-cert-file``/``--tls-private-key-file``, else a fresh
self-signed pair made at start, as kube's ``MaybeDefaultWithSelfSignedCerts``: a CA named
``NAME-ca@UNIXTIME`` that signs ``NAME@UNIXTIME`` for localhost, 127.0.0.1, the host name and
a specific ``--bind-address``. ``ssl`` loads certificates only from files, so the PEMs pass
through a private temporary folder (0700) that is removed as soon as they are loaded.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import logging
import os
import socket
import ssl
import tempfile
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from servers.apimachinery import errors
from servers.component.delegated import VERBS, DelegatedAuth, ReviewFailed, User, user_of_subject

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from prometheus_client import CollectorRegistry

    from servers.client.rest import Client

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["HEALTH_PATHS", "ServingError", "make_app", "secure_serving", "self_signed_names",
           "tls_context"]

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
SELF_SIGNED_DAYS = 365
TLS_PAIR = "--tls-cert-file and --tls-private-key-file must be given together"

_AUTH = web.AppKey("auth", DelegatedAuth)
_ALWAYS_ALLOW: web.AppKey[tuple[str, ...]] = web.AppKey("always_allow", tuple)


class ServingError(Exception):
    """The secure port cannot be served: files that do not load, a port that is taken."""


# -- the whole thing --------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def secure_serving(opts: argparse.Namespace, registry: CollectorRegistry, client: Client,
                         *, name: str, healthy: Callable[[], bool] | None = None,
                         ) -> AsyncIterator[int | None]:
    """Serve HTTPS on ``--bind-address``:``--secure-port`` while the block runs.

    Yields the port really bound, or ``None`` when ``--secure-port`` is 0 (nothing is served).
    Raises ``ServingError`` (one line) when the certificate or the port cannot be had.
    """
    if not opts.secure_port:
        log.info("secure serving is off (--secure-port 0)")
        yield None
        return
    context = tls_context(opts, name=name)
    app = make_app(registry, DelegatedAuth(client), healthy=healthy,
                   always_allow=opts.authorization_always_allow_paths)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, opts.bind_address, opts.secure_port, ssl_context=context,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            why = exc.strerror or str(exc)
            msg = f"cannot serve on {opts.bind_address}:{opts.secure_port}: {why}"
            raise ServingError(msg) from None
        port = int(runner.addresses[0][1])
        log.info("serving securely on https://%s:%d", _host(opts.bind_address), port)
        yield port
    finally:
        await runner.cleanup()


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# -- TLS --------------------------------------------------------------------------------------

def tls_context(opts: argparse.Namespace, *, name: str) -> ssl.SSLContext:
    """The serving context: TLS 1.2+, the given or a self-signed certificate, and client
    certificates verified against ``--client-ca-file`` when one is given."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert_file, key_file = opts.tls_cert_file, opts.tls_private_key_file
    if bool(cert_file) != bool(key_file):
        raise ServingError(TLS_PAIR)
    try:
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
        else:
            _load_self_signed(context, name, opts.bind_address)
    except (OSError, ssl.SSLError) as exc:
        msg = f"cannot load --tls-cert-file/--tls-private-key-file: {_reason(exc)}"
        raise ServingError(msg) from None
    if opts.client_ca_file:
        try:
            context.load_verify_locations(cafile=opts.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            msg = f"cannot load --client-ca-file {opts.client_ca_file}: {_reason(exc)}"
            raise ServingError(msg) from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    return str(exc) or type(exc).__name__


def self_signed_names(bind_address: str) -> list[str]:
    """The subject alternative names of the self-signed certificate."""
    names = ["localhost", "127.0.0.1", socket.gethostname()]
    with contextlib.suppress(ValueError):
        if not ipaddress.ip_address(bind_address).is_unspecified:
            names.append(bind_address)
    return list(dict.fromkeys(names))


def _load_self_signed(context: ssl.SSLContext, name: str, bind_address: str) -> None:
    try:
        from servers.certs import pki
    except ImportError:  # a --portable build carries no cryptography
        msg = ("a self-signed serving certificate needs the cryptography package: give "
               "--tls-cert-file and --tls-private-key-file, or --secure-port 0")
        raise ServingError(msg) from None
    stamp = int(time.time())
    ca_key, ca = pki.make_ca(f"{name}-ca@{stamp}", SELF_SIGNED_DAYS)
    key, cert = pki.sign(ca, ca_key, f"{name}@{stamp}", (), SELF_SIGNED_DAYS,
                         sans=self_signed_names(bind_address))
    with tempfile.TemporaryDirectory(prefix="km-serving-") as private:
        cert_path = _private_file(private, "tls.crt", pki.cert_pem(cert) + pki.cert_pem(ca))
        key_path = _private_file(private, "tls.key", pki.key_pem(key))
        context.load_cert_chain(cert_path, key_path)
    log.info("generated a self-signed certificate for %s, valid until %s", name,
             (datetime.date.today() + datetime.timedelta(days=SELF_SIGNED_DAYS)).isoformat())


def _private_file(folder: str, name: str, data: bytes) -> str:
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


# -- the app ----------------------------------------------------------------------------------

def make_app(registry: CollectorRegistry, auth: DelegatedAuth, *,
             healthy: Callable[[], bool] | None = None,
             always_allow: Sequence[str] = HEALTH_PATHS) -> web.Application:
    """The aiohttp app of the secure port (also usable over plain HTTP in tests)."""
    app = web.Application(middlewares=[_guard])
    app[_AUTH] = auth
    app[_ALWAYS_ALLOW] = tuple(always_allow)

    async def health(request: web.Request) -> web.Response:
        if healthy is not None and not healthy():
            return web.Response(status=500, text="healthz check failed")
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    for path in HEALTH_PATHS:
        app.router.add_get(path, health)
    app.router.add_get("/metrics", metrics)
    return app


def _allowed_without_auth(path: str, patterns: tuple[str, ...]) -> bool:
    """kube's always-allow paths: exact, or a prefix when the pattern ends in ``*``."""
    return any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in patterns)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication then authorization, as kube's delegated filters, except for the
    always-allowed paths."""
    if _allowed_without_auth(request.path, request.app[_ALWAYS_ALLOW]):
        return await handler(request)
    auth = request.app[_AUTH]
    user = await _authenticate(request, auth)
    if user is None:
        return _status(errors.Unauthorized())
    verb = VERBS.get(request.method, request.method.lower())
    try:
        decision = await auth.authorize(user, verb, request.path)
    except ReviewFailed as exc:
        log.warning("authorizing %s %s for %s failed: %s", verb, request.path, user.name, exc)
        return _status(errors.InternalError(str(exc)))
    if not decision.allowed:
        why = f'User "{user.name}" cannot {verb} path "{request.path}"'
        if decision.reason:
            why += f": {decision.reason}"
        return _status(errors.Forbidden(why=why))
    return await handler(request)


async def _authenticate(request: web.Request, auth: DelegatedAuth) -> User | None:
    """The caller: a verified client certificate first, else a bearer token (TokenReview)."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    peer: Any = ssl_object.getpeercert() if ssl_object is not None else None
    if peer:
        user = user_of_subject(peer.get("subject"))
        if user is not None:
            return user
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return await auth.authenticate_token(token)
    except ReviewFailed as exc:
        log.warning("token review failed: %s", exc)
        return None


def _status(error: errors.StatusError) -> web.Response:
    return web.Response(status=error.code, body=json.dumps(error.to_status()).encode(),
                        content_type="application/json")
