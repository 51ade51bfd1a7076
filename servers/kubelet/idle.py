"""The idle timer of an exec, attach or port-forward stream (``--streaming-connection-idle-
timeout``): once no data went either way for the timeout, the stream is closed.

As kube's kubelet (``pkg/kubelet/cri/streaming/server.go`` ``StreamIdleTimeout``, handed to
``wsstream.Conn.SetIdleTimeout`` and spdystream's ``SetIdleTimeout``; default 4h, 0 = none).
This sits on the data path, so a frame costs one clock read: ``touch()`` only records the
time, and the one timer, when it comes due, re-arms itself for the last touch plus the
timeout (never a task or a timer handle per frame).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ["IDLE_MESSAGE", "IdleTimer"]

IDLE_MESSAGE = b"stream idle timeout"  # the WebSocket close reason of an idle stream


class IdleTimer:
    """Calls ``on_idle`` once, ``timeout`` seconds after the last ``touch()`` (or the start);
    a timeout of 0 never fires. An awaitable that ``on_idle`` returns is run as a task."""

    __slots__ = ("_handle", "_loop", "_on_idle", "_task", "_timeout", "fired", "last")

    def __init__(self, timeout: float, on_idle: Callable[[], Awaitable[object] | None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._on_idle = on_idle
        self.last = self._loop.time()
        self.fired = False
        self._task: asyncio.Future[object] | None = None
        self._handle = (self._loop.call_at(self.last + timeout, self._due) if timeout > 0
                        else None)

    def touch(self) -> None:
        """Data went one way or the other: the stream is not idle."""
        self.last = self._loop.time()

    def cancel(self) -> None:
        """The stream ended: no call any more (a close already started runs on)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _due(self) -> None:
        deadline = self.last + self._timeout
        if self._loop.time() < deadline:  # touched since: wait for the new deadline
            self._handle = self._loop.call_at(deadline, self._due)
            return
        self._handle = None
        self.fired = True
        result = self._on_idle()
        if inspect.isawaitable(result):
            self._task = asyncio.ensure_future(result)
