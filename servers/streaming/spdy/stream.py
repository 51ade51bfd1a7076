"""One SPDY stream of a ``Session``: what its owner reads, writes, half-closes and resets.

Received data is buffered here, beyond the 64 KiB window if the peer ignores windows (the
session then stops reading the transport until this stream's reader catches up; see
``session``). Writes are cut into DATA frames of at most ``DATA_CHUNK`` bytes, each within
the send windows the session grants.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING

from servers.streaming.spdy.frames import (
    CANCEL,
    INITIAL_WINDOW,
    Data,
    HeaderBlock,
    RstStream,
    SynReply,
    header,
)

if TYPE_CHECKING:
    from servers.streaming.spdy.session import Session

__all__ = ["DATA_CHUNK", "Stream", "StreamClosed"]

DATA_CHUNK = 64 * 1024  # largest DATA frame this side writes


class StreamClosed(ConnectionError):
    """A write on a stream that this side finished, the peer reset, or the session lost."""


class Stream:
    """One SPDY stream: ``read``/``write``/``close`` (half-close) and ``reset``."""

    def __init__(self, session: Session, stream_id: int, headers: HeaderBlock) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.replied: asyncio.Future[HeaderBlock] = (  # SYN_REPLY in or out
            asyncio.get_running_loop().create_future())
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
