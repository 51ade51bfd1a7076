"""The kubelet's side of km's container monitor (``monitor.py``) for ``--isolation none``.

A monitor is launched through the root dir's fork server when one runs (a fork of it: about a
millisecond, its pages shared), else after starting that server (once; every later container
and a restarted kubelet reuse it), else directly (a new Python: ~10 ms of CPU and ~3 MB of its
own). The server's socket is named after the monitor code it runs (``monitor-<crc32>.sock``
in the root dir), so a kubelet of another km build starts its own and stops the old one; the
monitors a server forked live on without it. Either way the monitor writes conmon's files
(``conmon.Paths``) and answers with conmon's sync message.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import signal
import sys
import zlib
from importlib.machinery import PathFinder

from servers.kubelet.runtime import conmon
from servers.kubelet.runtime.errors import CommandFailed
from servers.kubelet.runtime.spec import DEFAULT_PATH

log = logging.getLogger(__name__)

LAUNCH_WAIT = 30.0  # how long create waits for the monitor to report the container's pid
IDLE_EXIT = 60.0  # the fork server ends after this long without a monitor or a request
# Requests in flight to the fork server at once: it accepts one connection at a time, and a
# unix socket's connect past a full listen backlog fails with EAGAIN, which asyncio takes for
# "connecting" and then hands back an unconnected socket (ENOTCONN on the first write). A burst
# of pods must queue here, below the server's backlog (SERVER_BACKLOG in monitor.py).
ASKS_IN_FLIGHT = 32

# Run by ``sys.executable -I -S -c``: loads a module of this folder by path (from the source
# tree or from inside km.pyz alike) without importing its package, whose __init__ modules the
# helper does not need (each import of the monitor is memory in every container's monitor).
BOOT = """\
# km {title}
import sys
from importlib.machinery import PathFinder
spec = PathFinder.find_spec("{module}", [sys.argv[1]])
code = spec.loader.get_code("{module}")
scope = {{"__name__": "km_{module}", "__file__": spec.origin}}
exec(code, scope)
sys.exit(scope["main"](sys.argv[2:]))
"""
MONITOR_BOOT = BOOT.format(title="container monitor", module="monitor")
MOUNTS_BOOT = BOOT.format(title="container mounts", module="mountns")
HERE = os.path.dirname(os.path.abspath(__file__))


def helper(boot: str, *args: str) -> list[str]:
    """The command line that runs one of this folder's helper scripts with km's Python."""
    return [sys.executable, "-I", "-S", "-c", boot, HERE, *args]


def server_name() -> str:
    """The fork server's socket name: after the monitor code this km runs."""
    spec = PathFinder.find_spec("monitor", [HERE])
    assert spec is not None and spec.origin is not None and spec.loader is not None
    data = spec.loader.get_data(spec.origin)  # type: ignore[attr-defined]
    return f"monitor-{zlib.crc32(data):08x}.sock"


class Launcher:
    """Launches the monitors of one root dir's containers; see the module docstring."""

    def __init__(self, root: str, idle_exit: float = IDLE_EXIT) -> None:
        self.root = root
        self.name = server_name()
        self.idle_exit = idle_exit
        self._lock = asyncio.Lock()
        self._asking = asyncio.Semaphore(ASKS_IN_FLIGHT)

    async def launch(self, container_id: str, paths: conmon.Paths, log_path: str, *,
                     stdin: bool = False, stdin_once: bool = False, tty: bool = False) -> int:
        """Start the monitor of a created container; return the container's pid. ``stdin``,
        ``stdin_once`` and ``tty`` as ``conmon.launch``'s."""
        paths.make()
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        flags = monitor_flags(stdin=stdin, stdin_once=stdin_once, tty=tty)
        request = f"{paths.dir}\0{container_id}\0{log_path}\0{flags}\n".encode()
        line = await self._ask(request)
        if not line:
            async with self._lock:  # one start, however many containers are created at once
                line = await self._ask(request)
                if not line:
                    try:
                        await self._start_server()
                    except (OSError, CommandFailed, asyncio.TimeoutError) as exc:
                        log.warning("km monitor server: %s; monitors start on their own", exc)
                    line = await self._ask(request)
        if not line:
            return await launch_alone(container_id, paths, log_path, flags)
        return conmon.pid_from(line.strip())

    async def _ask(self, request: bytes) -> bytes:
        """The server's answer to ``request``; empty when no server listens (or one that
        was ending for want of work closed the connection unanswered)."""
        async with self._asking:
            return await self._ask_now(request)

    async def _ask_now(self, request: bytes) -> bytes:
        folder = os.open(self.root, os.O_PATH | os.O_DIRECTORY)
        try:  # through /proc/self/fd: a root dir's path may be longer than sun_path allows
            reader, writer = await asyncio.open_unix_connection(
                f"/proc/self/fd/{folder}/{self.name}")
        except OSError:
            return b""
        finally:
            os.close(folder)
        try:
            writer.write(request)
            return await asyncio.wait_for(reader.readline(), LAUNCH_WAIT)
        finally:
            writer.close()

    async def _start_server(self) -> None:
        stop_servers(self.root, keep=self.name)
        errors = os.path.join(self.root, "monitor-server.log")
        with open(errors, "ab") as err:
            line = await _spawn(helper(MONITOR_BOOT, "--serve", self.root, self.name,
                                       str(self.idle_exit)), err, self.root)
        if line.strip() != b"ready":
            msg = f"exit before it listened: {_last_line(errors)}"
            raise CommandFailed(msg)


def stop_servers(root: str, keep: str = "") -> None:
    """Stop the fork servers of ``root`` (but ``keep``); their monitors live on."""
    for pidfile in glob.glob(os.path.join(glob.escape(root), "monitor-*.sock.pid")):
        socket_path = pidfile.removesuffix(".pid")
        if os.path.basename(socket_path) == keep:
            continue
        with contextlib.suppress(OSError, ValueError):
            with open(pidfile, encoding="ascii") as f:
                pid = int(f.read())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
            if b"--serve" in cmdline and root.encode() in cmdline:  # ours, not a reused pid
                os.kill(pid, signal.SIGKILL)
        for path in (pidfile, socket_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def monitor_flags(*, stdin: bool, stdin_once: bool, tty: bool) -> str:
    """conmon's ``--stdin``, no ``--leave-stdin-open``, ``--terminal`` as the monitor's
    letters (``monitor.Monitor``)."""
    return ("i" if stdin else "") + ("o" if stdin and stdin_once else "") + ("t" if tty else "")


async def launch_alone(container_id: str, paths: conmon.Paths, log_path: str,
                       flags: str = "") -> int:
    """Start a monitor as a new Python process of its own; return the container's pid."""
    errors = os.path.join(paths.dir, "monitor.log")  # the monitor's own complaints
    with open(errors, "ab") as err:
        line = await _spawn(helper(MONITOR_BOOT, paths.dir, container_id, log_path, flags),
                            err, paths.dir)
    if not line.strip():
        msg = f"km monitor: exit before it answered: {_last_line(errors)}"
        raise CommandFailed(msg)
    return conmon.pid_from(line.strip())


async def _spawn(argv: list[str], err: object, cwd: str) -> bytes:
    """Run ``argv`` with a sync pipe's write end as its last argument, wait for its first
    process to exit (it double-forks) and return the line it wrote on the pipe."""
    read_fd, write_fd = os.pipe()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, str(write_fd), pass_fds=(write_fd,), env={"PATH": DEFAULT_PATH},
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=err, cwd=cwd, start_new_session=True)  # type: ignore[arg-type]
        finally:
            os.close(write_fd)
        await proc.wait()
        return await asyncio.wait_for(reader.readline(), LAUNCH_WAIT)
    finally:
        transport.close()


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "no message"
