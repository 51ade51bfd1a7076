"""Streaming exec: a command in a container with live stdin, stdout, stderr or a terminal.

CRI's ``Exec`` (kubernetes/cri-api ``api.proto``) as the kubelet's /exec serves it. Both
runtimes start a host process whose stdio is the exec's (``runc exec`` passes its own stdio
through to the process it starts in the container; the process runtime runs the command
itself), so this module holds the part they share: pipes, or a pseudo-terminal, and the
``ExecProcess`` the kubelet reads and writes.

With a terminal the host process runs under util-linux ``setsid --ctty --wait`` on the slave
side of a pty km opened, so it is a session leader with that pty as its controlling terminal:
Ctrl-C written to the master becomes SIGINT for its foreground group, and a resize
(``TIOCSWINSZ`` on the master) a SIGWINCH. ``runc exec -t`` makes the container's own pty,
puts ours in raw mode and copies between the two, forwarding SIGWINCH's size (runc
``signals.go``), so the same holds inside the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import struct
import termios
import time
from collections.abc import Awaitable, Callable
from typing import Any

from servers.kubelet.runtime.errors import ExecFailed
from servers.kubelet.runtime.interface import ContainerConfig
from servers.kubelet.runtime.spec import exec_env, process_env

READ_SIZE = 64 * 1024
SETSID = ("setsid", "--ctty", "--wait")


class ExecProcess:
    """A running exec: write its stdin, read stdout and stderr (one stream with a tty),
    resize its terminal, wait for its exit code, or kill it."""

    def __init__(self, proc: asyncio.subprocess.Process, *, master: int | None,
                 kill: Callable[[], Awaitable[None]]) -> None:
        self.proc = proc
        self.tty = master is not None
        self._master = master
        self._kill = kill
        self._cleanups: list[Callable[[], None]] = []
        if master is not None:
            self.stdout: asyncio.StreamReader = _pty_reader(master)
            self.stderr: asyncio.StreamReader | None = None
        else:
            assert proc.stdout is not None and proc.stderr is not None
            self.stdout, self.stderr = proc.stdout, proc.stderr

    async def write_stdin(self, data: bytes) -> None:
        """Give ``data`` to the process's stdin (dropped once the process has gone)."""
        if self._master is not None:
            await _write_all(self._master, data)
            return
        if self.proc.stdin is None or self.proc.stdin.is_closing():
            return
        with contextlib.suppress(ConnectionError):
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        """End of input: the process reads EOF (a terminal has no end of input: nothing)."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
            with contextlib.suppress(ConnectionError):
                await self.proc.stdin.wait_closed()

    def resize(self, width: int, height: int) -> None:
        """Set the terminal's size (its foreground process group gets SIGWINCH)."""
        if self._master is not None and width and height:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        """The exit code, as a shell reports it (128+N for signal N)."""
        code = await self.proc.wait()
        return code if code >= 0 else 128 - code

    async def kill(self) -> None:
        """SIGKILL the command (the client went away) and reap it."""
        if self.proc.returncode is None:
            await self._kill()
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Have ``close`` call ``cleanup`` (the runtime's own files of this exec)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Release the terminal and the runtime's files (after the output was read)."""
        if self._master is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._master)
            os.close(self._master)
            self._master = None
        while self._cleanups:
            self._cleanups.pop()()


async def spawn(argv: list[str], *, tty: bool, stdin: bool, env: dict[str, str] | None = None,
                cwd: str | None = None, kill: Callable[[int], Awaitable[None]] | None = None,
                **extra: Any) -> ExecProcess:
    """Start ``argv`` with pipes, or on a new pty when ``tty``; ``kill(pid)`` ends it on
    demand (default: its process group, which is its own)."""
    master = None
    if tty:
        master, slave = os.openpty()
        os.set_blocking(master, False)
        argv = [*SETSID, *argv]
        io: dict[str, Any] = {"stdin": slave, "stdout": slave, "stderr": slave}
    else:
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        io = {"stdin": pipe if stdin else devnull, "stdout": pipe, "stderr": pipe,
              "start_new_session": True}
    try:
        proc = await asyncio.create_subprocess_exec(argv[0], *argv[1:], env=env, cwd=cwd,
                                                    **io, **extra)
    except OSError as exc:
        if master is not None:
            os.close(master)
        msg = f'exec: "{argv[0]}": {exc.strerror}'
        raise ExecFailed(msg) from None
    finally:
        if tty:
            os.close(io["stdin"])
    pid = proc.pid
    return ExecProcess(proc, master=master, kill=lambda: (kill or _kill_group)(pid))


def check_command(program: str, path: str, cwd: str, root: str = "/") -> None:
    """Raise ``ExecFailed`` in runc's words when ``program`` is not there to run, looked up
    (through ``root``: another mount namespace's view) as Go's ``exec.LookPath`` would."""
    def inside(p: str) -> str:
        return os.path.join(root, p.lstrip("/"))

    if "/" in program:
        target = program if program.startswith("/") else os.path.join(cwd, program)
        if not os.path.exists(inside(target)):
            msg = f'exec: "{program}": stat {program}: no such file or directory'
            raise ExecFailed(msg)
        if not os.access(inside(target), os.X_OK) or os.path.isdir(inside(target)):
            msg = f'exec: "{program}": permission denied'
            raise ExecFailed(msg)
        return
    found = shutil.which(program, path=os.pathsep.join(inside(d) for d in path.split(":") if d))
    if found is None:
        msg = f'exec: "{program}": executable file not found in $PATH'
        raise ExecFailed(msg)


async def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _pty_reader(master: int) -> asyncio.StreamReader:
    """A StreamReader fed from the pty master; EOF once every slave is closed (EIO)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4 * READ_SIZE)

    def ready() -> None:
        try:
            data = os.read(master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                reader.set_exception(exc)
            data = b""
        if data:
            reader.feed_data(data)
        else:
            loop.remove_reader(master)
            reader.feed_eof()

    loop.add_reader(master, ready)
    return reader


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    deadline = time.monotonic() + 30.0  # a terminal nobody reads: give up, do not hang
    while view and time.monotonic() < deadline:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await asyncio.sleep(0.01)
        except OSError:
            return  # the process has gone: its input is dropped


async def host_exec(config: ContainerConfig, pod_ip: str, cmd: list[str], *, tty: bool,
                    stdin: bool) -> ExecProcess:
    """``--isolation none``'s exec: ``cmd`` as a host process with the container's
    environment, working dir and (as root) user, as its main process runs."""
    env = exec_env(process_env(config, POD_IP=pod_ip), tty)
    cwd = config.working_dir or "/"
    check_command(cmd[0], env["PATH"], cwd)
    security = config.security
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0 and (security.run_as_user, security.run_as_group) != (None, None):
        as_user = {"user": security.run_as_user or 0, "group": security.run_as_group or 0,
                   "extra_groups": []}  # as the container runs (setpriv --clear-groups)
    return await spawn(cmd, tty=tty, stdin=stdin, env=env, cwd=cwd, **as_user)
