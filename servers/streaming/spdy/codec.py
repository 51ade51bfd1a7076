"""SPDY/3.1's wire codec: ``encode`` writes one frame, ``FrameReader`` cuts frames out of a
byte stream fed in arbitrary pieces. Unknown control frame types are skipped, as the draft
says; anything else malformed is a ProtocolError."""

from __future__ import annotations

import struct
from collections.abc import Callable

from servers.streaming.spdy.frames import (
    FLAG_CLEAR_SETTINGS,
    FLAG_FIN,
    FLAG_UNIDIRECTIONAL,
    GOAWAY,
    HEADERS,
    MAX_ID,
    MAX_LENGTH,
    PING,
    RST_STREAM,
    SETTINGS,
    SYN_REPLY,
    SYN_STREAM,
    VERSION,
    WINDOW_UPDATE,
    Data,
    Frame,
    GoAway,
    Headers,
    Ping,
    ProtocolError,
    RstStream,
    Settings,
    SynReply,
    SynStream,
    WindowUpdate,
)
from servers.streaming.spdy.headers import Compressor, Decompressor

__all__ = ["FrameReader", "encode"]


def _control(kind: int, flags: int, body: bytes) -> bytes:
    if len(body) > MAX_LENGTH:
        msg = f"frame of {len(body)} bytes is too large"
        raise ValueError(msg)
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(body)) + body


def encode(frame: Frame, compressor: Compressor) -> bytes:
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
        self._headers = Decompressor()

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


def _syn_stream(headers: Decompressor, flags: int, body: bytes) -> Frame:
    sid, assoc, prio, _slot = struct.unpack_from(">IIBB", body)
    return SynStream(sid & MAX_ID, headers.block(body[10:]), assoc & MAX_ID, prio >> 5,
                     bool(flags & FLAG_FIN), bool(flags & FLAG_UNIDIRECTIONAL))


def _syn_reply(headers: Decompressor, flags: int, body: bytes) -> Frame:
    (sid,) = struct.unpack_from(">I", body)
    return SynReply(sid & MAX_ID, headers.block(body[4:]), bool(flags & FLAG_FIN))


def _headers(headers: Decompressor, flags: int, body: bytes) -> Frame:
    (sid,) = struct.unpack_from(">I", body)
    return Headers(sid & MAX_ID, headers.block(body[4:]), bool(flags & FLAG_FIN))


def _two_words(body: bytes) -> tuple[int, int]:
    if len(body) != 8:
        raise struct.error
    first, second = struct.unpack(">II", body)
    return first, second


def _rst_stream(headers: Decompressor, flags: int, body: bytes) -> Frame:
    sid, status = _two_words(body)
    return RstStream(sid & MAX_ID, status)


def _ping(headers: Decompressor, flags: int, body: bytes) -> Frame:
    (ping_id,) = struct.unpack(">I", body)
    return Ping(ping_id)


def _goaway(headers: Decompressor, flags: int, body: bytes) -> Frame:
    last, status = _two_words(body)
    return GoAway(last & MAX_ID, status)


def _window_update(headers: Decompressor, flags: int, body: bytes) -> Frame:
    sid, delta = _two_words(body)
    return WindowUpdate(sid & MAX_ID, delta & MAX_ID)


def _settings(headers: Decompressor, flags: int, body: bytes) -> Frame:
    (count,) = struct.unpack_from(">I", body)
    if len(body) != 4 + 8 * count:
        raise struct.error
    entries = []
    for i in range(count):
        word, value = struct.unpack_from(">II", body, 4 + 8 * i)
        entries.append((word >> 24, word & 0xFFFFFF, value))
    return Settings(tuple(entries), bool(flags & FLAG_CLEAR_SETTINGS))



_CONTROL: dict[int, Callable[[Decompressor, int, bytes], Frame]] = {
    SYN_STREAM: _syn_stream, SYN_REPLY: _syn_reply, RST_STREAM: _rst_stream,
    SETTINGS: _settings, PING: _ping, GOAWAY: _goaway, HEADERS: _headers,
    WINDOW_UPDATE: _window_update}
