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
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from servers.apimachinery import errors, field
from servers.apimachinery.meta import Obj, format_rfc3339, parse_rfc3339
from servers.apiserver import codec, resources
from servers.apiserver.options import DEFAULT_KUBELET_ADDRESS_TYPES
from servers.apiserver.registry import Registry
from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
CONNECTION_CHECK_SECONDS = 1.0  # how soon a quiet followed log notices its client has gone
ERROR_BODY_LIMIT = 4096  # bytes of a kubelet's error answer passed on as the message
TEXT = "text/plain"
INT64_MIN = -(2**63)

NO_CONTAINER = "a container name must be specified for pod {pod}"
CHOOSE_CONTAINER = "a container name must be specified for pod {pod}, choose one of: [{names}]"
BAD_CONTAINER = "container {container} is not valid for pod {pod}"
NO_HOST = "pod {pod} does not have a host assigned"
NO_ADDRESS = ('node "{node}" has no address of the types {types} to reach its kubelet at '
              "(its addresses: [{known}])")
NO_PORT = 'node "{node}" has no kubelet endpoint (status.daemonEndpoints.kubeletEndpoint.Port)'
UNREACHABLE = 'cannot reach the kubelet of node "{node}" at {url}: {why}'
BAD_TIME = 'invalid value for sinceTime: "{value}" is not an RFC 3339 time'
TLS_FILES = "cannot load {flags}: {error}"
NOT_VERIFIED = ("kubelet serving certificates are not verified "
                "(no --kubelet-certificate-authority)")


class KubeletTLSError(ValueError):
    """A --kubelet-* certificate, key or CA file does not load (no key material in it)."""


@dataclass(frozen=True)
class KubeletClientConfig:
    """How the apiserver reaches kubelets (its --kubelet-* flags)."""

    certificate: str | None = None
    key: str | None = None
    certificate_authority: str | None = None
    preferred_address_types: tuple[str, ...] = DEFAULT_KUBELET_ADDRESS_TYPES

    @classmethod
    def from_options(cls, opts: Any) -> KubeletClientConfig:
        return cls(opts.kubelet_client_certificate, opts.kubelet_client_key,
                   opts.kubelet_certificate_authority, opts.kubelet_preferred_address_types)

    def ssl_context(self, *, verify: bool) -> ssl.SSLContext:
        """TLS to a kubelet: the client certificate if any; the CA check when ``verify``.

        Raises KubeletTLSError when a file does not load.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if verify and self.certificate_authority:
            with _loading("--kubelet-certificate-authority"):
                context.load_verify_locations(cafile=self.certificate_authority)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certificate and self.key:
            with _loading("--kubelet-client-certificate/--kubelet-client-key"):
                context.load_cert_chain(self.certificate, self.key)
        return context


@contextlib.contextmanager
def _loading(flags: str) -> Iterator[None]:
    try:
        yield
    except (OSError, ssl.SSLError) as exc:
        error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubeletTLSError(TLS_FILES.format(flags=flags, error=error)) from None


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
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequest(NO_HOST.format(pod=target.name))
        base = kubelet_url(await self._node(node_name), self.config.preferred_address_types)
        url = base.with_path(f"/containerLogs/{target.namespace}/{target.name}/{container}"
                             ).with_query(opts.kubelet_query())
        context = self._unverified if opts.insecure_skip_tls_verify_backend else self._verified
        async with self._open(url, node_name, context) as upstream:
            return await _relay(request, upstream, self._stopping)

    async def _node(self, name: str) -> Obj:
        nodes = resources.by_plural("", "v1", "nodes")
        assert nodes is not None
        return await self.registry.get(Target(nodes, None, name))

    @contextlib.asynccontextmanager
    async def _open(self, url: URL, node: str, context: ssl.SSLContext
                    ) -> AsyncIterator[aiohttp.ClientResponse]:
        if self._session is None:
            raise errors.ServiceUnavailable("the apiserver is starting or stopping")
        try:
            response = await self._session.get(url, ssl=context, allow_redirects=False)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.info("pods/log: kubelet of node %r at %s: %s", node, url.origin(), exc)
            raise errors.ServiceUnavailable(UNREACHABLE.format(
                node=node, url=url.origin(), why=_why(exc))) from None
        try:
            if not 200 <= response.status < 300:
                raise await _kubelet_error(response)
            yield response
        finally:
            response.close()  # drops the connection: a followed log would never end


def choose_container(pod: Obj, name: str, wanted: str) -> str:
    """The container named ``wanted``, or the pod's only one (kube's validateContainer)."""
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    every = [str(c.get("name", "")) for kind in ("initContainers", "containers",
                                                 "ephemeralContainers")  # podutil's order
             for c in spec.get(kind) or []]
    if wanted:
        if wanted not in every:
            raise errors.BadRequest(BAD_CONTAINER.format(container=wanted, pod=name))
        return wanted
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.BadRequest(NO_CONTAINER.format(pod=name))
    raise errors.BadRequest(CHOOSE_CONTAINER.format(pod=name, names=" ".join(every)))


def kubelet_url(node: Obj, preferred: tuple[str, ...]) -> URL:
    """``https://ADDRESS:PORT`` of the node's kubelet, the address by type preference."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    addresses = [a for a in status.get("addresses") or [] if isinstance(a, dict)]
    address = next((a.get("address") for kind in preferred for a in addresses
                    if a.get("type") == kind and a.get("address")), None)
    if not address:
        known = ", ".join(f"{a.get('type')}={a.get('address')}" for a in addresses)
        raise errors.ServiceUnavailable(NO_ADDRESS.format(
            node=name, types=",".join(preferred), known=known))
    endpoint = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {})
    port = endpoint.get("Port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise errors.ServiceUnavailable(NO_PORT.format(node=name))
    return URL.build(scheme="https", host=str(address), port=port)


async def _kubelet_error(response: aiohttp.ClientResponse) -> errors.StatusError:
    """A kubelet's non-2xx answer as a Status with its code (its own Status if it sent one)."""
    body = await response.content.read(ERROR_BODY_LIMIT)
    text = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        decoded: Any = json.loads(text)
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            return errors.from_status(decoded)
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": response.status,
              "message": text or f"the kubelet answered {response.status} {response.reason}"}
    error = errors.from_status(status)
    error.reason = error.reason or type(error).reason  # the class the code chose
    return error


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse,
                 stopping: asyncio.Event) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": TEXT, "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    pending: asyncio.Future[bytes] = asyncio.ensure_future(upstream.content.readany())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=CONNECTION_CHECK_SECONDS)
            if request.transport is None or request.transport.is_closing():
                return resp  # the client left; closing the upstream response ends the rest
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
        log.info("pods/log: stream ended early: %s", _why(exc))
    finally:
        pending.cancel()
        if pending.done() and not pending.cancelled():
            pending.exception()  # retrieved, so asyncio does not log it as never retrieved
    return resp


def _why(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS: {exc.certificate_error}"
    if isinstance(exc, asyncio.TimeoutError):
        return f"no connection within {CONNECT_TIMEOUT_SECONDS:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError):  # its str() shows the SSLContext object
        return exc.strerror or type(exc.os_error).__name__
    return str(exc) or type(exc).__name__
