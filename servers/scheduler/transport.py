"""A lean HTTP/1.1 transport for the scheduler's one-shot requests (bindings, events, patches).

``LeanClient`` is the client's ``Client`` with its ``_send`` (every request that is not a
watch) going over ``ConnectionPool``: keep-alive connections on asyncio's own transports,
each request written as one prepared block of bytes and its answer read by a small
HTTP/1.1 response parser. Watches stay on aiohttp.

Why: a scheduler draining a backlog makes two small requests per pod (the binding and the
Scheduled event), and in py-spy profiles of ``bench/scheduler_backlog.py`` aiohttp's client
request path (session, request and response objects, its writer, timers, tracing hooks) was
~30 % of the scheduler's CPU, more than the scheduling algorithm. The requests sent are the
ones aiohttp sent (same method, path, query, ``Accept``, ``User-Agent``, ``Authorization``,
``Content-Type``; no ``Accept-Encoding``, so answers come uncompressed), and the failures the
same: a non-2xx answer raises its ``StatusError``, a refused, reset or timed-out request
``ApiUnavailable``.

Connections: at most ``connection_limit`` open at once (callers beyond it wait), reused
while they stay idle less than ``KEEPALIVE_SECONDS`` (aiohttp's client default, well under
the apiserver's 75 s, so a reused connection is never one the server is closing); TLS with
the configuration's context (CA, client certificate) for an https server.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

from servers.client._wire import status_error
from servers.client.errors import ApiUnavailable
from servers.client.rest import Client

if TYPE_CHECKING:
    from collections.abc import Mapping

    from servers.client.kubeconfig import Config

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
_HEADER_LIMIT = 64 * 1024


class LeanClient(Client):
    """A ``Client`` whose requests other than watches go over a ``ConnectionPool``."""

    _pool: ConnectionPool | None = None

    async def open(self) -> None:
        """Open the aiohttp session (watches) and the pool (everything else)."""
        await super().open()
        if self._pool is None:
            self._pool = ConnectionPool(self.config, user_agent=self.user_agent,
                                        limit=self.connection_limit,
                                        connect_timeout=self.connect_timeout,
                                        request_timeout=self.request_timeout)

    async def close(self) -> None:
        """Close the pool's connections, then what ``Client.close`` closes."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
        await super().close()

    async def _send(self, method: str, path: str, params: Mapping[str, str] | None,
                    data: bytes | None, content_type: str, accept: str | None = None) -> bytes:
        if self._pool is None:
            return await super()._send(method, path, params, data, content_type, accept)
        status, body = await self._pool.request(method, path, params, data, content_type,
                                                accept)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s => %d", method, path, params or "", status)
        if status >= 300:
            raise status_error(status, body)
        return body


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections to one apiserver (see the module docstring)."""

    def __init__(self, config: Config, *, user_agent: str, limit: int = 64,
                 connect_timeout: float = 5.0, request_timeout: float = 60.0) -> None:
        parts = urlsplit(config.server)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = config.ssl_context() or ssl.create_default_context()
        host_header = parts.netloc.rpartition("@")[2]
        headers = [f"Host: {host_header}", f"User-Agent: {user_agent}"]
        if config.token:
            headers.append(f"Authorization: Bearer {config.token}")
        self._headers = ("\r\n".join(headers) + "\r\n").encode("latin-1")
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._slots = asyncio.Semaphore(limit)
        self._idle: collections.deque[_Connection] = collections.deque()
        self._closed = False

    async def request(self, method: str, path: str, params: Mapping[str, str] | None,
                      data: bytes | None, content_type: str, accept: str | None
                      ) -> tuple[int, bytes]:
        """Send one request; its answer's status and body. ``ApiUnavailable`` when the
        apiserver cannot be reached or does not answer in time."""
        target = self._prefix + path + ("?" + urlencode(params, quote_via=quote) if params
                                        else "")
        head = [f"{method} {target} HTTP/1.1\r\nAccept: {accept or 'application/json'}\r\n"
                .encode("latin-1"), self._headers]
        if data is not None:
            head.append(f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n"
                        .encode("latin-1"))
            head.append(data)
        else:
            head.append(b"\r\n")
        async with self._slots:
            try:
                connection = await self._connection()
                answer = await connection.exchange(b"".join(head), self._request_timeout)
            except (OSError, asyncio.TimeoutError, _ProtocolError) as exc:
                why = str(exc) or type(exc).__name__
                msg = f"{method} {path}: apiserver unavailable: {why}"
                raise ApiUnavailable(msg) from exc
        if connection.reusable and not self._closed:
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the warmest
            if connection.reusable and now - connection.idle_since < KEEPALIVE_SECONDS:
                return connection
            connection.close()
        _, connection = await asyncio.wait_for(loop.create_connection(
            _Connection, self._host, self._port, ssl=self._ssl,
            server_hostname=self._host if self._ssl is not None else None),
            self._connect_timeout)
        return connection

    def close(self) -> None:
        """Close every idle connection; connections in use close when their answer ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()


class _ProtocolError(Exception):
    """The server's answer is no HTTP/1.1 response, or the connection ended within one."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its response parsed as it comes."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._buffer = bytearray()
        self._parser: _Response | None = None
        self.reusable = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: the connection is not sane
            self.reusable = False
            return
        try:
            done = self._parser.feed(data)
        except _ProtocolError as exc:
            self._fail(exc)
            return
        if done:
            self._finish()

    def eof_received(self) -> bool | None:
        self.reusable = False
        if self._parser is not None:
            if self._parser.until_eof:
                self._finish()
            else:
                self._fail(_ProtocolError("the apiserver closed the connection"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._transport = None
        if self._parser is not None:
            if exc is None and self._parser.until_eof:
                self._finish()
            else:
                self._fail(exc or _ProtocolError("the apiserver closed the connection"))

    # -- one exchange ----------------------------------------------------------------------

    async def exchange(self, request: bytes, timeout: float) -> tuple[int, bytes]:
        """Write ``request`` and wait for its whole response (``timeout`` seconds at most)."""
        if self._transport is None or not self.reusable:
            msg = "the connection is closed"
            raise _ProtocolError(msg)
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._parser = _Response()
        self.reusable = False  # until the whole response is read
        timer = loop.call_later(timeout, self._time_out)
        self._transport.write(request)
        try:
            return await waiter
        finally:
            timer.cancel()
            if not waiter.done() or waiter.cancelled():  # the caller gave up mid-exchange
                self.close()

    def close(self) -> None:
        """Drop the connection."""
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def _time_out(self) -> None:
        self._fail(asyncio.TimeoutError())
        self.close()

    def _finish(self) -> None:
        parser, self._parser = self._parser, None
        assert parser is not None
        if parser.keep_alive and self._transport is not None and not parser.until_eof:
            self.reusable = True
            self.idle_since = asyncio.get_running_loop().time()
        elif self._transport is not None:
            self._transport.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((parser.status, bytes(parser.body)))

    def _fail(self, exc: BaseException) -> None:
        self._parser = None
        self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)


class _Response:
    """An HTTP/1.1 response read incrementally: ``feed`` says when it is complete.

    The body is delimited by ``Content-Length``, chunked transfer coding, or the end of the
    connection (``until_eof``); ``1xx`` interim responses are skipped.
    """

    def __init__(self) -> None:
        self.status = 0
        self.body = bytearray()
        self.keep_alive = True
        self.until_eof = False
        self._pending = bytearray()
        self._in_head = True
        self._length = -1  # Content-Length; -1 while unknown
        self._chunked = False
        self._chunk_left = -1  # bytes left in the current chunk; -1 before a size line
        self._trailers = False

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; ``True`` once the response is complete."""
        self._pending += data
        if self._in_head and not self._read_head():
            return False
        if self._chunked:
            return self._read_chunks()
        if self.until_eof:
            self.body += self._pending
            self._pending.clear()
            return False
        self.body += self._pending
        self._pending.clear()
        if len(self.body) > self._length:
            msg = "the response is longer than its Content-Length"
            raise _ProtocolError(msg)
        return len(self.body) == self._length

    def _read_head(self) -> bool:
        while True:
            end = self._pending.find(b"\r\n\r\n")
            if end < 0:
                if len(self._pending) > _HEADER_LIMIT:
                    msg = "the response's header is too long"
                    raise _ProtocolError(msg)
                return False
            head = bytes(self._pending[:end]).decode("latin-1")
            del self._pending[:end + 4]
            lines = head.split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/1.") or not code.isdigit():
                msg = f"not an HTTP/1.1 response: {lines[0][:80]!r}"
                raise _ProtocolError(msg)
            if code.startswith("1"):  # 100 Continue and the like: the real answer follows
                continue
            self.status = int(code)
            self.keep_alive = version == "HTTP/1.1"
            self._headers(lines[1:])
            self._in_head = False
            return True

    def _headers(self, lines: list[str]) -> None:
        for line in lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                if not value.isdigit():
                    msg = f"bad Content-Length {value[:20]!r}"
                    raise _ProtocolError(msg)
                self._length = int(value)
            elif name == "transfer-encoding":
                self._chunked = "chunked" in value.lower()
            elif name == "connection":
                tokens = value.lower()
                if "close" in tokens:
                    self.keep_alive = False
                elif "keep-alive" in tokens:
                    self.keep_alive = True
        self._delimit()

    def _delimit(self) -> None:
        """How the body ends, from the headers read."""
        if self._chunked:
            self._length = -1
        elif self._length < 0:
            self.until_eof = self.status not in (204, 304)
            if not self.until_eof:
                self._length = 0
        elif self.status in (204, 304):
            self._length = 0

    def _read_chunks(self) -> bool:
        while True:
            if self._trailers:  # after the last chunk: trailer lines up to an empty one
                end = self._pending.find(b"\r\n")
                if end < 0:
                    return False
                line = self._pending[:end]
                del self._pending[:end + 2]
                if not line:
                    return True
                continue
            if self._chunk_left < 0:
                end = self._pending.find(b"\r\n")
                if end < 0:
                    return False
                size = bytes(self._pending[:end]).split(b";", 1)[0].strip()
                del self._pending[:end + 2]
                try:
                    self._chunk_left = int(size, 16)
                except ValueError:
                    msg = f"bad chunk size {size[:20]!r}"
                    raise _ProtocolError(msg) from None
                if self._chunk_left == 0:
                    self._trailers = True
                    continue
            if len(self._pending) < self._chunk_left + 2:
                return False
            self.body += self._pending[:self._chunk_left]
            del self._pending[:self._chunk_left + 2]
            self._chunk_left = -1
