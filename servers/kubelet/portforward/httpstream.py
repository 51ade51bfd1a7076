"""Port-forward over SPDY: the kubelet's handler of one session, whichever carrier brings it
(tunnel.py: WebSocket messages; upgrade.py: a plain upgraded connection).

Per local connection kubectl opens a ``streamType: error`` and a ``streamType: data`` stream
carrying ``port`` and ``requestID``; the pair is forwarded as kube's kubelet does
(``pkg/kubelet/cri/streaming/portforward/httpstream.go``), a stream that breaks the rules is
refused with RST_STREAM, and a pair whose second stream does not come in time is ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from servers.kubelet.portforward.podport import Target, forward
from servers.streaming import spdy
from servers.streaming.spdy.frames import REFUSED_STREAM

__all__ = ["SpdyForwarder", "serve_session"]

log = logging.getLogger(__name__)

STREAM_CREATION_TIMEOUT = 30.0  # for a pair's second stream (kube's DefaultStreamCreationTimeout)


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

        message = await forward(self.target, port, read, data.write, data.close)
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
