"""A plain HTTP upgrade relayed as bytes: kubectl's SPDY/3.1 fallback for pods/portforward.

    kubectl port-forward (KUBECTL_PORT_FORWARD_WEBSOCKETS=false, or after a failed WebSocket)
        │  POST .../pods/web/portforward, Connection: Upgrade, Upgrade: SPDY/3.1,
        │  X-Stream-Protocol-Version: portforward.k8s.io
        ▼
    apiserver (podstream.py checks, then this module), as kube's UpgradeAwareHandler
    (k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go):
        1. dial the kubelet (TLS, the --kubelet-* client certificate and CA), send the POST
           with the upgrade headers, read its answer's head
        2. not 101: its code and body as a Status (kubeletclient.kubelet_error)
        3. 101: answer the client 101 with the kubelet's protocol, then copy bytes both ways
           until either side ends; nothing is parsed, so SPDY's own flow control holds
        ▼
    kubelet: POST /portForward/NS/POD (servers/kubelet/portforward/upgrade.py)

The client's bytes reach this module through aiohttp's upgrade hook (``set_parser`` on the
request's protocol: what ``web.WebSocketResponse`` itself uses once a connection is upgraded);
when the kubelet's socket falls behind, reading from the client pauses until it drains. The
kubelet's bytes go out through the 101 response's own ``write``, which waits for the client's
socket to drain. Only port-forward is relayed so: km's kubelet serves plain SPDY for
/portForward alone (exec and attach are WebSocket only there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web
from yarl import URL

from servers.apiserver.kubeletclient import CONNECT_TIMEOUT_SECONDS, kubelet_error

log = logging.getLogger(__name__)

HEAD_LIMIT = 64 << 10  # bytes of the kubelet's answer head
ERROR_BODY_LIMIT = 4096
ANSWER_SECONDS = 30.0  # a kubelet that took the connection but never answers the upgrade
CHUNK = 64 << 10
HIGH_WATER = 256 << 10  # the kubelet socket's queue at which reading the client pauses
PROTOCOL_HEADER = "X-Stream-Protocol-Version"


class UpgradeFailed(Exception):
    """The kubelet could not be reached or answered nonsense (not an HTTP answer)."""


@dataclass
class Upgraded:
    """A kubelet connection after its 101, and the protocol it chose."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: str


async def dial(url: URL, context: ssl.SSLContext, protocols: Iterable[str],
               forwarded_for: str | None) -> Upgraded:
    """POST the SPDY upgrade to the kubelet; the upgraded connection.

    Raises a StatusError for a kubelet's refusal (non-101), UpgradeFailed otherwise."""
    host = str(url.host)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, url.port, ssl=context, server_hostname=host, limit=HEAD_LIMIT),
            CONNECT_TIMEOUT_SECONDS)
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        raise UpgradeFailed(_why(exc)) from None
    try:
        writer.write(_request_head(url, protocols, forwarded_for))
        status, reason, headers = await asyncio.wait_for(_answer_head(reader), ANSWER_SECONDS)
        if status != 101:
            body = await _some_body(reader, headers)
            raise kubelet_error(status, reason, body)
        return Upgraded(reader, writer, headers.get(PROTOCOL_HEADER.lower(), ""))
    except BaseException as exc:
        writer.close()
        if isinstance(exc, (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                            asyncio.LimitOverrunError, ValueError)):
            raise UpgradeFailed(_why(exc)) from None
        raise


def _request_head(url: URL, protocols: Iterable[str], forwarded_for: str | None) -> bytes:
    lines = [f"POST {url.raw_path_qs} HTTP/1.1", f"Host: {url.host}:{url.port}",
             "Connection: Upgrade", "Upgrade: SPDY/3.1", "Content-Length: 0"]
    lines += [f"{PROTOCOL_HEADER}: {p}" for p in protocols]
    if forwarded_for:
        lines.append(f"X-Forwarded-For: {forwarded_for}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _answer_head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    """Status, reason and headers (names lower-cased; the last of a repeated one)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head.split("\r\n")
    version, code, *reason = status_line.split(" ", 2)
    if not version.startswith("HTTP/") or not code.isdigit():
        msg = f"not an HTTP answer: {status_line[:80]!r}"
        raise ValueError(msg)
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return int(code), reason[0] if reason else "", headers


async def _some_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    length = headers.get("content-length", "")
    with contextlib.suppress(asyncio.TimeoutError, asyncio.IncompleteReadError, OSError):
        if length.isdigit():
            return await asyncio.wait_for(
                reader.readexactly(min(int(length), ERROR_BODY_LIMIT)), ANSWER_SECONDS)
        return await asyncio.wait_for(reader.read(ERROR_BODY_LIMIT), 1.0)
    return b""


class _ToKubelet:
    """What aiohttp feeds an upgraded connection's bytes to: here, the kubelet's socket."""

    def __init__(self, writer: asyncio.StreamWriter, client: asyncio.Transport) -> None:
        self.writer = writer
        self.client = client
        self.ended = asyncio.Event()
        self._draining: asyncio.Task[None] | None = None

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self.writer.is_closing():
            return False, b""
        self.writer.write(data)
        queued = self.writer.transport.get_write_buffer_size()
        if queued > HIGH_WATER and self._draining is None:
            self.client.pause_reading()
            self._draining = asyncio.ensure_future(self._drain())
        return False, b""

    def feed_eof(self) -> None:
        self.ended.set()

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.ended.set()
        finally:
            self._draining = None
            if not self.client.is_closing():
                self.client.resume_reading()


async def relay(request: web.Request, upstream: Upgraded,
                stopping: asyncio.Event) -> web.StreamResponse:
    """Answer the client 101 and copy bytes both ways until one side ends or the server
    stops; both connections are closed on the way out."""
    headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
    if upstream.protocol:
        headers[PROTOCOL_HEADER] = upstream.protocol
    resp = web.StreamResponse(status=101, reason="Switching Protocols", headers=headers)
    resp.force_close()  # the connection is the relay's now: no second request on it
    try:
        with contextlib.suppress(ConnectionError):  # the client hung up meanwhile: below
            await resp.prepare(request)
        transport = request.transport
        if transport is None or transport.is_closing():
            log.debug("pods stream: the client left during the handshake")
            return resp  # aiohttp finishes it quietly; the kubelet's side closes below
        to_kubelet = _ToKubelet(upstream.writer, transport)  # type: ignore[arg-type]
        request.protocol.set_parser(to_kubelet)  # type: ignore[arg-type]
        down = asyncio.ensure_future(_to_client(upstream.reader, resp))
        waits = [down, asyncio.ensure_future(to_kubelet.ended.wait()),
                 asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
    finally:
        upstream.writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError,
                                 asyncio.TimeoutError):
            await asyncio.wait_for(upstream.writer.wait_closed(), 1.0)
    return resp


async def _to_client(reader: asyncio.StreamReader, resp: web.StreamResponse) -> None:
    with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
        while chunk := await reader.read(CHUNK):
            await resp.write(chunk)  # waits while the client's socket is full


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
