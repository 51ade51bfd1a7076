"""One SPDY/3.1 connection over any transport, as an asyncio object.

The owner feeds the session the bytes it reads (``Session.feed``) and gives it a coroutine
that writes bytes (one call per frame or group of frames, so one WebSocket message each when
the transport is a WebSocket). The session keeps the stream table, answers PINGs, refuses
streams after GOAWAY and keeps the flow-control windows.

Flow control, and why it is lenient. Each stream and the session start with a 64 KiB window;
a reader's consumption is returned to the peer with WINDOW_UPDATE once half a window is used.
spdystream implements no flow control at all (its ``frameHandler`` drops WINDOW_UPDATE and
SETTINGS as unhandled frames and never sends them), so a session enforces its send windows only
once the peer has shown that it keeps them (a SETTINGS or WINDOW_UPDATE frame from it), and
never resets a stream for overrunning the receive window: it stops reading the transport
instead until that stream's reader catches up (backpressure, as spdystream's blocking
``dataChan`` gives).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from servers.streaming.spdy.codec import FrameReader, encode
from servers.streaming.spdy.frames import (
    CANCEL,
    GOAWAY_OK,
    GOAWAY_PROTOCOL_ERROR,
    INITIAL_WINDOW,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    SETTINGS_INITIAL_WINDOW_SIZE,
    Data,
    Frame,
    GoAway,
    HeaderBlock,
    Headers,
    Ping,
    ProtocolError,
    RstStream,
    Settings,
    SynReply,
    SynStream,
    WindowUpdate,
)
from servers.streaming.spdy.headers import Compressor
from servers.streaming.spdy.stream import Stream, StreamClosed

__all__ = ["Send", "Session"]


Send = Callable[[bytes], Awaitable[None]]


class Session:
    """One SPDY/3.1 connection over any transport: ``feed`` it what was read, and it calls
    ``send`` with whole frames. ``server`` picks the stream id parity (clients odd)."""

    def __init__(self, send: Send, *, server: bool) -> None:
        self._send = send
        self.server = server
        self._out = Compressor()
        self._reader = FrameReader()
        self._lock = asyncio.Lock()
        self.streams: dict[int, Stream] = {}
        self._incoming: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._next_id = 2 if server else 1
        self._next_ping = 2 if server else 1
        self._pings: dict[int, asyncio.Future[None]] = {}
        self.last_remote_id = 0
        self.flow_control = False  # does the peer keep windows? (see the module docstring)
        self.peer_initial_window = INITIAL_WINDOW
        self.send_window = INITIAL_WINDOW  # the session's (SPDY/3.1)
        self._session_window = asyncio.Event()
        self._unacked = 0
        self.going_away = False  # GOAWAY sent or received: no new streams
        self.closed = asyncio.Event()

    async def start(self) -> None:
        """Announce this side's window (SETTINGS), so a peer that keeps windows knows."""
        await self.send(Settings(((0, SETTINGS_INITIAL_WINDOW_SIZE, INITIAL_WINDOW),)))

    async def send(self, *frames: Frame) -> None:
        """Write frames in one transport write (frames never interleave; header blocks
        compress in order)."""
        if self.closed.is_set():
            msg = "the SPDY session is closed"
            raise StreamClosed(msg)
        async with self._lock:
            try:
                await self._send(b"".join(encode(frame, self._out) for frame in frames))
            except (ConnectionError, RuntimeError) as exc:  # aiohttp: closing transport
                self.connection_lost()
                raise StreamClosed(str(exc)) from None

    async def feed(self, data: bytes) -> None:
        """Handle the frames completed by ``data``. Returns once no stream holds more than a
        window of unread data (backpressure on the transport). ProtocolError: GOAWAY sent,
        session closed, error raised."""
        try:
            frames = self._reader.feed(data)
        except ProtocolError:
            with contextlib.suppress(StreamClosed):
                await self.send(GoAway(self.last_remote_id, GOAWAY_PROTOCOL_ERROR))
            self.connection_lost()
            raise
        for frame in frames:
            stream = await self._handle(frame)
            if stream is not None and stream._buffered > INITIAL_WINDOW:
                await stream._drained.wait()

    async def open_stream(self, headers: HeaderBlock, *, fin: bool = False) -> Stream:
        """A new stream to the peer (SYN_STREAM); ``wait_reply`` for its answer."""
        if self.going_away or self.closed.is_set():
            msg = "the SPDY session is going away"
            raise StreamClosed(msg)
        stream = Stream(self, self._next_id, headers)
        self._next_id += 2
        self.streams[stream.id] = stream
        await self.send(SynStream(stream.id, headers, fin=fin))
        if fin:
            stream._finish_local()
        return stream

    async def accept(self) -> Stream | None:
        """The next stream the peer opened; None once the session ends."""
        if self.closed.is_set() and self._incoming.empty():
            return None
        return await self._incoming.get()

    async def ping(self) -> None:
        """Send a PING and wait for its echo."""
        ping_id, self._next_ping = self._next_ping, self._next_ping + 2
        waiter = asyncio.get_running_loop().create_future()
        self._pings[ping_id] = waiter
        try:
            await self.send(Ping(ping_id))
            await waiter
        finally:
            self._pings.pop(ping_id, None)

    async def goaway(self, status: int = GOAWAY_OK) -> None:
        """Tell the peer no new streams will be accepted."""
        if not self.going_away:
            self.going_away = True
            with contextlib.suppress(StreamClosed):
                await self.send(GoAway(self.last_remote_id, status))

    def connection_lost(self) -> None:
        """The transport ended: every stream ends (readers see EOF, writers StreamClosed)."""
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in list(self.streams.values()):
            stream._on_reset(CANCEL)
        for waiter in self._pings.values():
            if not waiter.done():
                waiter.set_exception(StreamClosed("the SPDY session ended"))
        self._session_window.set()
        self._incoming.put_nowait(None)

    # -- flow control ---------------------------------------------------------------------

    async def reserve(self, stream: Stream, want: int) -> int:
        """How much of ``want`` may go now, waiting for windows when the peer keeps them."""
        size = want
        while self.flow_control and not self.closed.is_set() and not stream.reset_status:
            size = min(want, stream.send_window, self.send_window)
            if size > 0:
                break
            await self._window_opens(stream)
        if self.closed.is_set() or stream.reset_status:
            msg = f"stream {stream.id} is closed"
            raise StreamClosed(msg)
        stream.send_window -= size
        self.send_window -= size
        return size

    async def _window_opens(self, stream: Stream) -> None:
        stream._window.clear()
        self._session_window.clear()
        waits = [asyncio.ensure_future(stream._window.wait()),
                 asyncio.ensure_future(self._session_window.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def consumed(self, stream: Stream, size: int) -> None:
        """Return ``size`` read bytes to the peer's windows (WINDOW_UPDATE at half a window)."""
        stream._unacked += size
        self._unacked += size
        updates = []
        if stream._unacked >= INITIAL_WINDOW // 2 and not stream.remote_closed:
            updates.append(WindowUpdate(stream.id, stream._unacked))
            stream._unacked = 0
        if self._unacked >= INITIAL_WINDOW // 2:
            updates.append(WindowUpdate(0, self._unacked))
            self._unacked = 0
        if updates:  # both in one write: one WebSocket message, not two
            with contextlib.suppress(StreamClosed):
                await self.send(*updates)

    # -- frames in ------------------------------------------------------------------------

    async def _handle(self, frame: Frame) -> Stream | None:
        if isinstance(frame, Data):
            stream = self.streams.get(frame.stream_id)
            if stream is None:
                return None  # a stream already gone (reset): its data is dropped
            stream._on_data(frame.data, frame.fin)
            return stream
        if isinstance(frame, SynStream):
            await self._on_syn_stream(frame)
        elif isinstance(frame, Ping):
            await self._on_ping(frame)
        else:
            self._on_control(frame)
        return None

    def _on_control(self, frame: Frame) -> None:
        if isinstance(frame, (SynReply, Headers)):
            self._on_reply(frame)
        elif isinstance(frame, RstStream):
            if (stream := self.streams.get(frame.stream_id)) is not None:
                stream._on_reset(frame.status)
        elif isinstance(frame, Settings):
            self._on_settings(frame)
        elif isinstance(frame, WindowUpdate):
            self._on_window_update(frame)
        elif isinstance(frame, GoAway):
            self.going_away = True

    async def _on_syn_stream(self, frame: SynStream) -> None:
        sid = frame.stream_id
        if sid % 2 == (0 if self.server else 1) or sid <= self.last_remote_id:
            await self._refuse(sid, PROTOCOL_ERROR)
            return
        self.last_remote_id = sid
        if self.going_away:
            await self._refuse(sid, REFUSED_STREAM)
            return
        stream = Stream(self, sid, frame.headers)
        self.streams[sid] = stream
        if frame.unidirectional:
            stream.local_closed = True
        if frame.fin:
            stream._on_data(b"", True)
        self._incoming.put_nowait(stream)

    async def _refuse(self, stream_id: int, status: int) -> None:
        with contextlib.suppress(StreamClosed):
            await self.send(RstStream(stream_id, status))

    def _on_reply(self, frame: SynReply | Headers) -> None:
        stream = self.streams.get(frame.stream_id)
        if stream is None:
            return
        if isinstance(frame, SynReply) and not stream.replied.done():
            stream.replied.set_result(frame.headers)
        if frame.fin:
            stream._on_data(b"", True)

    def _on_settings(self, frame: Settings) -> None:
        for _flags, key, value in frame.entries:
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                self.flow_control = True
                delta, self.peer_initial_window = value - self.peer_initial_window, value
                for stream in self.streams.values():  # the draft: adjust open windows too
                    stream._grow(delta)

    def _on_window_update(self, frame: WindowUpdate) -> None:
        self.flow_control = True
        if frame.stream_id == 0:
            self.send_window += frame.delta
            if self.send_window > 0:
                self._session_window.set()
        elif (stream := self.streams.get(frame.stream_id)) is not None:
            stream._grow(frame.delta)

    async def _on_ping(self, frame: Ping) -> None:
        mine = frame.ping_id % 2 == (0 if self.server else 1)
        if not mine:
            with contextlib.suppress(StreamClosed):
                await self.send(frame)  # echo the peer's ping
        elif (waiter := self._pings.get(frame.ping_id)) is not None and not waiter.done():
            waiter.set_result(None)

    # -- bookkeeping ----------------------------------------------------------------------

    def forget(self, stream: Stream) -> None:
        """Drop a finished stream from the table."""
        self.streams.pop(stream.id, None)

    def forget_if_done(self, stream: Stream) -> None:
        """Drop ``stream`` once both sides finished it."""
        if stream.local_closed and stream.remote_closed:
            self.forget(stream)
