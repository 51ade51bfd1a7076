"""Port-forward's SPDY/3.1 tunnelled in a WebSocket (subprotocol
``SPDY/3.1+portforward.k8s.io``): what kubectl 1.32 sends and km's apiserver relays message
for message, one SPDY frame (or group of frames) per binary message (client-go
``tools/portforward/tunneling_connection.go``)."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from servers.kubelet.portforward.connection import (
    IDLE_MESSAGE,
    MAX_MESSAGE,
    TUNNEL_PROTOCOL,
    going_away,
    idle_timer,
    track,
)
from servers.kubelet.portforward.httpstream import serve_session
from servers.kubelet.portforward.podport import Target
from servers.streaming import spdy

__all__ = ["serve_tunnel"]


async def serve_tunnel(request: web.Request, target: Target) -> web.StreamResponse:
    """Serve one tunnelled SPDY session on the WebSocket this request upgrades to."""
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    idle = idle_timer(request, going_away(ws, IDLE_MESSAGE))

    async def messages() -> bytes | None:
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                idle.touch()
                return bytes(msg.data)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                return None

    async def send(data: bytes) -> None:
        idle.touch()
        await ws.send_bytes(data)

    async with track(request, going_away(ws)):
        await serve_session(spdy.Session(send, server=True), target, messages)
    idle.cancel()
    await ws.close()
    return ws
