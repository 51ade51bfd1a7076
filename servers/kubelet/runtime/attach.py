"""Attach: join a running container's stdio through its monitor's attach socket (conmon's).

conmon listens on ``<bundle>/attach``, a ``SOCK_SEQPACKET`` unix socket: each message it
sends is one byte naming the pipe (2 stdout, 3 stderr; a terminal's output comes as stdout)
and the data; what a client sends is the container's stdin, and a client that shuts its
writing side (or hangs up) makes conmon close the container's stdin unless it runs with
``--leave-stdin-open`` (kube's stdinOnce false). A terminal's size goes as ``H W`` lines to
the ``<bundle>/winsz`` FIFO (measured with conmon 2.1.6: a ``1 H W`` line there was read
as height 1, width H).
CRI-O's ``internal/oci/runtime_oci.go`` (AttachContainer, ``setSize``) speaks the same, and
km's own monitor (``monitor.py``, ``--isolation none``) serves the same interface. The
bundle's path can be longer than a socket address may be (108 bytes), so the socket is
reached through ``/proc/self/fd/N/attach`` of an open bundle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable

from servers.kubelet.runtime.errors import CommandFailed

READ_SIZE = 8192 + 1  # conmon's buffer plus the pipe byte
WRITE_SIZE = 4096
STDOUT_PIPE = 2
STDERR_PIPE = 3
RESIZE_GAP = 0.05  # between two size lines, so conmon reads each on its own


class Attachment:
    """A live attach (``interface.Streams``): ``kill`` and ``close`` only detach."""

    def __init__(self, sock: socket.socket, bundle: str, *, tty: bool,
                 wait_exit: Callable[[], Awaitable[int]]) -> None:
        self._sock = sock
        self._bundle = bundle
        self._wait_exit = wait_exit
        self.stdout = asyncio.StreamReader()
        self.stderr: asyncio.StreamReader | None = None if tty else asyncio.StreamReader()
        self._reader = asyncio.ensure_future(self._read())
        self._stdin_closed = False
        self._size = (0, 0)
        self._resizer: asyncio.Future[None] | None = None

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await loop.sock_recv(self._sock, READ_SIZE)
                if not message:
                    break
                pipe, data = message[0], message[1:]
                target = self.stderr if pipe == STDERR_PIPE and self.stderr else self.stdout
                target.feed_data(data)
        except OSError:
            pass  # detached, or conmon is gone: either way the output ends
        finally:
            self.stdout.feed_eof()
            if self.stderr is not None:
                self.stderr.feed_eof()

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin_closed:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            for start in range(0, len(data), WRITE_SIZE):
                await loop.sock_sendall(self._sock, data[start:start + WRITE_SIZE])

    async def close_stdin(self) -> None:
        self._stdin_closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def resize(self, width: int, height: int) -> None:
        if not (width and height):
            return
        self._size = (width, height)
        if self._resizer is None or self._resizer.done():
            self._resizer = asyncio.ensure_future(self._write_sizes())

    async def _write_sizes(self) -> None:
        """Write the latest size, one line per read of conmon's: it takes only the first
        line of what it reads at once, and kubectl attach resizes twice in a row (one
        larger, then the real size, to make the program redraw)."""
        written = None
        while self._size != written:
            written = self._size
            self._write_size(*written)
            await asyncio.sleep(RESIZE_GAP)

    def _write_size(self, width: int, height: int) -> None:
        try:
            fd = os.open(os.path.join(self._bundle, "winsz"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # no terminal, or conmon is gone
        with contextlib.suppress(OSError):
            os.write(fd, f"{height} {width}\n".encode())
        os.close(fd)

    async def wait(self) -> int:
        return await self._wait_exit()

    async def kill(self) -> None:
        self.close()

    def close(self) -> None:
        self._reader.cancel()
        if self._resizer is not None:
            self._resizer.cancel()
        self._sock.close()


async def connect(bundle: str, *, tty: bool,
                  wait_exit: Callable[[], Awaitable[int]]) -> Attachment:
    """An ``Attachment`` to the container whose bundle (conmon's ``-b``) is ``bundle``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.setblocking(False)
    folder = os.open(bundle, os.O_PATH | os.O_DIRECTORY)
    try:
        await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{folder}/attach")
    except OSError as exc:
        sock.close()
        msg = f"attach: the container's monitor does not answer ({exc.strerror})"
        raise CommandFailed(msg) from None
    finally:
        os.close(folder)
    return Attachment(sock, bundle, tty=tty, wait_exit=wait_exit)
