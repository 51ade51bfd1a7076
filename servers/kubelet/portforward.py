"""The kubelet's /portForward/{namespace}/{pod}: TCP into a pod's network, three ways.

- SPDY/3.1 tunnelled in a WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``, what
  kubectl 1.32 sends and km's apiserver relays message for message): per local connection
  kubectl opens a ``streamType: error`` and a ``streamType: data`` stream carrying ``port``
  and ``requestID``; the pair is forwarded as kube's kubelet does
  (``pkg/kubelet/cri/streaming/portforward/httpstream.go``).
- The same SPDY over a plain upgraded connection (``POST``, ``Upgrade: SPDY/3.1``,
  ``X-Stream-Protocol-Version: portforward.k8s.io``, kubectl's fallback).
- The channel WebSocket (``v4.channel.k8s.io``, ``v4.base64.channel.k8s.io``,
  ``portforward.k8s.io`` or none) with ``?port=80,8080`` (kube's name, what the apiserver
  sends) or ``?ports=`` (the Python client's, km's relay contract): per port i, channel 2i
  carries data and 2i+1 errors, each opened with the port as uint16 little-endian
  (``pkg/kubelet/cri/streaming/portforward/websocket.go``).

A connection is dialled to 127.0.0.1:PORT inside the pod's network namespace (a socket made
by a short-lived thread that entered it with setns(2); the socket stays there), as
containerd and CRI-O do; a pod of ``--isolation none`` has no namespace of its own and
listens on its loopback pod IP, so that is dialled from the kubelet's. Failures go as text
on the error stream, worded as kube's kubelet wraps CRI-O's error. A connection with no
frame either way for ``--streaming-connection-idle-timeout`` is closed (idle.py; spdystream's
idle-aware framer resets on every frame read or written, so does km on every message).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import logging
import os
import socket
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from servers.kubelet.api import KUBELET, STREAM_IDLE_TIMEOUT
from servers.kubelet.idle import IdleTimer
from servers.kubelet.linux import netns
from servers.kubelet.runtime.errors import NotFound as RuntimeNotFound
from servers.streaming import channel, spdy
from servers.streaming.spdy.frames import MAX_LENGTH, REFUSED_STREAM

if TYPE_CHECKING:
    from servers.kubelet.workers import Kubelet, PodWorker

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_PROTOCOL = "portforward.k8s.io"  # X-Stream-Protocol-Version of the plain upgrade
BASE64_PROTOCOL = "v4.base64.channel.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", BASE64_PROTOCOL, SPDY_PROTOCOL)
STREAM_CREATION_TIMEOUT = 30.0  # for a pair's second stream (kube's DefaultStreamCreationTimeout)
DIAL_TIMEOUT = 10.0
READ_SIZE = 64 * 1024  # one pod read = one DATA frame = one message
CHANNEL_QUEUE = 16  # client messages held per port before reading the WebSocket pauses
MAX_MESSAGE = MAX_LENGTH + 8  # one whole SPDY frame per WebSocket message
CLONE_NEWNET = 0x40000000
IDLE_MESSAGE = b"stream idle timeout"


# how to end each open port-forward connection, called when the app shuts down: aiohttp would
# otherwise wait for their handlers (a minute) before it cancels them
Closer = Callable[[], Awaitable[object]]
OPEN: web.AppKey[set[Closer]] = web.AppKey("portforward_open")


def add_routes(app: web.Application) -> None:
    """Register /portForward (with and without the pod's uid) on the kubelet's app."""
    opened: set[Closer] = set()
    app[OPEN] = opened
    app.on_shutdown.append(_close_all)
    for path in ("/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"):
        app.router.add_get(path, port_forward)
        app.router.add_post(path, port_forward)


async def _close_all(app: web.Application) -> None:
    opened: set[Closer] = app[OPEN]
    for close in list(opened):
        await close()


@contextlib.asynccontextmanager
async def _open(request: web.Request, close: Closer) -> AsyncIterator[None]:
    """Track one upgraded connection while its handler runs."""
    request.app[OPEN].add(close)
    try:
        yield
    finally:
        request.app[OPEN].discard(close)


def _going_away(ws: web.WebSocketResponse, why: bytes = b"kubelet shutting down") -> Closer:
    return lambda: ws.close(code=WSCloseCode.GOING_AWAY, message=why)


def _idle_timer(request: web.Request, close: Closer) -> IdleTimer:
    """The connection's idle timer (``close`` it once idle), to touch on every message."""
    return IdleTimer(request.app[STREAM_IDLE_TIMEOUT], close)


# -- where to dial --------------------------------------------------------------------------

class DialError(Exception):
    """The pod's port could not be reached; the message is the runtime's error."""


@dataclass(frozen=True)
class Target:
    """A pod's network as a dialler sees it."""

    sandbox_id: str
    netns: str  # the namespace's path; "" = the kubelet's own network
    host: str

    async def dial(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ``host:port`` in the pod's network; DialError with CRI-O's words."""
        try:
            if not self.netns:
                return await asyncio.wait_for(asyncio.open_connection(self.host, port),
                                              DIAL_TIMEOUT)
            sock = await _socket_in(self.netns)
            try:
                await asyncio.wait_for(
                    asyncio.get_running_loop().sock_connect(sock, (self.host, port)),
                    DIAL_TIMEOUT)
            except BaseException:
                sock.close()
                raise
            return await asyncio.open_connection(sock=sock)
        except (OSError, asyncio.TimeoutError) as exc:
            raise DialError(self._words(port, exc)) from None

    def _words(self, port: int, exc: BaseException) -> str:
        # CRI-O's internal/oci/runtime_oci.go portForward wraps the dial error so
        reason = (os.strerror(exc.errno).lower() if isinstance(exc, OSError) and exc.errno
                  else "i/o timeout")
        where = self.netns or "host"
        return (f'port forward into network namespace "{where}": failed to connect to '
                f"localhost:{port} inside namespace {self.sandbox_id}: dial tcp "
                f"{self.host}:{port}: connect: {reason}")


def _socket_in(path: str) -> asyncio.Future[socket.socket]:
    """A TCP socket made inside the network namespace at ``path``: a fresh thread enters it
    (setns only moves the calling thread) and ends, so no pooled thread is left there."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[socket.socket] = loop.create_future()

    def deliver(sock: socket.socket | None, exc: OSError | None) -> None:
        if future.cancelled():
            if sock is not None:
                sock.close()
        elif exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(sock)  # type: ignore[arg-type]

    def work() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
        except OSError as exc:
            loop.call_soon_threadsafe(deliver, None, exc)
            return
        loop.call_soon_threadsafe(deliver, sock, None)

    threading.Thread(target=work, name="km-portforward-netns", daemon=True).start()
    return future


async def _target(kubelet: Kubelet, worker: PodWorker) -> Target:
    sandbox = await kubelet.runtime.pod_sandbox_status(worker.sandbox_id)
    runtime: Any = kubelet.runtime
    if getattr(runtime, "isolation", "") == "namespaces" and not sandbox.config.host_network:
        return Target(sandbox.id, netns.path(runtime.names.netns(sandbox.id)), "127.0.0.1")
    if sandbox.config.host_network or not sandbox.ip:
        return Target(sandbox.id, "", "127.0.0.1")
    return Target(sandbox.id, "", sandbox.ip)  # --isolation none: the pod's loopback IP


def _failure(port: int, target: Target, message: str) -> bytes:
    # kube's kubelet: httpstream.go / websocket.go portForward; the CRI streaming server
    # names the pod by its sandbox id and passes no uid
    return f"error forwarding port {port} to pod {target.sandbox_id}, uid : {message}".encode()


# -- copying --------------------------------------------------------------------------------

Read = Callable[[], Awaitable[bytes]]
Write = Callable[[bytes], Awaitable[None]]


async def _forward(target: Target, port: int, read: Read, write: Write,
                   close: Callable[[], Awaitable[None]]) -> bytes:
    """Copy between the client's stream and the pod's port until the pod's side ends (kube
    returns when the first copy ends) or the client's stream is reset (``read`` raises
    StreamClosed); the client's end of input half-closes the pod's socket. Returns the text
    for the error stream (b"" when none)."""
    try:
        reader, writer = await target.dial(port)
    except DialError as exc:
        return _failure(port, target, str(exc))
    down = asyncio.ensure_future(_from_pod(reader, write))
    up = asyncio.ensure_future(_to_pod(read, writer))
    try:
        await asyncio.wait([down, up], return_when=asyncio.FIRST_COMPLETED)
        if not down.done() and (up.cancelled() or up.exception() is not None):
            down.cancel()  # the client went away: the pod's data has nowhere to go
        await asyncio.wait([down])
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
        writer.close()
        await close()
    return b""


async def _from_pod(reader: asyncio.StreamReader, write: Write) -> None:
    with contextlib.suppress(ConnectionError, spdy.StreamClosed):
        while data := await reader.read(READ_SIZE):
            await write(data)


async def _to_pod(read: Read, writer: asyncio.StreamWriter) -> None:
    """Client to pod until the client's EOF (then half-close); StreamClosed (an OSError too)
    passes on when the client's stream was reset, so the copy the other way stops."""
    while data := await read():
        try:
            writer.write(data)
            await writer.drain()
        except OSError:
            return  # the pod closed its side; what it sends still comes down
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


# -- the request ----------------------------------------------------------------------------

async def port_forward(request: web.Request) -> web.StreamResponse:
    """GET (WebSocket) or POST (SPDY upgrade) /portForward/{namespace}/{pod}[/{uid}]."""
    kubelet = request.app[KUBELET]
    ns, name = request.match_info["namespace"], request.match_info["pod"]
    worker = next((w for w in kubelet.workers.values()
                   if w.pod["metadata"].get("namespace") == ns
                   and w.pod["metadata"]["name"] == name), None)
    if worker is None:  # kube's server.go getPortForward
        return web.Response(status=404, text="pod does not exist")
    uid = request.match_info.get("uid")
    if uid and worker.uid != uid:
        return web.Response(status=404, text="pod not found")
    if not worker.sandbox_id:
        return web.Response(status=500, text=(
            f"failed to find sandboxID for pod {name}_{ns}({worker.uid})"))
    try:
        target = await _target(kubelet, worker)
    except RuntimeNotFound:
        return web.Response(status=404, text="pod not found")
    if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
        return await _serve_upgrade(request, target)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(status=400, text=(
            "unable to upgrade: missing upgrade headers in request"))
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if TUNNEL_PROTOCOL in offered:
        return await _serve_tunnel(request, target)
    try:
        ports = _ports(request)
    except ValueError as exc:
        return web.Response(status=400, text=str(exc))
    return await _serve_channels(request, target, ports)


def _ports(request: web.Request) -> list[int]:
    """``?port=`` / ``?ports=`` as kube's NewV4Options checks them."""
    # kube's name first; ``ports`` (the Python client's) only when the apiserver sent none
    raw = request.query.getall("port", []) or request.query.getall("ports", [])
    if not raw:
        raise ValueError('query parameter "port" is required')
    ports = []
    for item in raw:
        if not item:
            raise ValueError('query parameter "port" cannot be empty')
        for part in item.split(","):
            if not part.isdigit():
                msg = (f'unable to parse "{item}" as a port: strconv.ParseUint: '
                       f'parsing "{part}": invalid syntax')
                raise ValueError(msg)
            if int(part) > 65535:
                msg = (f'unable to parse "{item}" as a port: strconv.ParseUint: '
                       f'parsing "{part}": value out of range')
                raise ValueError(msg)
            if int(part) < 1:
                msg = f'port "{item}" must be > 0'
                raise ValueError(msg)
            ports.append(int(part))
    return ports


# -- SPDY -----------------------------------------------------------------------------------

@dataclass
class _Pair:
    request_id: str
    data: spdy.Stream | None = None
    error: spdy.Stream | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass
class SpdyForwarder:
    """The kubelet's half of one SPDY port-forward session (httpstream.go's handler)."""

    session: spdy.Session
    target: Target
    pairs: dict[str, _Pair] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self) -> None:
        """Take streams until the session ends, forwarding each complete pair."""
        try:
            while (stream := await self.session.accept()) is not None:
                await self._take(stream)
        finally:
            for pair in self.pairs.values():
                if pair.timer is not None:
                    pair.timer.cancel()
            for task in list(self.tasks):
                task.cancel()
            if self.tasks:
                await asyncio.wait(self.tasks)

    async def _take(self, stream: spdy.Stream) -> None:
        problem = _check_stream(stream)
        if problem:
            log.debug("port-forward: refusing stream %d: %s", stream.id, problem)
            await stream.reset(REFUSED_STREAM)
            return
        await stream.reply()
        request_id = stream.header("requestID") or _legacy_id(stream)
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id)
            pair.timer = asyncio.get_running_loop().call_later(
                STREAM_CREATION_TIMEOUT, lambda: self._spawn(self._timed_out(pair)))
        kind = stream.header("streamType")
        if getattr(pair, kind) is not None:
            message = (f"error processing stream for request {request_id}: "
                       f"{kind} stream already assigned")
            self._spawn(_print(pair.error, message))
            return
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None:
            self._done(pair)
            self._spawn(self._forward(pair.data, pair.error))

    def _done(self, pair: _Pair) -> None:
        if pair.timer is not None:
            pair.timer.cancel()
        self.pairs.pop(pair.request_id, None)

    async def _timed_out(self, pair: _Pair) -> None:
        self._done(pair)
        await _print(pair.error, f"(conn=session, request={pair.request_id}) timed out "
                                 "waiting for streams")
        for stream in (pair.error, pair.data):  # nothing more will come on them
            if stream is not None:
                await stream.close()

    async def _forward(self, data: spdy.Stream, error: spdy.Stream) -> None:
        port = int(data.header("port"))

        async def read() -> bytes:
            chunk = await data.read()
            if not chunk and data.reset_status:
                msg = f"stream {data.id} was reset"
                raise spdy.StreamClosed(msg)
            return chunk

        message = await _forward(self.target, port, read, data.write, data.close)
        if message:
            log.info("port-forward: %s", message.decode())
            with contextlib.suppress(spdy.StreamClosed):
                await error.write(message)
        await data.close()
        await error.close()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _check_stream(stream: spdy.Stream) -> str:
    """Why a new stream is refused, as httpStreamReceived words it ("" when it is fine)."""
    port = stream.header("port")
    if not port:
        return '"port" header is required'
    if not port.isdigit() or int(port) > 65535:
        return f'unable to parse "{port}" as a port'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = stream.header("streamType")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return ""


def _legacy_id(stream: spdy.Stream) -> str:
    # old clients send no requestID: kube pairs error stream N with data stream N+2
    return str(stream.id if stream.header("streamType") == "error" else stream.id - 2)


async def _print(stream: spdy.Stream | None, message: str) -> None:
    if stream is not None:
        with contextlib.suppress(spdy.StreamClosed):
            await stream.write(message.encode())


async def serve_session(session: spdy.Session, target: Target,
                        messages: Callable[[], Awaitable[bytes | None]]) -> None:
    """Run one SPDY session: ``messages`` yields what the transport read (None at its end)."""
    forwarder = SpdyForwarder(session, target)
    running = asyncio.ensure_future(forwarder.run())
    try:
        await session.start()
        while (data := await messages()) is not None:
            await session.feed(data)
    except (spdy.ProtocolError, spdy.StreamClosed) as exc:
        log.info("port-forward: SPDY session ended: %s", exc)
    finally:
        session.connection_lost()
        await running


async def _serve_tunnel(request: web.Request, target: Target) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    idle = _idle_timer(request, _going_away(ws, IDLE_MESSAGE))

    async def messages() -> bytes | None:
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                idle.touch()
                return bytes(msg.data)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                return None

    async def send(data: bytes) -> None:
        idle.touch()
        await ws.send_bytes(data)

    async with _open(request, _going_away(ws)):
        await serve_session(spdy.Session(send, server=True), target, messages)
    idle.cancel()
    await ws.close()
    return ws


class _RawFeed:
    """aiohttp's payload-parser seam, taking an upgraded connection's bytes into a queue
    (reading pauses while the session is behind)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.transport = transport
        self.paused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        if self.queue.qsize() > CHANNEL_QUEUE and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(None)

    async def get(self) -> bytes | None:
        data = await self.queue.get()
        if self.paused and self.queue.qsize() < CHANNEL_QUEUE // 2:
            self.paused = False
            self.transport.resume_reading()
        return data


async def _serve_upgrade(request: web.Request, target: Target) -> web.StreamResponse:
    """The plain SPDY upgrade, as apimachinery's httpstream.Handshake and the SPDY response
    upgrader answer it: protocol negotiation, 101, then SPDY on the raw connection."""
    offered = [p.strip() for v in request.headers.getall("X-Stream-Protocol-Version", [])
               for p in v.split(",") if p.strip()]
    if offered and SPDY_PROTOCOL not in offered:
        return web.Response(status=403, text=(
            f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
            f"server supports [{SPDY_PROTOCOL}]"))
    if "upgrade" not in request.headers.get("Connection", "").lower():
        return web.Response(status=400, text=(
            "unable to upgrade: missing upgrade headers in request"))
    transport = request.transport
    if transport is None:
        return web.Response(status=500, text="unable to upgrade: connection gone")
    response = web.StreamResponse(status=101, headers={
        "Connection": "Upgrade", "Upgrade": "SPDY/3.1",
        "X-Stream-Protocol-Version": SPDY_PROTOCOL})
    await response.prepare(request)
    feed = _RawFeed(transport)  # type: ignore[arg-type]
    request.protocol.set_parser(feed)  # type: ignore[arg-type]
    request.protocol.keep_alive(False)
    async def hang_up() -> None:
        feed.feed_eof()
        transport.close()

    idle = _idle_timer(request, hang_up)

    async def messages() -> bytes | None:
        data = await feed.get()
        idle.touch()
        return data

    async def send(data: bytes) -> None:
        idle.touch()
        await response.write(data)

    async with _open(request, hang_up):
        await serve_session(spdy.Session(send, server=True), target, messages)
    idle.cancel()
    return response


# -- channel WebSocket ----------------------------------------------------------------------

async def _serve_channels(request: web.Request, target: Target,
                          ports: list[int]) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    text = ws.ws_protocol == BASE64_PROTOCOL
    idle = _idle_timer(request, _going_away(ws, IDLE_MESSAGE))

    async def send(ch: int, data: bytes) -> None:
        idle.touch()
        if text:
            await ws.send_str(chr(ord("0") + ch) + base64.b64encode(data).decode())
        else:
            await ws.send_bytes(channel.encode(ch, data))

    inputs: list[asyncio.Queue[bytes]] = [asyncio.Queue(CHANNEL_QUEUE) for _ in ports]
    for i, port in enumerate(ports):  # each channel opens with its port
        await send(2 * i, struct.pack("<H", port))
        await send(2 * i + 1, struct.pack("<H", port))
    forwards = [asyncio.ensure_future(_channel_port(target, i, port, inputs[i], send))
                for i, port in enumerate(ports)]
    everything: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*forwards))
    reading: asyncio.Future[Any] = asyncio.ensure_future(
        _read_channels(ws, inputs, text, idle.touch))
    async with _open(request, _going_away(ws)):
        await asyncio.wait([everything, reading], return_when=asyncio.FIRST_COMPLETED)
    idle.cancel()
    for task in (*forwards, reading):
        task.cancel()
    await asyncio.gather(everything, reading, return_exceptions=True)
    await ws.close()
    return ws


async def _channel_port(target: Target, index: int, port: int, queue: asyncio.Queue[bytes],
                        send: Callable[[int, bytes], Awaitable[None]]) -> None:
    async def write(data: bytes) -> None:
        await send(2 * index, data)

    async def nothing() -> None:
        return None

    with contextlib.suppress(ConnectionError):
        message = await _forward(target, port, queue.get, write, nothing)
        if message:
            await send(2 * index + 1, message)


async def _read_channels(ws: web.WebSocketResponse, inputs: list[asyncio.Queue[bytes]],
                         text: bool, touch: Callable[[], None]) -> None:
    async for msg in ws:
        touch()
        if msg.type == WSMsgType.BINARY and not text:
            ch, data = channel.decode(bytes(msg.data))
        elif msg.type == WSMsgType.TEXT and text and msg.data:
            ch, data = ord(msg.data[0]) - ord("0"), base64.b64decode(msg.data[1:])
        else:
            continue
        if ch % 2 == 0 and ch // 2 < len(inputs) and data:
            await inputs[ch // 2].put(data)  # a slow pod holds the client back
    for queue in inputs:  # the client is gone: its input ends
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(b"")
