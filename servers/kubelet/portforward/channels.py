"""Port-forward over the channel WebSocket (``v4.channel.k8s.io``, ``v4.base64.channel.k8s.io``,
``portforward.k8s.io`` or none) with ``?port=80,8080`` (kube's name, what the apiserver
sends) or ``?ports=`` (the Python client's, km's relay contract; routes.py reads both): per
port i, channel 2i carries data and 2i+1 errors, each opened with the port as uint16
little-endian (``pkg/kubelet/cri/streaming/portforward/websocket.go``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from servers.kubelet.portforward.connection import (
    BASE64_PROTOCOL,
    CHANNEL_PROTOCOLS,
    CHANNEL_QUEUE,
    IDLE_MESSAGE,
    MAX_MESSAGE,
    going_away,
    idle_timer,
    track,
)
from servers.kubelet.portforward.podport import Target, forward
from servers.streaming import channel

__all__ = ["serve_channels"]


async def serve_channels(request: web.Request, target: Target,
                         ports: list[int]) -> web.StreamResponse:
    """Forward ``ports`` over the channel WebSocket this request upgrades to."""
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    text = ws.ws_protocol == BASE64_PROTOCOL
    idle = idle_timer(request, going_away(ws, IDLE_MESSAGE))

    async def send(ch: int, data: bytes) -> None:
        idle.touch()
        if text:
            await ws.send_str(chr(ord("0") + ch) + base64.b64encode(data).decode())
        else:
            await ws.send_bytes(channel.encode(ch, data))

    inputs: list[asyncio.Queue[bytes]] = [asyncio.Queue(CHANNEL_QUEUE) for _ in ports]
    for i, port in enumerate(ports):  # each channel opens with its port
        await send(2 * i, struct.pack("<H", port))
        await send(2 * i + 1, struct.pack("<H", port))
    forwards = [asyncio.ensure_future(_channel_port(target, i, port, inputs[i], send))
                for i, port in enumerate(ports)]
    everything: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*forwards))
    reading: asyncio.Future[Any] = asyncio.ensure_future(
        _read_channels(ws, inputs, text, idle.touch))
    async with track(request, going_away(ws)):
        await asyncio.wait([everything, reading], return_when=asyncio.FIRST_COMPLETED)
    idle.cancel()
    for task in (*forwards, reading):
        task.cancel()
    await asyncio.gather(everything, reading, return_exceptions=True)
    await ws.close()
    return ws


async def _channel_port(target: Target, index: int, port: int, queue: asyncio.Queue[bytes],
                        send: Callable[[int, bytes], Awaitable[None]]) -> None:
    async def write(data: bytes) -> None:
        await send(2 * index, data)

    async def nothing() -> None:
        return None

    with contextlib.suppress(ConnectionError):
        message = await forward(target, port, queue.get, write, nothing)
        if message:
            await send(2 * index + 1, message)


async def _read_channels(ws: web.WebSocketResponse, inputs: list[asyncio.Queue[bytes]],
                         text: bool, touch: Callable[[], None]) -> None:
    async for msg in ws:
        touch()
        if msg.type == WSMsgType.BINARY and not text:
            ch, data = channel.decode(bytes(msg.data))
        elif msg.type == WSMsgType.TEXT and text and msg.data:
            ch, data = ord(msg.data[0]) - ord("0"), base64.b64decode(msg.data[1:])
        else:
            continue
        if ch % 2 == 0 and ch // 2 < len(inputs) and data:
            await inputs[ch // 2].put(data)  # a slow pod holds the client back
    for queue in inputs:  # the client is gone: its input ends
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(b"")
