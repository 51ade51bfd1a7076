"""The kubelet's /exec and /attach: a container's stdio over the channel WebSocket.

    GET /exec/{namespace}/{pod}/{container}?command=A&command=B&input=1&output=1&error=1&tty=1
    GET /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1

As kube's kubelet serves them (``pkg/kubelet/server/server.go`` ``getExec``/``getAttach``,
``pkg/kubelet/cri/streaming/remotecommand/``): the options come from the query (each true only
as ``1``; a terminal drops stderr; at least one of input, output and error), then the
WebSocket (``v5.channel.k8s.io`` down to ``channel.k8s.io``, servers/streaming/channel.py),
an empty message on the lowest channel the kubelet writes (stdout, else stderr, else error),
the streams, and last the exit Status on the error channel before the close. km speaks
WebSocket only here (no SPDY; kubectl 1.32 uses WebSockets for exec, attach and cp).

Refusals before the upgrade are plain text as kube's: 400 for bad options, 404
``pod does not exist``, 500 ``container not found ("NAME")`` for a container that is not
running. A client that goes away kills an exec's command; an attach just detaches. So does a
stream idle for ``--streaming-connection-idle-timeout`` (idle.py), which then closes the
WebSocket with 1001 and ``stream idle timeout`` (kube's kubelet drops the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from servers.kubelet.api import KUBELET, STREAM_IDLE_TIMEOUT
from servers.kubelet.idle import IDLE_MESSAGE, IdleTimer
from servers.kubelet.runtime.errors import RuntimeFailure
from servers.kubelet.runtime.interface import CONTAINER_RUNNING
from servers.streaming import channel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from servers.kubelet.runtime.interface import Streams

__all__ = ["StreamOptions", "add_routes", "attach", "exec_", "parse_options"]

log = logging.getLogger(__name__)

READ_SIZE = 32 * 1024
DRAIN_IDLE = 0.5  # after the exit, output still flowing is read until it pauses this long
NO_STREAMS = "you must specify at least 1 of stdin, stdout, stderr"
NO_COMMAND = "you must specify at least one command for the container"


# the open exec/attach WebSockets, closed when the app shuts down: aiohttp would otherwise
# wait for them (a minute) before it cancels their handlers
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("exec_sockets")


def add_routes(app: web.Application) -> None:
    """/exec and /attach (with and without the pod's uid in the path, as kube's kubelet)."""
    app[SOCKETS] = set()
    app.on_shutdown.append(_close_sockets)
    for verb, handler in (("exec", exec_), ("attach", attach)):
        app.router.add_get(f"/{verb}/{{namespace}}/{{pod}}/{{container}}", handler)
        app.router.add_get(f"/{verb}/{{namespace}}/{{pod}}/{{uid}}/{{container}}", handler)


async def _close_sockets(app: web.Application) -> None:
    sockets = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"kubelet shutting down")


class OptionsError(ValueError):
    """Bad /exec or /attach query (400, the message as the body)."""


@dataclass(frozen=True)
class StreamOptions:
    """What the client asked for (kube's remotecommand ``Options``)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    command: tuple[str, ...] = ()

    def lowest_writable(self) -> int:
        """The channel of the "connected" message: stdout, else stderr, else error."""
        return (channel.STDOUT if self.stdout else
                channel.STDERR if self.stderr else channel.ERROR)


def parse_options(query: Any, *, exec_: bool) -> StreamOptions:
    """The options in a /exec or /attach query (``OptionsError`` when unusable)."""
    def flag(name: str) -> bool:
        return query.get(name) in ("1", "true")

    tty = flag("tty")
    options = StreamOptions(stdin=flag("input"), stdout=flag("output"),
                            stderr=flag("error") and not tty,  # a terminal has one stream
                            tty=tty, command=tuple(query.getall("command", ())))
    if not (options.stdin or options.stdout or options.stderr):
        raise OptionsError(NO_STREAMS)
    if exec_ and not options.command:
        raise OptionsError(NO_COMMAND)
    return options


async def exec_(request: web.Request) -> web.StreamResponse:
    """GET /exec/{namespace}/{pod}/{container}."""
    kubelet = request.app[KUBELET]
    found = await _prepare(request, exec_=True)
    if isinstance(found, web.Response):
        return found
    cid, opts = found

    async def start() -> Streams:
        return await kubelet.runtime.exec_stream(cid, list(opts.command), tty=opts.tty,
                                                 stdin=opts.stdin)

    return await _serve(request, opts, start, on_exit=_exec_status(list(opts.command)),
                        failed="error executing command in container")


async def attach(request: web.Request) -> web.StreamResponse:
    """GET /attach/{namespace}/{pod}/{container}."""
    kubelet = request.app[KUBELET]
    found = await _prepare(request, exec_=False)
    if isinstance(found, web.Response):
        return found
    cid, opts = found

    async def start() -> Streams:
        return await kubelet.runtime.attach(cid, tty=opts.tty, stdin=opts.stdin)

    return await _serve(request, opts, start, on_exit=lambda code: channel.success(),
                        failed="error attaching to container")


async def _prepare(request: web.Request, *, exec_: bool
                   ) -> tuple[str, StreamOptions] | web.Response:
    """(container id, options), or the plain-text refusal kube's kubelet gives."""
    try:
        opts = parse_options(request.query, exec_=exec_)
    except OptionsError as exc:
        return web.Response(status=400, text=str(exc))
    ns, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
    kubelet = request.app[KUBELET]
    worker = next((w for w in kubelet.workers.values()
                   if w.pod["metadata"].get("namespace") == ns
                   and w.pod["metadata"]["name"] == name and not w.gone), None)
    if worker is None:
        return web.Response(status=404, text="pod does not exist")
    statuses = (await kubelet.runtime.list_containers(worker.sandbox_id)
                if worker.sandbox_id else [])
    running = [s for s in statuses if s.name == container and s.state == CONTAINER_RUNNING]
    if not running:  # kube's kubelet: findContainer looks among running containers only
        return web.Response(status=500, text=f'container not found ("{container}")')
    if not web.WebSocketResponse(protocols=channel.PROTOCOLS).can_prepare(request).ok:
        return web.Response(status=400, text=(
            "km's kubelet serves exec and attach over WebSocket (channel.k8s.io) only"))
    return max(running, key=lambda s: s.attempt).id, opts


def _exec_status(cmd: list[str]) -> Callable[[int], dict[str, Any]]:
    def status(code: int) -> dict[str, Any]:
        return channel.success() if code == 0 else channel.exit_failure(code, cmd)
    return status


async def _serve(request: web.Request, opts: StreamOptions,
                 start: Callable[[], Awaitable[Streams]],
                 on_exit: Callable[[int], dict[str, Any]], failed: str) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=channel.PROTOCOLS, compress=False)
    await ws.prepare(request)
    session = _Session(ws, channel.version(ws.ws_protocol), opts,
                       request.app[STREAM_IDLE_TIMEOUT])
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        await session.send(opts.lowest_writable(), b"")
        try:
            streams = await start()
        except RuntimeFailure as exc:
            await session.status(channel.internal_error(f"{failed}: {_start_error(str(exc))}"))
            return ws
        try:
            code = await session.run(streams)
        finally:
            streams.close()
        if code is not None:
            await session.status(on_exit(code))
    except ConnectionError:
        pass  # the client went away mid-message
    finally:
        session.idle.cancel()
        sockets.discard(ws)
        if session.idle.fired:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=IDLE_MESSAGE)
        await ws.close()
    return ws


def _start_error(text: str) -> str:
    """What the runtime said; a command that cannot start reads as runc words it. (kube's
    kubelet puts ``error executing command in container:`` or ``error attaching to
    container:`` before it, ``ServeExec``/``ServeAttach``.)"""
    if text.startswith("exec: "):
        return f"exec failed: unable to start container process: {text}"
    return text


class _Session:
    """One exec or attach over one WebSocket: pumps out, input in, the status at the end."""

    def __init__(self, ws: web.WebSocketResponse, version: int, opts: StreamOptions,
                 idle_timeout: float) -> None:
        self.ws = ws
        self.version = version
        self.opts = opts
        self.last_output = time.monotonic()
        self._send_lock = asyncio.Lock()
        self._idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.idle = IdleTimer(idle_timeout, lambda: self._idle.set_result(None))

    async def send(self, ch: int, data: bytes) -> None:
        async with self._send_lock:
            await self.ws.send_bytes(channel.encode(ch, data))

    async def status(self, status: dict[str, Any]) -> None:
        payload = channel.status_payload(self.version, status)
        if payload is not None:
            await self.send(channel.ERROR, payload)

    async def run(self, streams: Streams) -> int | None:
        """Copy both ways until the command ends (its code) or the client leaves (None)."""
        pumps = [asyncio.ensure_future(self._pump(streams.stdout, channel.STDOUT,
                                                  self.opts.stdout))]
        if streams.stderr is not None:
            pumps.append(asyncio.ensure_future(self._pump(streams.stderr, channel.STDERR,
                                                          self.opts.stderr)))
        reader = asyncio.ensure_future(self._input(streams))
        exited = asyncio.ensure_future(streams.wait())
        try:
            try:
                ends: list[asyncio.Future[Any]] = [exited, reader, self._idle]
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the kubelet stops: no exec outlives it
                await asyncio.shield(streams.kill())
                raise
            if not exited.done():
                await streams.kill()  # the client left (or idled): an exec's command goes too
                return None
            await self._drain(pumps)
            return exited.result()
        finally:
            for task in (*pumps, reader, exited):
                task.cancel()
            await asyncio.gather(*pumps, reader, exited, return_exceptions=True)

    async def _pump(self, source: asyncio.StreamReader, ch: int, wanted: bool) -> None:
        while True:
            data = await source.read(READ_SIZE)
            if not data:
                return
            self.last_output = time.monotonic()
            if wanted:  # else read and dropped, so the command never blocks on it
                self.idle.touch()
                await self.send(ch, data)

    async def _drain(self, pumps: Sequence[asyncio.Future[None]]) -> None:
        """Let the pumps read what the command wrote before it ended; stop once output
        pauses (a background child may hold the pipes open for ever)."""
        while True:
            pending = [p for p in pumps if not p.done()]
            if not pending:
                return
            await asyncio.wait(pending, timeout=DRAIN_IDLE)
            if time.monotonic() - self.last_output >= DRAIN_IDLE:
                return

    async def _input(self, streams: Streams) -> None:
        async for message in self.ws:
            self.idle.touch()  # any message, as kube's wsstream resets its deadline on each
            if message.type != WSMsgType.BINARY:
                continue  # base64 protocols are not offered; text means nothing here
            try:
                await self._message(streams, message.data)
            except channel.ChannelError as exc:
                log.info("exec/attach: ignored a bad message: %s", exc)

    async def _message(self, streams: Streams, message: bytes) -> None:
        ch, data = channel.decode(message)
        if ch == channel.STDIN and self.opts.stdin:
            if data:
                await streams.write_stdin(data)
        elif ch == channel.RESIZE and self.opts.tty and self.version >= 3:
            streams.resize(*channel.resize(data))
        elif (ch == channel.CLOSE and self.version >= 5
              and channel.closed_channel(ch, data) == channel.STDIN):
            with contextlib.suppress(ConnectionError):
                await streams.close_stdin()
