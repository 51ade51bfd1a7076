"""pods/exec, pods/attach, pods/portforward: the apiserver's half of ``kubectl exec``,
``attach``, ``cp`` and ``port-forward``, a checking WebSocket relay to the pod's kubelet.

    kubectl exec web -- ls / python client stream()
        │  GET /api/v1/namespaces/NS/pods/web/exec?command=ls&stdout=true&stderr=true
        │  Upgrade: websocket, Sec-WebSocket-Protocol: v5.channel.k8s.io[, v4...]
        ▼
    apiserver (this module), in kube-apiserver's order (pkg/registry/core/pod/rest/
    subresources.go, ExecREST/AttachREST/PortForwardREST.Connect):
        1. the options (PodExecOptions, PodAttachOptions, PodPortForwardOptions): 400
        2. ``create`` on pods/exec|attach|portforward: the middleware authorized the GET as
           ``get``; a WebSocket upgrade must also hold ``create``, as SPDY's POST always did
           (kube's AuthorizePodWebsocketUpgradeCreatePermission, rest/authorize.go, a gate
           on by default in newer releases; km always checks): 403
        3. the pod (404), its container (400), its node and kubelet (kubeletclient.py)
        4. an upgrade it is (400 "Upgrade request required", kube's UpgradeAwareHandler)
        5. a WebSocket to the kubelet's /exec|/attach/NS/POD/CONTAINER or /portForward/NS/POD,
           offering the client's subprotocols; the kubelet's refusal goes back as a Status
           with its code and text; on 101 the client is accepted with the kubelet's choice
           and messages are relayed one for one both ways (binary, text, the close code)
        ▼
    kubelet of that node (servers/kubelet/streaming.py: /exec, /attach; portforward/)

The relay holds at most one message per direction: it reads the next one only once the
previous one was written, so a slow reader slows the writer (aiohttp pauses reading a socket
whose queue is full). Pings are answered hop by hop. kube-apiserver translates v5 WebSockets
to SPDY for the kubelet (1.30+); km's kubelets speak the WebSocket protocols themselves, so km
relays them as they are, whichever version the client chose.

kubectl's SPDY fallback (POST, ``Upgrade: SPDY/3.1``) is checked the same way. For
port-forward it is relayed as bytes (upgraderelay.py); for exec and attach, which km's
kubelet serves over WebSocket only, it is refused with a Status. kubectl 1.32 falls back only
when its WebSocket upgrade failed; when that failure was the kubelet's refusal, the POST that
follows at once gets the same refusal (remembered briefly per user and URL), so kubectl
prints the kubelet's words and not the fallback's.

Differences from kube-apiserver, on purpose: the create check's 403 names user, verb and
subresource (kube's says only ``pods "web" is forbidden: `` with RBAC's empty reason); a
kubelet that cannot be reached is a 503 naming node and address. Like kube-apiserver, it
does not look at the pod's phase: a completed pod is kubectl's own check, a container that
is not running the kubelet's refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from multidict import MultiMapping
from yarl import URL

from servers.apimachinery import errors
from servers.apiserver import resources, upgraderelay
from servers.apiserver.authz import Authorizer, forbidden, forbidden_message, requestinfo
from servers.apiserver.authz.endpoints import user_of
from servers.apiserver.kubeletclient import (
    CONNECT_TIMEOUT_SECONDS,
    UNREACHABLE,
    KubeletClientConfig,
    KubeletLocator,
    choose_container,
    kubelet_error,
    unreachable,
)
from servers.apiserver.registry import Registry
from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

SUBRESOURCES = ("exec", "attach", "portforward")
#: The kubelet's path for each subresource (kube's pkg/kubelet/server/server.go).
KUBELET_PATHS = {"exec": "exec", "attach": "attach", "portforward": "portForward"}
MAX_MESSAGE_BYTES = 16 << 20  # kubectl cp's tar chunks and SPDY frames are far smaller
ERROR_BODY_LIMIT = 4096  # bytes of a kubelet's refusal passed on as the message
CLOSE_SECONDS = 5.0  # how long a close handshake may take before the socket is dropped
HANDSHAKE_SECONDS = 30.0  # a kubelet that took the connection but never answers the upgrade
REFUSAL_SECONDS = 10.0  # how long a kubelet's refusal answers kubectl's SPDY fallback
REFUSALS_KEPT = 256

NO_STREAMS = "you must specify at least 1 of stdin, stdout, stderr"
UPGRADE_REQUIRED = "Upgrade request required"
NO_SPDY = ("km relays pods/{sub} over WebSocket only (GET, Upgrade: websocket); "
           "the SPDY/3.1 upgrade (POST) is not supported")
BAD_PORT = "cannot convert to []int32: strconv.ParseUint: parsing {text}: {why}"
BAD_HANDSHAKE = 'the kubelet of node "{node}" answered the upgrade wrongly: {why}'
STOPPING = "the apiserver is starting or stopping"
NO_ANSWER = 'the kubelet of node "{node}" at {url} did not answer the upgrade within {seconds:g}s'

#: Where the body of a kubelet's non-101 answer lands (set around each ws_connect; aiohttp's
#: handshake error carries status and headers only).
_REFUSAL: contextvars.ContextVar[list[bytes] | None] = contextvars.ContextVar(
    "km_kubelet_refusal", default=None)


def _go_bool(query: MultiMapping[str], name: str) -> bool:
    """A query flag as kube's parameter codec reads it (runtime.Convert_Slice_string_To_bool):
    absent, ``0`` or ``false`` (any case) is false, anything else true."""
    values = query.getall(name, [])
    return bool(values) and values[0] != "0" and values[0].lower() != "false"


def _ports(values: Iterable[str]) -> tuple[int, ...]:
    """``ports=80&ports=8080`` or ``ports=80,8080`` (kube's Convert_Slice_string_To_Slice_int32)."""
    ports = []
    for value in values:
        for text in value.split(","):
            if not text.isdigit() or not text.isascii():
                raise errors.BadRequest(BAD_PORT.format(text=f'"{text}"',
                                                        why="invalid syntax"))
            if int(text) > 65535:
                raise errors.BadRequest(BAD_PORT.format(text=f'"{text}"',
                                                        why="value out of range"))
            ports.append(int(text))
    return tuple(ports)


@dataclass(frozen=True)
class StreamOptions:
    """One request's PodExecOptions, PodAttachOptions or PodPortForwardOptions."""

    subresource: str
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    tty: bool = False
    container: str = ""
    command: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()

    @classmethod
    def parse(cls, subresource: str, query: MultiMapping[str]) -> StreamOptions:
        """The options of ``query``; 400 for what kube refuses before reaching the kubelet."""
        if subresource == "portforward":
            return cls(subresource, ports=_ports(query.getall("ports", [])))
        opts = cls(subresource, stdin=_go_bool(query, "stdin"),
                   stdout=_go_bool(query, "stdout"), stderr=_go_bool(query, "stderr"),
                   tty=_go_bool(query, "tty"), container=query.get("container", ""),
                   command=tuple(query.getall("command", [])) if subresource == "exec" else ())
        if not (opts.stdin or opts.stdout or opts.stderr):
            raise errors.BadRequest(NO_STREAMS)
        return opts

    def kubelet_query(self) -> list[tuple[str, str]]:
        """The kubelet's query (kube's streamParams), sorted by key as url.Values.Encode()."""
        if self.subresource == "portforward":
            # kube's streamParams names it ``port`` (api.PortHeader); km's kubelet reads that
            # and the client's ``ports`` alike, and would count a port given in both twice.
            return [("port", ",".join(map(str, self.ports)))] if self.ports else []
        flags = [("error", self.stderr), ("input", self.stdin), ("output", self.stdout),
                 ("tty", self.tty)]
        return [("command", c) for c in self.command] + [(k, "1") for k, on in flags if on]


class _Refusals:
    """The kubelet refusals of the last few seconds, by user and URL (for kubectl's SPDY
    fallback, which repeats the refused request as a POST at once)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, str], tuple[float, errors.StatusError]] = \
            OrderedDict()

    def remember(self, key: tuple[str, str], error: errors.StatusError) -> None:
        self._kept[key] = (time.monotonic() + REFUSAL_SECONDS, error)
        self._kept.move_to_end(key)
        while len(self._kept) > REFUSALS_KEPT:
            self._kept.popitem(last=False)

    def recall(self, key: tuple[str, str]) -> errors.StatusError | None:
        until, error = self._kept.pop(key, (0.0, None))
        return error if until > time.monotonic() else None


class PodStreams:
    """Serves pods/exec, pods/attach and pods/portforward for one app; ``running`` (a
    cleanup_ctx) owns the client session; relays end once ``stopping`` is set."""

    def __init__(self, registry: Registry, config: KubeletClientConfig,
                 authorizer: Authorizer | None, stopping: asyncio.Event) -> None:
        self.registry = registry
        self._locator = KubeletLocator(registry, config.preferred_address_types)
        self._authorizer = authorizer  # None: AlwaysAllow alone, nothing to check
        self._context = config.ssl_context(verify=True)
        self._stopping = stopping
        self._session: aiohttp.ClientSession | None = None
        self._refusals = _Refusals()

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(_keep_refusal)
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS)
        connector = aiohttp.TCPConnector(force_close=True)  # one connection per stream
        async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                         trace_configs=[trace]) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET (WebSocket) or POST (SPDY) on pods/NAME/exec|attach|portforward."""
        # the route's {rest}: namespaces/NS/pods/NAME/SUB[/]
        _, namespace, _, name, sub = request.match_info["rest"].strip("/").split("/")
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowed(f"pods/{sub}", request.method.lower(),
                                          allowed=("GET", "POST"))
        opts = StreamOptions.parse(sub, request.query)
        self._authorize_create(request)
        pods = resources.by_plural("", "v1", "pods")
        assert pods is not None
        pod = await self.registry.get(Target(pods, namespace, name))
        container = "" if sub == "portforward" else choose_container(pod, name, opts.container)
        node, base = await self._locator.node_url(pod, name)
        path = "/".join(p for p in ("", KUBELET_PATHS[sub], namespace, name, container) if p)
        url = base.with_path(path).with_query(opts.kubelet_query())
        key = (user_of(request).name, request.path_qs)
        if request.method == "POST" and sub == "portforward":
            return await self._relay_spdy(request, url, node)
        if request.method == "POST":
            return self._refuse_spdy(request, sub, key)
        if not _client_socket(_offered(request)).can_prepare(request).ok:
            raise errors.BadRequest(UPGRADE_REQUIRED)
        return await self._relay(request, url, node, key)

    def _authorize_create(self, request: web.Request) -> None:
        """A WebSocket GET was authorized as ``get``; it must also hold ``create`` (kube's
        ensureAuthorizedForVerb)."""
        if self._authorizer is None or request.method == "POST":
            return  # POST was authorized as create already
        user = user_of(request)
        attrs = dataclasses.replace(requestinfo.attributes(
            request.method, request.path, request.query, user.name, user.groups), verb="create")
        decision = self._authorizer.authorize(attrs)
        if not decision.allowed:
            log.info("forbidden: %s (groups=%s; %s %s, a WebSocket upgrade needs create)",
                     forbidden_message(attrs), ",".join(user.groups) or "-", request.method,
                     request.path_qs)
            raise forbidden(attrs, decision.reason)

    async def _relay_spdy(self, request: web.Request, url: URL,
                          node: str) -> web.StreamResponse:
        """kubectl's plain SPDY/3.1 port-forward, relayed as bytes (upgraderelay.py)."""
        if request.headers.get("Upgrade", "").lower() != "spdy/3.1":
            raise errors.BadRequest(UPGRADE_REQUIRED)
        protocols = [p.strip() for header in request.headers.getall(
            upgraderelay.PROTOCOL_HEADER, []) for p in header.split(",") if p.strip()]
        try:
            upstream = await upgraderelay.dial(url, self._context, protocols, request.remote)
        except upgraderelay.UpgradeFailed as exc:
            log.info("pods stream: kubelet of node %r at %s: %s", node, url.origin(), exc)
            raise errors.ServiceUnavailable(UNREACHABLE.format(
                node=node, url=url.origin(), why=exc)) from None
        return await upgraderelay.relay(request, upstream, self._stopping)

    def _refuse_spdy(self, request: web.Request, sub: str,
                     key: tuple[str, str]) -> web.StreamResponse:
        if "upgrade" not in request.headers.get("Connection", "").lower():
            raise errors.BadRequest(UPGRADE_REQUIRED)
        refusal = self._refusals.recall(key)
        if refusal is not None:
            raise refusal
        raise errors.BadRequest(NO_SPDY.format(sub=sub))

    async def _relay(self, request: web.Request, url: URL, node: str,
                     key: tuple[str, str]) -> web.StreamResponse:
        kubelet = await self._dial(url, node, _offered(request), request.remote, key)
        try:
            client = _client_socket((kubelet.protocol,) if kubelet.protocol else ())
            try:
                await client.prepare(request)
            except ConnectionError:  # the client hung up while the kubelet answered: normal
                log.debug("pods stream: the client left during the handshake")
                return client  # aiohttp finishes it quietly; the kubelet's side closes below
            await _splice(client, kubelet, self._stopping)
        finally:
            await _close(kubelet, 1001, b"")
        return client

    async def _dial(self, url: URL, node: str, protocols: tuple[str, ...], remote: str | None,
                    key: tuple[str, str]) -> aiohttp.ClientWebSocketResponse:
        if self._session is None:
            raise errors.ServiceUnavailable(STOPPING)
        refusal: list[bytes] = []
        token = _REFUSAL.set(refusal)
        headers = {"X-Forwarded-For": remote} if remote else {}
        connecting = asyncio.ensure_future(self._session.ws_connect(
            url, protocols=protocols, ssl=self._context, headers=headers, autoclose=False,
            autoping=True, compress=0, max_msg_size=MAX_MESSAGE_BYTES,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_SECONDS)))
        try:
            done, _ = await asyncio.wait({connecting}, timeout=HANDSHAKE_SECONDS)
            if not done:
                raise errors.ServiceUnavailable(NO_ANSWER.format(
                    node=node, url=url.origin(), seconds=HANDSHAKE_SECONDS))
            return connecting.result()
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 101:
                raise errors.ServiceUnavailable(BAD_HANDSHAKE.format(
                    node=node, why=exc.message)) from None
            error = kubelet_error(exc.status, exc.message, b"".join(refusal))
            log.info("pods stream: the kubelet of node %r refused %s: %s %s", node,
                     url.path, exc.status, error.message)
            self._refusals.remember(key, error)
            raise error from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.info("pods stream: kubelet of node %r at %s: %s", node, url.origin(), exc)
            raise unreachable(node, url, exc) from None
        finally:
            connecting.cancel()  # a no-op once it is done
            _REFUSAL.reset(token)


async def _keep_refusal(session: aiohttp.ClientSession, context: SimpleNamespace,
                        params: aiohttp.TraceRequestEndParams) -> None:
    """A trace hook: the body of a kubelet's non-101 answer, into ``_REFUSAL``'s list."""
    into = _REFUSAL.get()
    response = params.response
    if into is None or response.status == 101:
        return
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
        while sum(map(len, into)) < ERROR_BODY_LIMIT:
            chunk = await asyncio.wait_for(response.content.read(ERROR_BODY_LIMIT),
                                           CLOSE_SECONDS)
            if not chunk:
                break
            into.append(chunk)


def _client_socket(protocols: tuple[str, ...]) -> web.WebSocketResponse:
    return web.WebSocketResponse(protocols=protocols, autoclose=False, autoping=True,
                                 compress=False, max_msg_size=MAX_MESSAGE_BYTES,
                                 timeout=CLOSE_SECONDS)


def _offered(request: web.Request) -> tuple[str, ...]:
    """The subprotocols the client offers, in its order (one header or several)."""
    return tuple(p.strip() for header in request.headers.getall("Sec-WebSocket-Protocol", [])
                 for p in header.split(",") if p.strip())


Socket = Any  # web.WebSocketResponse or aiohttp.ClientWebSocketResponse (same methods)


async def _pump(source: Socket, sink: Socket) -> tuple[int, bytes]:
    """Copy messages until ``source`` closes; its close code and reason (1011 when it
    vanished without one, or ``sink`` could not take a message)."""
    while True:
        msg = await source.receive()
        try:
            if msg.type is WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            elif msg.type is WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type is WSMsgType.CLOSE:
                return _sendable(msg.data), str(msg.extra or "").encode()[:123]
            elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return 1011, b"the other end of the relay went away"
        except (ConnectionError, aiohttp.ClientError, RuntimeError):
            return 1011, b"the other end of the relay went away"


def _sendable(code: Any) -> int:
    """A received close code that may be sent on (1005 "none given" becomes 1000)."""
    if isinstance(code, int) and 1000 <= code < 5000 and code not in (1004, 1005, 1006, 1015):
        return code
    return 1000


async def _splice(client: web.WebSocketResponse, kubelet: aiohttp.ClientWebSocketResponse,
                  stopping: asyncio.Event) -> None:
    """Relay both ways until one side closes (its code goes to the other) or the server
    stops (both get 1001, going away)."""
    down = asyncio.ensure_future(_pump(kubelet, client))
    up = asyncio.ensure_future(_pump(client, kubelet))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({down, up, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (down, up, stop):
            task.cancel()
        await asyncio.gather(down, up, stop, return_exceptions=True)
    code, reason = 1001, b""  # the server stops
    for pump in (down, up):
        if pump.done() and not pump.cancelled():
            code, reason = pump.result()
            break
    await asyncio.gather(_close(client, code, reason), _close(kubelet, code, reason))


async def _close(socket: Socket, code: int, reason: bytes) -> None:
    """Close with ``code`` unless already closed; a peer that is gone is no error."""
    if socket.closed:
        return
    with contextlib.suppress(ConnectionError, aiohttp.ClientError, asyncio.TimeoutError,
                             RuntimeError):
        await asyncio.wait_for(socket.close(code=code, message=reason), CLOSE_SECONDS * 2)
