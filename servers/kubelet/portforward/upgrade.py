"""Port-forward's SPDY/3.1 over a plain upgraded connection (``POST``, ``Upgrade: SPDY/3.1``,
``X-Stream-Protocol-Version: portforward.k8s.io``): kubectl's fallback when the WebSocket
tunnel is refused. After the 101 the connection's bytes are taken from aiohttp's parser."""

from __future__ import annotations

import asyncio

from aiohttp import web

from servers.kubelet.portforward.connection import CHANNEL_QUEUE, SPDY_PROTOCOL, idle_timer, track
from servers.kubelet.portforward.httpstream import serve_session
from servers.kubelet.portforward.podport import Target
from servers.streaming import spdy

__all__ = ["serve_upgrade"]


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


async def serve_upgrade(request: web.Request, target: Target) -> web.StreamResponse:
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

    idle = idle_timer(request, hang_up)

    async def messages() -> bytes | None:
        data = await feed.get()
        idle.touch()
        return data

    async def send(data: bytes) -> None:
        idle.touch()
        await response.write(data)

    async with track(request, hang_up):
        await serve_session(spdy.Session(send, server=True), target, messages)
    idle.cancel()
    return response
