"""SPDY/3.1, as much as kube's port-forward speaks: the frame codec and an asyncio session.

kubectl 1.32 port-forwards over SPDY/3.1 (moby/spdystream under apimachinery's
``pkg/util/httpstream/spdy``), either tunnelled in binary WebSocket messages
(``SPDY/3.1+portforward.k8s.io``, client-go ``tools/portforward/tunneling_connection.go``) or
over a plain upgraded connection. Hence a transport-agnostic session: the owner feeds it the
bytes it reads (``Session.feed``) and gives it a coroutine that writes bytes (one call per
frame, so one WebSocket message per frame).

The codec (``encode``, ``FrameReader``) follows the SPDY/3 draft (frame layouts, the header
block compressed with zlib and the spec's dictionary, one zlib stream per direction, flushed
with Z_SYNC_FLUSH after each block) plus SPDY/3.1's session-wide flow-control window
(WINDOW_UPDATE on stream 0). Frames: SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING,
GOAWAY, HEADERS, WINDOW_UPDATE and DATA; unknown control frames are skipped, as the draft says.

Flow control, and why it is lenient. Each stream and the session start with a 64 KiB window;
a reader's consumption is returned to the peer with WINDOW_UPDATE once half a window is used.
spdystream implements no flow control at all (its ``frameHandler`` drops WINDOW_UPDATE and
SETTINGS as unhandled frames and never sends them), so a session enforces its send windows only
once the peer has shown that it keeps them (a SETTINGS or WINDOW_UPDATE frame from it), and
never resets a stream for overrunning the receive window: it stops reading the transport
instead until that stream's reader catches up (backpressure, as spdystream's blocking
``dataChan`` gives).

spdy-py (PyPI, 0.2.0, 2021) was judged and not used: a frame reader only (no writer, session,
flow control or tests), unmaintained since its first year.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Data", "FrameReader", "GoAway", "HeaderBlock", "Headers", "Ping", "ProtocolError",
           "RstStream", "Session", "Settings", "Stream", "StreamClosed", "SynReply",
           "SynStream", "WindowUpdate", "encode", "header"]

log = logging.getLogger(__name__)

VERSION = 3
MAX_LENGTH = (1 << 24) - 1  # a frame's 24-bit length
MAX_ID = (1 << 31) - 1
INITIAL_WINDOW = 64 * 1024
DATA_CHUNK = 64 * 1024  # largest DATA frame this side writes

# control frame types
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
FLAG_CLEAR_SETTINGS = 0x01
SETTINGS_MAX_CONCURRENT_STREAMS = 4
SETTINGS_INITIAL_WINDOW_SIZE = 7

# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 6, 7, 8, 9
# GOAWAY status codes
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2

# The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00 section 2.6.10.1): the
# length-prefixed common header words, then one run of common values.
_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin")
_VALUES = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _VALUES.encode()

HeaderBlock = tuple[tuple[str, str], ...]  # (lower-case name, value); NUL joins repeats


class ProtocolError(ValueError):
    """Bytes that are not SPDY/3: the session answers GOAWAY PROTOCOL_ERROR and ends."""


class StreamClosed(ConnectionError):
    """A write on a stream that this side finished, the peer reset, or the session lost."""


# -- frames ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: HeaderBlock = ()
    associated_id: int = 0
    priority: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: HeaderBlock = ()
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()  # (flags, id, value)
    clear: bool = False


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: HeaderBlock = ()
    fin: bool = False


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int  # 0: the session's window (SPDY/3.1)
    delta: int


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes = b""
    fin: bool = False


Frame = (SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate
         | Data)


def header(headers: HeaderBlock, name: str) -> str:
    """The first value of header ``name`` (any case, as Go's http.Header.Get), else ""."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value.split("\0", 1)[0]
    return ""


# -- codec ----------------------------------------------------------------------------------

class _Compressor:
    """One direction's header compression: one zlib stream for the session's whole life."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zdict=DICTIONARY)

    def block(self, headers: HeaderBlock) -> bytes:
        parts = [struct.pack(">I", len(headers))]
        for name, value in headers:
            raw_name, raw_value = name.lower().encode(), value.encode()
            parts += [struct.pack(">I", len(raw_name)), raw_name,
                      struct.pack(">I", len(raw_value)), raw_value]
        return self._z.compress(b"".join(parts)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class _Decompressor:
    def __init__(self) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)

    def block(self, data: bytes) -> HeaderBlock:
        try:
            raw = self._z.decompress(data)
        except zlib.error as exc:
            msg = f"bad header block: {exc}"
            raise ProtocolError(msg) from None
        return _parse_block(raw)


def _parse_block(raw: bytes) -> HeaderBlock:
    def take(pos: int) -> tuple[str, int]:
        if pos + 4 > len(raw):
            raise ProtocolError("truncated header block")
        (n,) = struct.unpack_from(">I", raw, pos)
        end = pos + 4 + n
        if end > len(raw):
            raise ProtocolError("truncated header block")
        try:
            return raw[pos + 4:end].decode(), end
        except UnicodeDecodeError:
            raise ProtocolError("header block is not UTF-8") from None

    if len(raw) < 4:
        raise ProtocolError("truncated header block")
    (count,) = struct.unpack_from(">I", raw, 0)
    pos, pairs = 4, []
    for _ in range(count):
        name, pos = take(pos)
        value, pos = take(pos)
        pairs.append((name, value))
    return tuple(pairs)


def _control(kind: int, flags: int, body: bytes) -> bytes:
    if len(body) > MAX_LENGTH:
        msg = f"frame of {len(body)} bytes is too large"
        raise ValueError(msg)
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(body)) + body


def encode(frame: Frame, compressor: _Compressor) -> bytes:
    """The bytes of ``frame``; header blocks go through this direction's ``compressor``."""
    if isinstance(frame, Data):
        if len(frame.data) > MAX_LENGTH:
            msg = f"DATA of {len(frame.data)} bytes is too large"
            raise ValueError(msg)
        flags = FLAG_FIN if frame.fin else 0
        return struct.pack(">II", frame.stream_id & MAX_ID, flags << 24 | len(frame.data)) + (
            frame.data)
    if isinstance(frame, SynStream):
        flags = (FLAG_FIN if frame.fin else 0) | (
            FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
        body = struct.pack(">IIBB", frame.stream_id, frame.associated_id,
                           (frame.priority & 7) << 5, 0)
        return _control(SYN_STREAM, flags, body + compressor.block(frame.headers))
    if isinstance(frame, (SynReply, Headers)):
        kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
        body = struct.pack(">I", frame.stream_id) + compressor.block(frame.headers)
        return _control(kind, FLAG_FIN if frame.fin else 0, body)
    if isinstance(frame, RstStream):
        return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
    if isinstance(frame, Settings):
        body = struct.pack(">I", len(frame.entries)) + b"".join(
            struct.pack(">II", flags << 24 | key, value) for flags, key, value in frame.entries)
        return _control(SETTINGS, FLAG_CLEAR_SETTINGS if frame.clear else 0, body)
    if isinstance(frame, Ping):
        return _control(PING, 0, struct.pack(">I", frame.ping_id))
    if isinstance(frame, GoAway):
        return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_id, frame.status))
    return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta))


class FrameReader:
    """Frames out of a byte stream fed in arbitrary pieces (one zlib stream for its blocks)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._headers = _Decompressor()

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``; raises ProtocolError on a malformed frame."""
        self._buf += data
        frames: list[Frame] = []
        pos, buf = 0, self._buf
        while len(buf) - pos >= 8:
            first, word = struct.unpack_from(">II", buf, pos)
            length = word & 0xFFFFFF
            end = pos + 8 + length
            if end > len(buf):
                break
            body = bytes(buf[pos + 8:end])
            flags = word >> 24
            if first & 0x80000000:
                frame = self._control(first >> 16 & 0x7FFF, first & 0xFFFF, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(Data(first & MAX_ID, body, bool(flags & FLAG_FIN)))
            pos = end
        del buf[:pos]
        return frames

    def _control(self, version: int, kind: int, flags: int, body: bytes) -> Frame | None:
        if version != VERSION:
            msg = f"unsupported SPDY version {version}"
            raise ProtocolError(msg)
        parse = _CONTROL.get(kind)
        if parse is None:
            return None  # an unknown control frame type: skipped
        try:
            return parse(self._headers, flags, body)
        except struct.error:
            msg = f"control frame type {kind} of {len(body)} bytes is malformed"
            raise ProtocolError(msg) from None


def _syn_stream(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    sid, assoc, prio, _slot = struct.unpack_from(">IIBB", body)
    return SynStream(sid & MAX_ID, headers.block(body[10:]), assoc & MAX_ID, prio >> 5,
                     bool(flags & FLAG_FIN), bool(flags & FLAG_UNIDIRECTIONAL))


def _syn_reply(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    (sid,) = struct.unpack_from(">I", body)
    return SynReply(sid & MAX_ID, headers.block(body[4:]), bool(flags & FLAG_FIN))


def _headers(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    (sid,) = struct.unpack_from(">I", body)
    return Headers(sid & MAX_ID, headers.block(body[4:]), bool(flags & FLAG_FIN))


def _two_words(body: bytes) -> tuple[int, int]:
    if len(body) != 8:
        raise struct.error
    first, second = struct.unpack(">II", body)
    return first, second


def _rst_stream(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    sid, status = _two_words(body)
    return RstStream(sid & MAX_ID, status)


def _ping(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    (ping_id,) = struct.unpack(">I", body)
    return Ping(ping_id)


def _goaway(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    last, status = _two_words(body)
    return GoAway(last & MAX_ID, status)


def _window_update(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    sid, delta = _two_words(body)
    return WindowUpdate(sid & MAX_ID, delta & MAX_ID)


def _settings(headers: _Decompressor, flags: int, body: bytes) -> Frame:
    (count,) = struct.unpack_from(">I", body)
    if len(body) != 4 + 8 * count:
        raise struct.error
    entries = []
    for i in range(count):
        word, value = struct.unpack_from(">II", body, 4 + 8 * i)
        entries.append((word >> 24, word & 0xFFFFFF, value))
    return Settings(tuple(entries), bool(flags & FLAG_CLEAR_SETTINGS))


# -- session --------------------------------------------------------------------------------

Send = Callable[[bytes], Awaitable[None]]


class Stream:
    """One SPDY stream: ``read``/``write``/``close`` (half-close) and ``reset``."""

    def __init__(self, session: Session, stream_id: int, headers: HeaderBlock) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.replied = asyncio.get_running_loop().create_future()  # SYN_REPLY in or out
        self.remote_closed = False  # FIN or RST seen
        self.local_closed = False  # FIN sent
        self.reset_status = 0  # RST_STREAM's status, either way
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._unacked = 0  # consumed bytes not yet returned with WINDOW_UPDATE
        self._readable = asyncio.Event()
        self._drained = asyncio.Event()
        self.send_window = session.peer_initial_window
        self._window = asyncio.Event()

    def header(self, name: str) -> str:
        """The first value of header ``name`` of the SYN_STREAM."""
        return header(self.headers, name)

    async def reply(self, headers: HeaderBlock = (), fin: bool = False) -> None:
        """Accept a stream the peer opened (SYN_REPLY)."""
        await self.session.send(SynReply(self.id, headers, fin))
        if not self.replied.done():
            self.replied.set_result(headers)
        if fin:
            self._finish_local()

    async def read(self) -> bytes:
        """The next data the peer sent; b"" once it finished the stream or reset it."""
        while not self._chunks:
            if self.remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._buffered <= INITIAL_WINDOW:
            self._drained.set()
        await self.session.consumed(self, len(chunk))
        return chunk

    async def read_all(self) -> bytes:
        """Everything up to the peer's FIN."""
        parts = []
        while chunk := await self.read():
            parts.append(chunk)
        return b"".join(parts)

    async def write(self, data: bytes) -> None:
        """Send ``data`` (split into DATA frames within the send windows)."""
        view = memoryview(data)
        while view:
            if self.local_closed or self.reset_status:
                msg = f"stream {self.id} is closed"
                raise StreamClosed(msg)
            size = await self.session.reserve(self, min(len(view), DATA_CHUNK))
            await self.session.send(Data(self.id, bytes(view[:size])))
            view = view[size:]

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN (nothing more from this side)."""
        if self.local_closed or self.reset_status:
            return
        self._finish_local()
        with contextlib.suppress(StreamClosed):
            await self.session.send(Data(self.id, b"", fin=True))

    async def reset(self, status: int = CANCEL) -> None:
        """End the stream both ways at once (RST_STREAM)."""
        if self.reset_status or (self.local_closed and self.remote_closed):
            return
        self._on_reset(status)
        with contextlib.suppress(StreamClosed):
            await self.session.send(RstStream(self.id, status))

    async def wait_reply(self) -> HeaderBlock:
        """The SYN_REPLY's headers of a stream this side opened; StreamClosed if refused."""
        return await self.replied

    # -- called by the session ------------------------------------------------------------

    def _on_data(self, data: bytes, fin: bool) -> None:
        if data and not self.remote_closed:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered > INITIAL_WINDOW:
                self._drained.clear()
        if fin:
            self.remote_closed = True
            self.session.forget_if_done(self)
        self._readable.set()

    def _on_reset(self, status: int) -> None:
        self.reset_status = status
        self.remote_closed = self.local_closed = True
        self._chunks.clear()
        self._buffered = 0
        self._readable.set()
        self._drained.set()
        self._window.set()
        if not self.replied.done():
            self.replied.set_exception(StreamClosed(f"stream {self.id} reset ({status})"))
            self.replied.exception()  # retrieved: nobody may be waiting for it
        self.session.forget(self)

    def _finish_local(self) -> None:
        self.local_closed = True
        self.session.forget_if_done(self)

    def _grow(self, delta: int) -> None:
        self.send_window += delta
        if self.send_window > 0:
            self._window.set()


class Session:
    """One SPDY/3.1 connection over any transport: ``feed`` it what was read, and it calls
    ``send`` with whole frames. ``server`` picks the stream id parity (clients odd)."""

    def __init__(self, send: Send, *, server: bool) -> None:
        self._send = send
        self.server = server
        self._out = _Compressor()
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


_CONTROL: dict[int, Callable[[_Decompressor, int, bytes], Frame]] = {
    SYN_STREAM: _syn_stream, SYN_REPLY: _syn_reply, RST_STREAM: _rst_stream,
    SETTINGS: _settings, PING: _ping, GOAWAY: _goaway, HEADERS: _headers,
    WINDOW_UPDATE: _window_update}
