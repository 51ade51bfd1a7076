"""SPDY/3.1's frames as values: the numbers of the protocol and one frozen dataclass per frame.

The SPDY/3 draft (draft-mbelshe-httpbis-spdy-00, section 2) gives the frame layouts; SPDY/3.1
adds the session-wide flow-control window (WINDOW_UPDATE on stream 0). Frames: SYN_STREAM,
SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE and DATA. Their wire form
is in ``codec``, their header blocks' compression in ``headers``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Data", "Frame", "GoAway", "HeaderBlock", "Headers", "Ping", "ProtocolError",
           "RstStream", "Settings", "SynReply", "SynStream", "WindowUpdate", "header"]

VERSION = 3
MAX_LENGTH = (1 << 24) - 1  # a frame's 24-bit length
MAX_ID = (1 << 31) - 1
INITIAL_WINDOW = 64 * 1024  # a stream's and the session's window until SETTINGS says otherwise

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

HeaderBlock = tuple[tuple[str, str], ...]  # (lower-case name, value); NUL joins repeats


class ProtocolError(ValueError):
    """Bytes that are not SPDY/3: the session answers GOAWAY PROTOCOL_ERROR and ends."""


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
