"""SPDY/3 header blocks: the name/value list, compressed with zlib and the spec's dictionary.

Each direction of a session is one zlib stream for its whole life (the draft, section 2.6.10),
flushed with Z_SYNC_FLUSH after each block, so a block can only be read by the decompressor
that read every block before it.
"""

from __future__ import annotations

import struct
import zlib

from servers.streaming.spdy.frames import HeaderBlock, ProtocolError

__all__ = ["DICTIONARY", "Compressor", "Decompressor"]

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


class Compressor:
    """One direction's header compression: one zlib stream for the session's whole life."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zdict=DICTIONARY)

    def block(self, headers: HeaderBlock) -> bytes:
        """``headers`` as the next compressed block (names lower-cased)."""
        parts = [struct.pack(">I", len(headers))]
        for name, value in headers:
            raw_name, raw_value = name.lower().encode(), value.encode()
            parts += [struct.pack(">I", len(raw_name)), raw_name,
                      struct.pack(">I", len(raw_value)), raw_value]
        return self._z.compress(b"".join(parts)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class Decompressor:
    """The other direction: the peer's blocks, read in the order they were written."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)

    def block(self, data: bytes) -> HeaderBlock:
        """The headers of the next compressed block; ProtocolError when it is not one."""
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
