"""What the three port-forward transports share about the client's connection: the
subprotocols they negotiate, the size of a message and of the read-ahead, and how a
connection ends early (the kubelet shutting down, or no frame either way for
``--streaming-connection-idle-timeout``, see idle.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import WSCloseCode, web

from servers.kubelet.api import STREAM_IDLE_TIMEOUT
from servers.kubelet.idle import IDLE_MESSAGE, IdleTimer
from servers.streaming.spdy.frames import MAX_LENGTH

__all__ = ["BASE64_PROTOCOL", "CHANNEL_PROTOCOLS", "CHANNEL_QUEUE", "IDLE_MESSAGE",
           "MAX_MESSAGE", "OPEN", "SPDY_PROTOCOL", "TUNNEL_PROTOCOL", "Closer", "close_all",
           "going_away", "idle_timer", "track"]

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_PROTOCOL = "portforward.k8s.io"  # X-Stream-Protocol-Version of the plain upgrade
BASE64_PROTOCOL = "v4.base64.channel.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", BASE64_PROTOCOL, SPDY_PROTOCOL)
CHANNEL_QUEUE = 16  # client messages held per port before reading the WebSocket pauses
MAX_MESSAGE = MAX_LENGTH + 8  # one whole SPDY frame per WebSocket message


# how to end each open port-forward connection, called when the app shuts down: aiohttp would
# otherwise wait for their handlers (a minute) before it cancels them
Closer = Callable[[], Awaitable[object]]
OPEN: web.AppKey[set[Closer]] = web.AppKey("portforward_open")


async def close_all(app: web.Application) -> None:
    """End every open port-forward connection (the app's on_shutdown)."""
    opened: set[Closer] = app[OPEN]
    for close in list(opened):
        await close()


@contextlib.asynccontextmanager
async def track(request: web.Request, close: Closer) -> AsyncIterator[None]:
    """Track one upgraded connection while its handler runs."""
    request.app[OPEN].add(close)
    try:
        yield
    finally:
        request.app[OPEN].discard(close)


def going_away(ws: web.WebSocketResponse, why: bytes = b"kubelet shutting down") -> Closer:
    """A closer that ends ``ws`` with 1001 (going away) and ``why``."""
    return lambda: ws.close(code=WSCloseCode.GOING_AWAY, message=why)


def idle_timer(request: web.Request, close: Closer) -> IdleTimer:
    """The connection's idle timer (``close`` it once idle), to touch on every message."""
    return IdleTimer(request.app[STREAM_IDLE_TIMEOUT], close)
