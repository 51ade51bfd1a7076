"""The pod's side of a port-forward: dial the port in the pod's network, then copy both ways.

A connection is dialled to 127.0.0.1:PORT inside the pod's network namespace (a socket made
by a short-lived thread that entered it with setns(2); the socket stays there), as
containerd and CRI-O do; a pod of ``--isolation none`` has no namespace of its own and
listens on its loopback pod IP, so that is dialled from the kubelet's. Failures come back as
the text for the error stream, worded as kube's kubelet wraps CRI-O's error. Every transport
(httpstream.py's SPDY pairs, channels.py's WebSocket channels) forwards through ``forward``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.kubelet.linux import netns
from servers.streaming.spdy import StreamClosed

if TYPE_CHECKING:
    from servers.kubelet.workers import Kubelet, PodWorker

__all__ = ["DialError", "Read", "Target", "Write", "forward", "pod_target"]

DIAL_TIMEOUT = 10.0
READ_SIZE = 64 * 1024  # one pod read = one DATA frame = one message
CLONE_NEWNET = 0x40000000


class DialError(Exception):
    """The pod's port could not be reached; the message is the runtime's error."""


@dataclass(frozen=True)
class Target:
    """A pod's network as a dialler sees it."""

    sandbox_id: str
    netns: str  # the namespace's path; "" = the kubelet's own network
    host: str

    async def dial(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ``host:port`` in the pod's network; DialError with CRI-O's words."""
        try:
            if not self.netns:
                return await asyncio.wait_for(asyncio.open_connection(self.host, port),
                                              DIAL_TIMEOUT)
            sock = await _socket_in(self.netns)
            try:
                await asyncio.wait_for(
                    asyncio.get_running_loop().sock_connect(sock, (self.host, port)),
                    DIAL_TIMEOUT)
            except BaseException:
                sock.close()
                raise
            return await asyncio.open_connection(sock=sock)
        except (OSError, asyncio.TimeoutError) as exc:
            raise DialError(self._words(port, exc)) from None

    def _words(self, port: int, exc: BaseException) -> str:
        # CRI-O's internal/oci/runtime_oci.go portForward wraps the dial error so
        reason = (os.strerror(exc.errno).lower() if isinstance(exc, OSError) and exc.errno
                  else "i/o timeout")
        where = self.netns or "host"
        return (f'port forward into network namespace "{where}": failed to connect to '
                f"localhost:{port} inside namespace {self.sandbox_id}: dial tcp "
                f"{self.host}:{port}: connect: {reason}")


def _socket_in(path: str) -> asyncio.Future[socket.socket]:
    """A TCP socket made inside the network namespace at ``path``: a fresh thread enters it
    (setns only moves the calling thread) and ends, so no pooled thread is left there."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[socket.socket] = loop.create_future()

    def deliver(sock: socket.socket | None, exc: OSError | None) -> None:
        if future.cancelled():
            if sock is not None:
                sock.close()
        elif exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(sock)  # type: ignore[arg-type]

    def work() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {path}: {os.strerror(err)}")
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
        except OSError as exc:
            loop.call_soon_threadsafe(deliver, None, exc)
            return
        loop.call_soon_threadsafe(deliver, sock, None)

    threading.Thread(target=work, name="km-portforward-netns", daemon=True).start()
    return future


async def pod_target(kubelet: Kubelet, worker: PodWorker) -> Target:
    """Where ``worker``'s ports are: its network namespace, the kubelet's own network (host
    network), or its loopback pod IP (``--isolation none``)."""
    sandbox = await kubelet.runtime.pod_sandbox_status(worker.sandbox_id)
    runtime: Any = kubelet.runtime
    if getattr(runtime, "isolation", "") == "namespaces" and not sandbox.config.host_network:
        return Target(sandbox.id, netns.path(runtime.names.netns(sandbox.id)), "127.0.0.1")
    if sandbox.config.host_network or not sandbox.ip:
        return Target(sandbox.id, "", "127.0.0.1")
    return Target(sandbox.id, "", sandbox.ip)  # --isolation none: the pod's loopback IP


def _failure(port: int, target: Target, message: str) -> bytes:
    # kube's kubelet: httpstream.go / websocket.go portForward; the CRI streaming server
    # names the pod by its sandbox id and passes no uid
    return f"error forwarding port {port} to pod {target.sandbox_id}, uid : {message}".encode()


Read = Callable[[], Awaitable[bytes]]
Write = Callable[[bytes], Awaitable[None]]


async def forward(target: Target, port: int, read: Read, write: Write,
                  close: Callable[[], Awaitable[None]]) -> bytes:
    """Copy between the client's stream and the pod's port until the pod's side ends (kube
    returns when the first copy ends) or the client's stream is reset (``read`` raises
    StreamClosed); the client's end of input half-closes the pod's socket. Returns the text
    for the error stream (b"" when none)."""
    try:
        reader, writer = await target.dial(port)
    except DialError as exc:
        return _failure(port, target, str(exc))
    down = asyncio.ensure_future(_from_pod(reader, write))
    up = asyncio.ensure_future(_to_pod(read, writer))
    try:
        await asyncio.wait([down, up], return_when=asyncio.FIRST_COMPLETED)
        if not down.done() and (up.cancelled() or up.exception() is not None):
            down.cancel()  # the client went away: the pod's data has nowhere to go
        await asyncio.wait([down])
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
        writer.close()
        await close()
    return b""


async def _from_pod(reader: asyncio.StreamReader, write: Write) -> None:
    with contextlib.suppress(ConnectionError, StreamClosed):
        while data := await reader.read(READ_SIZE):
            await write(data)


async def _to_pod(read: Read, writer: asyncio.StreamWriter) -> None:
    """Client to pod until the client's EOF (then half-close); StreamClosed (an OSError too)
    passes on when the client's stream was reset, so the copy the other way stops."""
    while data := await read():
        try:
            writer.write(data)
            await writer.drain()
        except OSError:
            return  # the pod closed its side; what it sends still comes down
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
