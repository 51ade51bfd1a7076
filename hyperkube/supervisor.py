"""Servers of the same program run as supervised child processes.

A supervisor any hyperkube program can use, after Kubernetes-Mesos' `km minion`
(contrib/mesos/pkg/minion/server.go and tasks/task.go, Kubernetes 1.2):

    children = supervisor.plan(hk.servers, [("kubelet", ["--node-name", "n1"]),
                                            ("proxy", ["--kubeconfig", path])], prog="km")
    return await supervisor.run(children, stop, logs=supervisor.logs_from(opts))

(`plan` checks each row's flags with that server's parser first, as together.plan does, and
names each child after its server; `Child(name, args)` makes one by hand.)

- Each child is this very program again: `sys.executable` plus the archive (or how this
  process was started, see `self_command`) plus the child's args, so every child shares the
  archive's extraction cache and compiled speedups. Children inherit the environment, with
  `Child.env` on top (the minion's `--path-override` is `env={"PATH": ...}`).
- Each child runs in its own session, so its own process group (pgid = its pid), and gets
  SIGTERM if the supervisor dies (Linux's parent-death signal), as the minion's children did.
- A child that exits, whatever its code, is restarted after `backoff`: 5 s (the minion's
  RestartDelay), then doubling to 30 s, forgotten after a run of 60 s (backoff.py). Before the
  restart, what is left of its process group gets SIGTERM, then SIGKILL after `kill_grace`.
- With `logs`, a child's stdout and stderr go through the supervisor into `DIR/NAME.log`,
  rotated by size with backups removed by count and age (logfile.py); without, the children
  write to the supervisor's own stdout and stderr.
- When `stop` is set, the children stop in reverse start order: SIGTERM to the child's process
  group, SIGKILL to the group after `kill_grace` seconds (5 s, the minion's grace period) if it
  has not ended. The supervisor signals only the process groups it created, by their ids.

- `Child(..., after=event)` starts that child only once `event` is set (its args may be
  filled in until then); `restart(child)` ends a child's run (as a stop does) and starts it
  again at once, without a backoff (new credentials, say).

`run` returns 0 when every child ended within its grace period, 1 when one had to be killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from hyperkube import bundle
from hyperkube import messages as msg
from hyperkube.backoff import Backoff
from hyperkube.supervisor_options import (
    KILL_GRACE,
    RESTART_CAP,
    RESTART_DELAY,
    Logs,
    add_flags,
    logs_from,
)

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from hyperkube.logfile import RotatingLog
    from hyperkube.server import Server
    from hyperkube.together import Table

# The light face (flags, defaults, Logs) lives in supervisor_options, so that a supervising
# server's --help does not import asyncio; these names are re-exported from here.
__all__ = ["KILL_GRACE", "RESTART_CAP", "RESTART_DELAY", "Child", "Logs", "add_flags",
           "logs_from", "plan", "restart", "run", "self_command"]

_READ_CHUNK = 65536
_POLL = 0.05
_PRSET_PDEATHSIG = 1  # <linux/prctl.h>

log = logging.getLogger(__name__)


class Child:
    """One supervised child: its name (and log file's), its args after the program, its env."""

    __slots__ = ("after", "again", "args", "env", "killed", "name", "pids", "proc", "starts",
                 "stop")

    def __init__(self, name: str, args: Sequence[str],
                 env: Mapping[str, str] | None = None, *,
                 after: asyncio.Event | None = None) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env or {})
        self.after = after  # started only once this is set
        self.stop = asyncio.Event()
        self.again = asyncio.Event()  # restart() asked for a new run
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.pids: list[int] = []  # every pid it ran as, oldest first
        self.killed = False  # the last stop needed SIGKILL

    def __repr__(self) -> str:
        return f"Child({self.name!r}, {self.args!r}, starts={self.starts})"


def plan(servers: Sequence[Server], table: Table, *, prog: str,
         env: Mapping[str, str] | None = None) -> list[Child]:
    """Children for the rows `(server name, its flags)` of `table`, each named after its server.

    The flags are checked here by each server's own parser, so that an unknown name or a bad
    flag is one line (together.TableError) at once, not a child failing over and over.
    """
    from hyperkube.together import resolve

    rows = [(name, list(args)) for name, args in table]
    return [Child(server.name, [server.name, *args], env)
            for (server, _), (_, args) in zip(resolve(servers, rows, prog=prog), rows,
                                              strict=True)]


def restart(child: Child) -> None:
    """End `child`'s current run (SIGTERM, then SIGKILL after the grace) and start it again
    at once, without counting a failure. A child not yet started is left alone."""
    if child.proc is not None and child.proc.returncode is None:
        child.again.set()


def self_command() -> list[str]:
    """How to run this program again: the same Python with the same archive (or module)."""
    archive = bundle.archive_path()
    if archive is not None:
        return [sys.executable, os.path.realpath(archive)]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name != "__main__":  # python -m package.module
        return [sys.executable, "-m", spec.name.removesuffix(".__main__")]
    return [sys.executable, os.path.realpath(sys.argv[0])]


async def run(children: Sequence[Child], stop: asyncio.Event, *,
              logs: Logs | None = None, command: Sequence[str] | None = None,
              backoff: Backoff | None = None, kill_grace: float = KILL_GRACE) -> int:
    """Run every child, restarting each that exits, until `stop`; then stop them all.

    `command` is what comes before a child's args (default: `self_command()`); `backoff` the
    restart policy (default 5 s doubling to 30 s; each child gets its own copy).
    """
    base = list(command or self_command())
    policy = backoff or Backoff(RESTART_DELAY, RESTART_CAP)
    names = [c.name for c in children]
    if len(set(names)) != len(names):
        msg_ = f"child names must differ: {', '.join(names)}"
        raise ValueError(msg_)
    tasks = [asyncio.ensure_future(_keep(c, base, logs, policy.copy(), kill_grace))
             for c in children]
    try:
        await stop.wait()
        for child, task in reversed(list(zip(children, tasks, strict=True))):
            child.stop.set()
            # The keeper ends the child within kill_grace (SIGTERM), then SIGKILLs it.
            await asyncio.wait({task}, timeout=2 * kill_grace + 5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1)
    killed = [c.name for c in children if c.killed]
    if killed:
        log.warning("killed after %gs: %s", kill_grace, ", ".join(killed))
    return msg.EXIT_FAILURE if killed else msg.EXIT_OK


async def _keep(child: Child, base: list[str], logs: Logs | None, backoff: Backoff,
                grace: float) -> None:
    """Start the child, and again each time it exits, until its stop is set."""
    if child.after is not None and not await _first(child.after, child.stop):
        return
    sink = logs.open(child.name) if logs else None
    try:
        while not child.stop.is_set():
            started = time.monotonic()
            code = await _run_once(child, base, sink, grace)
            if child.stop.is_set():
                log.info("%s stopped (exit code %s)", child.name, code)
                return
            if child.again.is_set():
                child.again.clear()
                log.info("%s restarted on request (exit code %s)", child.name, code)
                continue
            delay = backoff.delay(time.monotonic() - started)
            log.error("%s exited (code %s); restarting in %gs", child.name, code, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.stop.wait(), timeout=delay)
    finally:
        if sink is not None:
            sink.close()


async def _first(wanted: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for `wanted` or `stop`; True if `wanted` came (and stop did not)."""
    waits = [asyncio.ensure_future(wanted.wait()), asyncio.ensure_future(stop.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    return wanted.is_set() and not stop.is_set()


async def _run_once(child: Child, base: list[str], sink: RotatingLog | None,
                    grace: float) -> int | None:
    """One run of the child: start it, wait for it or for stop, end its process group."""
    # Our own pipe, not asyncio's: asyncio's wait() also waits for its pipes to close, which
    # a grandchild holding the child's stdout would put off for as long as it lives.
    read_end, write_end = os.pipe() if sink else (-1, -1)
    try:
        proc = await asyncio.create_subprocess_exec(
            *base, *child.args, env={**os.environ, **child.env},
            stdin=asyncio.subprocess.DEVNULL, stdout=write_end if sink else None,
            stderr=write_end if sink else None,
            start_new_session=True, preexec_fn=_death_signal())
    except OSError as exc:  # counts as an exit: retried after the backoff
        log.error("%s could not start: %s", child.name, exc)
        if sink:
            os.close(read_end)
        return None
    finally:
        if sink:
            os.close(write_end)
    child.proc, child.starts = proc, child.starts + 1
    child.pids.append(proc.pid)
    log.info("%s started (pid %d): %s", child.name, proc.pid, " ".join(child.args))
    pump = asyncio.ensure_future(_pump(read_end, sink)) if sink else None
    exited = asyncio.ensure_future(proc.wait())
    stopping = asyncio.ensure_future(child.stop.wait())
    again = asyncio.ensure_future(child.again.wait())
    try:
        await asyncio.wait({exited, stopping, again}, return_when=asyncio.FIRST_COMPLETED)
        child.killed = await _end_group(proc, exited, grace)
    finally:
        exited.cancel()
        stopping.cancel()
        again.cancel()
    if pump is not None:  # the group is gone, so the pipe's writers are: EOF comes
        await asyncio.wait({pump}, timeout=grace)
        pump.cancel()
    return proc.returncode


async def _end_group(proc: asyncio.subprocess.Process, exited: asyncio.Future[int],
                     grace: float) -> bool:
    """SIGTERM the child's process group, SIGKILL it after `grace`; True if it needed that.

    The group's id is the child's pid (it leads its own session). Linux does not reuse a pid
    that is still some group's id, so while the group has members the id is ours.
    """
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not exited.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), timeout=_POLL)
        elif _group_alive(pgid):  # the child is gone, what it started is not yet
            await asyncio.sleep(_POLL)
        else:
            return False
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(exited), timeout=grace)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its user: still there
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


async def _pump(fd: int, sink: RotatingLog) -> None:
    """Copy a child's output from the pipe `fd` into its log until EOF (or cancellation).

    A chunk may end mid-line, so a rotation may split a line between two files.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_READ_CHUNK)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    try:
        while data := await reader.read(_READ_CHUNK):
            sink.write(data)
    finally:
        transport.close()


def _death_signal() -> Callable[[], Any] | None:
    """A pre-exec hook that asks Linux to SIGTERM the child when the supervisor dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PRSET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the supervisor died before the hook ran
            os._exit(1)

    return hook
