"""The apiserver process: storage, the aiohttp application, and its routes.

    /version /healthz /livez /readyz          what the server is, and whether it is well
    /metrics                                  Prometheus text (metrics.py)
    /api /api/v1 /apis /apis/G /apis/G/V      discovery, as kubectl and the Python client read it
    /openapi/v3 /openapi/v3/api/v1            OpenAPI v3 (kubectl validates create/apply by it)
    /api/v1/...  /apis/G/V/...                the resources (handlers.py), watch (watch.py)
    /api/v1/namespaces/NS/pods/NAME/log       proxied to the pod's kubelet (podlogs.py)
    .../pods/NAME/exec|attach|portforward     WebSockets relayed to its kubelet (podstream.py)
    /apis/authorization.k8s.io/v1/...         access reviews (authz/endpoints.py)
    /apis/authentication.k8s.io/v1/...        token reviews, whoami (auth/tokenreview.py, review.py)
    /ui/                                      the web view's static files (servers/ui), no auth

Unless ``--authorization-mode`` is AlwaysAllow alone (``RBAC``, ``Node,RBAC``), every request is
authorized first (authz/endpoints.py).

Every error leaves as a Kubernetes Status with its code: StatusErrors from below, aiohttp's
own 404/405/413, and anything unexpected as a 500 (logged with its traceback, never sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import ssl
import warnings
from argparse import Namespace
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from servers.apimachinery import errors
from servers.apiserver import (
    codec,
    discovery,
    handlers,
    kubernetesservice,
    openapi,
    options,
    resources,
    routing,
    tokenrequest,
)
from servers.apiserver.admission import certificates as csr_admission
from servers.apiserver.admission import defaulttolerationseconds, priority
from servers.apiserver.auth import (
    USER_KEY,
    AuthenticationError,
    UserInfo,
    authenticator,
    review,
    tokenreview,
)
from servers.apiserver.auth.bootstrap import NAMESPACE as TOKEN_SECRETS_NAMESPACE
from servers.apiserver.auth.bootstrap import BootstrapTokens
from servers.apiserver.authz import bootstrap
from servers.apiserver.authz.endpoints import Authorization
from servers.apiserver.metrics import METRICS, ApiserverMetrics, InstrumentedStorage
from servers.apiserver.mirror import Mirror
from servers.apiserver.podlogs import KubeletClientConfig, PodLogs
from servers.apiserver.podstream import PodStreams
from servers.apiserver.registry import Registry
from servers.apiserver.resources import AUTHORIZATION, RESOURCES
from servers.apiserver.routing import Target
from servers.apiserver.serviceallocation import ServiceRanges
from servers.apiserver.storage import interface as st
from servers.apiserver.storage import open_storage
from servers.ui.serve import StaticUI

log = logging.getLogger(__name__)

REGISTRY = web.AppKey("registry", Registry)
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
Authenticate = Callable[[web.Request], UserInfo]


async def run(opts: Namespace, stop: asyncio.Event) -> int:
    options.validate(opts)
    service_accounts = tokenrequest.from_options(opts)
    tls, authenticate = authenticator.from_options(
        opts, service_accounts.verifier if service_accounts else None)
    storage = await open_storage(opts.storage_backend, data_dir=opts.data_dir,
                                 etcd_servers=opts.etcd_servers)
    try:
        measured = ApiserverMetrics()
        ranges = ServiceRanges(opts.service_cluster_ip_range, opts.service_node_port_range)
        registry = Registry(InstrumentedStorage(storage, measured),  # type: ignore[arg-type]
                            service_ranges=ranges)
        registry.admission.toleration_seconds = defaulttolerationseconds.Settings(
            opts.default_not_ready_toleration_seconds,
            opts.default_unreachable_toleration_seconds)
        if service_accounts is not None and service_accounts.signer is not None:
            registry.admission.service_account = tokenrequest.admission(registry)
        await create_default_namespaces(registry)
        await bootstrap.ensure(registry)
        await priority.ensure_system_classes(registry)
        tokens = await _bootstrap_tokens(registry, opts)
        if tokens is not None:
            authenticate = dataclasses.replace(authenticate, bootstrap_tokens=tokens[0])
        app = make_app(registry, authorization_mode=opts.authorization_mode,
                       authenticate=authenticate,
                       kubelet=KubeletClientConfig.from_options(opts), metrics=measured,
                       service_accounts=service_accounts)
        # No handler_cancellation: it costs every request a task (a quarter of the create
        # path); watches notice a closed connection themselves (watch.CONNECTION_CHECK_SECONDS).
        runner = web.AppRunner(app, handle_signals=False,
                               access_log=log if opts.verbosity >= 5 else None)
        await runner.setup()
        try:
            urls = await _start_sites(runner, opts, tls)
            # default/kubernetes is in place before "serving on" says the server is ready.
            async with _compaction(registry, opts.compaction_interval, stop), \
                    _kubernetes_service(registry, opts, urls):
                for url in urls:
                    log.info("serving on %s (storage: %s)", url, opts.storage_backend)
                await stop.wait()
            log.info("stopping")
        finally:
            await runner.cleanup()
            if tokens is not None:
                await tokens[1].close()
            await registry.close()
    finally:
        await storage.close()
    return 0


async def _bootstrap_tokens(registry: Registry,
                            opts: Namespace) -> tuple[BootstrapTokens, Mirror] | None:
    """With --enable-bootstrap-token-auth: the tokens from kube-system's Secrets, listed once
    already, and the mirror that keeps them current (kube's Secret informer and lister)."""
    if not opts.enable_bootstrap_token_auth:
        return None
    secrets = resources.by_plural("", "v1", "secrets")
    assert secrets is not None
    tokens = BootstrapTokens()
    mirror = Mirror(registry, Target(secrets, TOKEN_SECRETS_NAMESPACE), tokens,
                    "bootstrap tokens")
    mirror.start()
    await mirror.synced()
    log.info("bootstrap token authentication: %d token secrets", len(tokens))
    return tokens, mirror


def _kubernetes_service(registry: Registry, opts: Namespace,
                        urls: list[str]) -> contextlib.AbstractAsyncContextManager[None]:
    """default/kubernetes and its endpoints, kept while serving HTTPS (none without it)."""
    port = next((int(u.rsplit(":", 1)[1]) for u in urls if u.startswith("https:")), None)
    if port is None:
        return contextlib.nullcontext()
    address = kubernetesservice.advertise_address(opts.advertise_address, opts.bind_address)
    return kubernetesservice.maintained(registry, address, port)


async def _start_sites(runner: web.AppRunner, opts: Namespace,
                       tls: ssl.SSLContext | None) -> list[str]:
    """Plain HTTP (loopback only, see options.validate) and/or HTTPS; the URLs served."""
    urls: list[str] = []
    for scheme, port, context in (("http", options.plain_port(opts), None),
                                  ("https", opts.secure_port, tls)):
        if port is None:
            continue
        before = set(runner.addresses)
        site = web.TCPSite(runner, opts.bind_address, port, ssl_context=context,
                           reuse_address=True)
        await site.start()
        urls += [f"{scheme}://{host}:{p}" for host, p, *rest in runner.addresses
                 if (host, p, *rest) not in before]
    return urls


def make_app(registry: Registry, *, authorization_mode: str = "AlwaysAllow",
             authenticate: Authenticate | None = None,
             kubelet: KubeletClientConfig | None = None,
             metrics: ApiserverMetrics | None = None,
             service_accounts: tokenrequest.ServiceAccountTokens | None = None
             ) -> web.Application:
    """The API as an aiohttp app. ``authenticate`` names the user of each request (tests;
    without it requests carry whatever identity an earlier middleware set, or none);
    ``kubelet`` says how pods/log reaches kubelets (default: no client certificate, no
    verification); ``metrics`` what /metrics serves (default: a registry of its own)."""
    measured = metrics if metrics is not None else ApiserverMetrics()
    authorization = Authorization(authorization_mode, registry)
    # The web view's static files (servers/ui) hold no data: served before authentication.
    chain = [measured.middleware, _errors, StaticUI().middleware,
             *([_identify(authenticate, registry)] if authenticate else []),
             *authorization.middlewares, csr_admission.middleware(authorization.authorizer)]
    app = web.Application(middlewares=chain, client_max_size=codec.MAX_BODY_BYTES)
    app[REGISTRY] = registry
    app[METRICS] = measured
    app.cleanup_ctx.append(authorization.running)
    # Set as the server stops: watches and followed logs end at once rather than holding the
    # stop up for aiohttp's grace period (their clients come back to the next server).
    stopping = asyncio.Event()

    async def stop_streams(app: web.Application) -> None:
        stopping.set()

    app.on_shutdown.append(stop_streams)
    logs = PodLogs(registry, kubelet or KubeletClientConfig(), stopping)
    app.cleanup_ctx.append(logs.running)
    streams = PodStreams(registry, kubelet or KubeletClientConfig(),
                         authorization.authorizer if authorization.checks else None, stopping)
    app.cleanup_ctx.append(streams.running)
    resource = handlers.ResourceHandler(registry, logs, stopping).handle
    r = app.router
    reviews = f"/apis/{AUTHORIZATION}/v1/"
    r.add_post(reviews + "selfsubjectaccessreviews{_:/?}",
               authorization.self_subject_access_review)
    r.add_post(reviews + "subjectaccessreviews{_:/?}", authorization.subject_access_review)
    r.add_post(reviews + "selfsubjectrulesreviews{_:/?}",
               authorization.self_subject_rules_review)
    r.add_post(reviews + "namespaces/{namespace}/localsubjectaccessreviews{_:/?}",
               authorization.local_subject_access_review)
    r.add_post(review.PATH + "{_:/?}", review.self_subject_review)
    # TokenReview asks the token authenticators of ``authenticate`` (an Authenticator's).
    tokens = getattr(authenticate, "tokens", None)
    accounts = functools.partial(service_accounts.review, registry) if service_accounts \
        else None
    token_reviews = tokenreview.TokenReviews(
        tokens, accounts, getattr(authenticate, "bootstrap_tokens", None),
        service_accounts.audiences if service_accounts else tokenreview.API_AUDIENCES)
    r.add_post(tokenreview.PATH + "{_:/?}", token_reviews.handle)
    if service_accounts is not None:
        _serve_service_accounts(r, service_accounts)
    r.add_get("/metrics{_:/?}", measured.serve)
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_get(path + "{_:(/.*)?}", _health)
    # GET only, as kube's go-restful routes: HEAD is 405 there (the health paths take it).
    r.add_get("/version{_:/?}", _version, allow_head=False)
    r.add_get("/api{_:/?}", _api, allow_head=False)
    r.add_get("/apis{_:/?}", _apis, allow_head=False)
    r.add_get("/api/{version}{_:/?}", _resource_list, allow_head=False)
    r.add_get("/apis/{group}{_:/?}", _group, allow_head=False)
    r.add_get("/apis/{group}/{version}{_:/?}", _resource_list, allow_head=False)
    r.add_get("/openapi/v3{_:/?}", _openapi_index)
    r.add_get("/openapi/v3/{path:.+}", _openapi_document)
    # {version} and {rest} as the resource routes have them, so metrics label it alike.
    r.add_route("*", "/api/{version:v1}/{rest:namespaces/[^/]+/pods/[^/]+/"
                "(?:exec|attach|portforward)/?}", streams.handle)
    r.add_route("*", "/api/{version}/{rest:.+}", resource)
    r.add_route("*", "/apis/{group}/{version}/{rest:.+}", resource)
    return app


async def create_default_namespaces(registry: Registry) -> None:
    namespaces = next(r for r in RESOURCES if r.plural == "namespaces")
    for name in DEFAULT_NAMESPACES:
        with contextlib.suppress(errors.AlreadyExists):
            await registry.create(Target(namespaces, None), {"metadata": {"name": name}})


@contextlib.asynccontextmanager
async def _compaction(registry: Registry, interval: float,
                      stop: asyncio.Event) -> AsyncIterator[None]:
    """Every interval, compact away history older than the previous tick (as kube-apiserver)."""
    if interval <= 0:
        yield
        return
    storage = registry.storage

    async def loop() -> None:
        seen = await storage.current_revision()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            try:
                await storage.compact(seen)
                registry.watch_cache.compacted(seen)
                seen = await storage.current_revision()
            except st.StorageError as exc:
                log.warning("compaction failed: %s", exc)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _serve_service_accounts(r: web.UrlDispatcher,
                            tokens: tokenrequest.ServiceAccountTokens) -> None:
    """TokenRequest (before the generic resource route) and the OIDC discovery documents."""
    if tokens.signer is not None:
        r.add_post(tokenrequest.PATH + "{_:/?}", tokens.handle)
    r.add_get("/.well-known/openid-configuration{_:/?}", tokens.serve_configuration)
    r.add_get("/openid/v1/jwks{_:/?}", tokens.serve_jwks)


def _identify(authenticate: Authenticate, registry: Registry) -> Middleware:
    @web.middleware
    async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
        with warnings.catch_warnings():  # USER_KEY is a plain string key (auth is stdlib-only)
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request[USER_KEY] = authenticate(request)
            claims = request.get(authenticator.CLAIMS_KEY)
        if claims is not None:  # a service account token: are its objects still there?
            try:
                await tokenrequest.check_bound(registry, claims)
            except AuthenticationError as exc:
                authenticator.deny(request, exc)
        return await handler(request)

    return identify


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.StatusError as exc:
        return status_response(exc)
    except web.HTTPException as exc:
        return status_response(_from_http(exc, request))
    except st.Unavailable as exc:
        return status_response(errors.ServiceUnavailable(str(exc)))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return status_response(errors.InternalError("an error on the server prevented the "
                                                    "request from succeeding"))


def status_response(exc: errors.StatusError) -> web.Response:
    allowed = getattr(exc, "allowed", ())
    return web.Response(body=codec.encode(exc.to_status()), status=exc.code,
                        content_type=codec.JSON,
                        headers={"Allow": ", ".join(allowed)} if allowed else None)


def _from_http(exc: web.HTTPException, request: web.Request) -> errors.StatusError:
    if exc.status == 404:
        return routing.PathNotFound()
    if exc.status == 405:
        allowed = tuple(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return errors.MethodNotAllowed(request.path, request.method.lower(), allowed=allowed)
    if exc.status == 413:
        return errors.RequestEntityTooLarge(f"limit is {codec.MAX_BODY_BYTES} bytes")
    err = errors.StatusError(exc.reason or "error", {})
    err.code = exc.status
    return err


def _json(obj: object) -> web.Response:
    return web.Response(body=codec.encode(obj), content_type=codec.JSON)  # type: ignore[arg-type]


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _version(request: web.Request) -> web.Response:
    return _json(discovery.version_info())


def _aggregated(request: web.Request) -> bool:
    return "as=APIGroupDiscoveryList" in request.headers.get("Accept", "")


async def _api(request: web.Request) -> web.Response:
    if _aggregated(request):
        return web.Response(body=codec.encode(discovery.aggregated_discovery(True)),
                            headers={"Content-Type": discovery.AGGREGATED_CONTENT_TYPE})
    return _json(discovery.api_versions(request.host))


async def _apis(request: web.Request) -> web.Response:
    if _aggregated(request):
        return web.Response(body=codec.encode(discovery.aggregated_discovery(False)),
                            headers={"Content-Type": discovery.AGGREGATED_CONTENT_TYPE})
    return _json(discovery.api_group_list())


async def _group(request: web.Request) -> web.Response:
    doc = discovery.api_group(request.match_info["group"])
    if doc is None:
        raise routing.PathNotFound
    return _json(doc)


async def _resource_list(request: web.Request) -> web.Response:
    doc = discovery.api_resource_list(request.match_info.get("group", ""),
                                      request.match_info["version"])
    if doc is None:
        raise routing.PathNotFound
    return _json(doc)


async def _openapi_index(request: web.Request) -> web.Response:
    return _json(openapi.index())


async def _openapi_document(request: web.Request) -> web.Response:
    body = openapi.document_bytes(request.match_info["path"])
    if body is None:
        raise routing.PathNotFound
    return web.Response(body=body, content_type=codec.JSON)
