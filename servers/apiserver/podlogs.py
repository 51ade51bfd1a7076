"""pods/log: the apiserver's half of ``kubectl logs``, a checking proxy to the pod's kubelet.

    kubectl logs [-f] web -c app
        │  GET /api/v1/namespaces/NS/pods/web/log?container=app&follow=true&tailLines=10
        ▼
    apiserver (this module), as kube-apiserver's LogREST and pod.LogLocation do:
        1. the options: bad syntax is 400, bad values 422 PodLogOptions "web" is invalid
        2. the pod (404), its container: ?container=, else the only one (400 otherwise)
        3. its node: spec.nodeName (400 "does not have a host assigned"), the Node (404),
           an address of a --kubelet-preferred-address-types type and
           status.daemonEndpoints.kubeletEndpoint.Port (503 without)
        4. GET https://ADDR:PORT/containerLogs/NS/web/app?<the options again>, through the
           app's one aiohttp ClientSession, and the body streamed back as text/plain chunk by
           chunk (a followed log stays open; a client that leaves closes the kubelet request)
        ▼
    kubelet of that node

Steps 2 and 3 are kubeletclient.py's, shared with pods/exec, attach and portforward
(podstream.py).

What a kubelet serves (``km kubelet``'s servers/kubelet/api.py; tests/e2e/test_kubectl_logs.py
runs kubectl logs through here to it): HTTPS on its node's address and
``status.daemonEndpoints.kubeletEndpoint.Port``, ``GET
/containerLogs/{namespace}/{pod}/{container}`` with the query ``follow``, ``previous``,
``timestamps`` (``true`` when set), ``sinceSeconds``, ``sinceTime`` (RFC 3339, UTC),
``tailLines`` and ``limitBytes`` (integers), answering 200 ``text/plain`` with the container's
output (with ``follow``, written as it comes, until the container ends or the apiserver hangs
up). Any other status carries a text message; the apiserver passes it to the client with the
same code (kube's GenericHttpResponseChecker). The kubelet may check the apiserver's client
certificate, ``--kubelet-client-certificate``/``--kubelet-client-key``. The apiserver checks the
kubelet's serving certificate (IP or DNS name of the address it dials) against
``--kubelet-certificate-authority``; without that flag it does not verify at all, like
kube-apiserver, and says so once at start.

Where km differs from kube-apiserver, on purpose: an unscheduled pod's log is kube's empty 200
but km's 400 ``pod web does not have a host assigned`` (kube's words for exec and attach), so
``kubectl logs`` says why there is nothing; a node without a kubelet port is a 503 here, not a
dial to the deprecated default port 10250; an unreachable kubelet is a 503 naming node and
address (kube: a 500 with the dial error).
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/pkg/registry/core/pod/strategy.go
(LogLocation) and pkg/registry/core/pod/rest/log.go (validatePodLogOptions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from aiohttp import web
from yarl import URL

from servers.apimachinery import errors, field
from servers.apimachinery.meta import format_rfc3339, parse_rfc3339
from servers.apiserver import codec
from servers.apiserver.kubeletclient import (
    CONNECT_TIMEOUT_SECONDS,
    NOT_VERIFIED,
    KubeletClientConfig,
    KubeletLocator,
    choose_container,
    kubelet_error,
    unreachable,
    why,
)

# re-exported: what pods/log offered before the lookup moved to kubeletclient.py
from servers.apiserver.kubeletclient import KubeletTLSError as KubeletTLSError
from servers.apiserver.kubeletclient import kubelet_url as kubelet_url
from servers.apiserver.registry import Registry
from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

CONNECTION_CHECK_SECONDS = 1.0  # how soon a quiet followed log notices its client has gone
ERROR_BODY_LIMIT = 4096  # bytes of a kubelet's error answer passed on as the message
TEXT = "text/plain"
INT64_MIN = -(2**63)
BAD_TIME = 'invalid value for sinceTime: "{value}" is not an RFC 3339 time'


@dataclass(frozen=True)
class LogOptions:
    """A pods/log request's query (core/v1 PodLogOptions)."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: datetime | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None
    insecure_skip_tls_verify_backend: bool = False

    @classmethod
    def parse(cls, pod: str, query: Mapping[str, str]) -> LogOptions:
        """Syntax errors are 400 BadRequest; values kube refuses are 422 Invalid."""
        since_time = query.get("sinceTime") or None
        opts = cls(
            container=query.get("container", ""),
            follow=codec.bool_param(query, "follow"),
            previous=codec.bool_param(query, "previous"),
            timestamps=codec.bool_param(query, "timestamps"),
            since_seconds=codec.int_param(query, "sinceSeconds", minimum=INT64_MIN),
            since_time=_time(since_time) if since_time else None,
            tail_lines=codec.int_param(query, "tailLines", minimum=INT64_MIN),
            limit_bytes=codec.int_param(query, "limitBytes", minimum=INT64_MIN),
            insecure_skip_tls_verify_backend=codec.bool_param(
                query, "insecureSkipTLSVerifyBackend"))
        causes = opts.problems()
        if causes:
            raise errors.Invalid("PodLogOptions", pod, causes)
        return opts

    def problems(self) -> list[errors.Cause]:
        causes = []
        if self.tail_lines is not None and self.tail_lines < 0:
            causes.append(field.invalid("tailLines", self.tail_lines,
                                        "must be greater than or equal to 0"))
        if self.limit_bytes is not None and self.limit_bytes < 1:
            causes.append(field.invalid("limitBytes", self.limit_bytes, "must be greater than 0"))
        if self.since_seconds is not None and self.since_time is not None:
            causes.append(field.forbidden(
                "", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        elif self.since_seconds is not None and self.since_seconds < 1:
            causes.append(field.invalid("sinceSeconds", self.since_seconds,
                                        "must be greater than 0"))
        return causes

    def kubelet_query(self) -> dict[str, str]:
        """The query for the kubelet: only what is set, in kube's spelling."""
        query = {name: "true" for name, on in (("follow", self.follow),
                                                ("previous", self.previous),
                                                ("timestamps", self.timestamps)) if on}
        numbers = (("sinceSeconds", self.since_seconds), ("tailLines", self.tail_lines),
                   ("limitBytes", self.limit_bytes))
        query.update({name: str(value) for name, value in numbers if value is not None})
        if self.since_time is not None:
            query["sinceTime"] = format_rfc3339(self.since_time)
        return dict(sorted(query.items()))  # url.Values.Encode() sorts by key


def _time(text: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise errors.BadRequest(BAD_TIME.format(value=text)) from None


class PodLogs:
    """Serves pods/log for one app; ``running`` (a cleanup_ctx) owns the client session, and
    followed logs end once ``stopping`` is set, so they do not hold up the server's stop."""

    def __init__(self, registry: Registry, config: KubeletClientConfig,
                 stopping: asyncio.Event) -> None:
        self.registry = registry
        self.config = config
        self._locator = KubeletLocator(registry, config.preferred_address_types)
        self._session: aiohttp.ClientSession | None = None
        self._verified = config.ssl_context(verify=True)
        self._stopping = stopping
        self._unverified = config.ssl_context(verify=False)

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        if not self.config.certificate_authority:
            log.info(NOT_VERIFIED)
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS)
        # No idle connections kept to kubelets: each log request is its own connection, gone
        # when the request is (a followed log's lasts as long as its client stays).
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False,
                                         connector=connector) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def serve(self, request: web.Request, target: Target) -> web.StreamResponse:
        """GET pods/NAME/log: check everything, then stream the kubelet's answer."""
        opts = LogOptions.parse(target.name, request.query)
        pod = await self.registry.get(Target(target.resource, target.namespace, target.name))
        container = choose_container(pod, target.name, opts.container)
        node_name, base = await self._locator.node_url(pod, target.name)
        url = base.with_path(f"/containerLogs/{target.namespace}/{target.name}/{container}"
                             ).with_query(opts.kubelet_query())
        context = self._unverified if opts.insecure_skip_tls_verify_backend else self._verified
        async with self._open(url, node_name, context) as upstream:
            return await _relay(request, upstream, self._stopping)

    @contextlib.asynccontextmanager
    async def _open(self, url: URL, node: str, context: ssl.SSLContext
                    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if self._session is None:
            raise errors.ServiceUnavailable("the apiserver is starting or stopping")
        try:
            response = await self._session.get(url, ssl=context, allow_redirects=False)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.info("pods/log: kubelet of node %r at %s: %s", node, url.origin(), exc)
            raise unreachable(node, url, exc) from None
        try:
            if not 200 <= response.status < 300:
                body = await response.content.read(ERROR_BODY_LIMIT)
                raise kubelet_error(response.status, response.reason or "", body)
            yield response
        finally:
            response.close()  # drops the connection: a followed log would never end


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse,
                 stopping: asyncio.Event) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": TEXT, "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
    except ConnectionError:  # the client left before the kubelet answered: nothing to say
        log.debug("pods/log: the client left before the kubelet answered")
        return resp  # aiohttp finishes it quietly; the caller closes the kubelet's response
    pending: asyncio.Future[bytes] = asyncio.ensure_future(upstream.content.readany())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=CONNECTION_CHECK_SECONDS)
            if _client_left(request):
                return resp  # closing the upstream response ends the rest
            if stopping.is_set():
                break
            if not done:
                continue
            chunk = pending.result()
            if not chunk:
                break
            await resp.write(chunk)
            pending = asyncio.ensure_future(upstream.content.readany())
        await resp.write_eof()
    except (ConnectionError, aiohttp.ClientError) as exc:
        if _client_left(request):  # a client may leave when it likes (kubectl logs | head)
            log.debug("pods/log: the client left: %s", why(exc))
        else:
            log.info("pods/log: stream ended early: %s", why(exc))
    finally:
        pending.cancel()
        if pending.done() and not pending.cancelled():
            pending.exception()  # retrieved, so asyncio does not log it as never retrieved
    return resp


def _client_left(request: web.Request) -> bool:
    """Whether the client hung up (a transport aiohttp dropped or is closing)."""
    return request.transport is None or request.transport.is_closing()
