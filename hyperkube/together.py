"""Several servers of one program in one process, each kept running on its own.

A group is a table of rows `(server name, its flags)`. `plan` finds each server (by name or
alias) and parses its flags with that server's own parser; `run` runs every server's
`run(opts, stop)` as it is, on the one event loop the framework owns (R10):

    members = together.plan(hk.servers, [("apiserver", [...]), ("scheduler", [...])],
                            prog="km")
    return await together.run(members, stop)

Unlike k3s, where one component's exit ends the process, a server that fails (returns
non-zero or raises) is logged and restarted after a backoff (backoff.py: 1 s doubling to
30 s, forgotten after a run of 60 s), and the others keep running. A server that returns 0
before the group stops has finished (a one-shot job) and is not restarted; the group ends when
every server has ended.

When `stop` is set, the servers stop in reverse start order, one at a time: each gets its own
stop event and up to `stop_timeout` seconds to return; one that is still running then is
cancelled (and given `CANCEL_GRACE` seconds to unwind), and the next one is stopped. So a
group stops within `len(members) * (stop_timeout + CANCEL_GRACE)` seconds. Servers that start
later may use earlier ones (a scheduler uses the apiserver), so they stop first.

A group's exit code is 0 when every server's last run ended with 0, else 1.
Logging is configured once, by the group's own server: the members' `-v` flags are parsed
but do not reconfigure it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hyperkube import messages as msg
from hyperkube.backoff import Backoff

TYPE_CHECKING = False  # typing's own flag, without importing typing at every start (~2 ms)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Sequence
    from typing import Any, NoReturn

    from hyperkube.server import Runner, Server

    Table = Iterable[tuple[str, Sequence[str]]]

DEFAULT_STOP_TIMEOUT = 10.0
CANCEL_GRACE = 1.0

log = logging.getLogger(__name__)


class TableError(Exception):
    """A group's table names no such server, a server twice, or flags its parser refuses."""


class Member:
    """One server of a group: its parsed flags, its own stop event and its history."""

    __slots__ = ("code", "name", "opts", "runner", "server", "starts", "stop")

    def __init__(self, server: Server, opts: argparse.Namespace, runner: Runner) -> None:
        self.server = server
        self.name = server.name
        self.opts = opts
        self.runner = runner
        self.stop = asyncio.Event()
        self.starts = 0  # how many times its run() was started
        self.code: int | None = None  # its last exit code (None: running or cancelled)

    def __repr__(self) -> str:
        return f"Member({self.name!r}, starts={self.starts}, code={self.code})"


def plan(servers: Sequence[Server], table: Table, *, prog: str) -> list[Member]:
    """Resolve each row of `table` to a server and parse its flags with that server's parser.

    Raises TableError (one line) for an unknown name, a server listed twice or bad flags.
    Imports each server's runner module (so call it where the bundle is active).
    """
    return [Member(server, opts, server.load_runner())
            for server, opts in resolve(servers, table, prog=prog)]


def resolve(servers: Sequence[Server], table: Table, *,
            prog: str) -> list[tuple[Server, argparse.Namespace]]:
    """Each row's server (found by name or alias) and its parsed flags; imports no runner.

    Raises TableError (one line) for an unknown name, a server listed twice or bad flags.
    """
    rows: list[tuple[Server, argparse.Namespace]] = []
    for name, args in table:
        server = next((s for s in servers if name in s.names), None)
        if server is None:
            raise TableError(msg.GROUP_UNKNOWN_SERVER.format(name=name))
        if any(seen is server for seen, _ in rows):
            raise TableError(msg.GROUP_SERVER_TWICE.format(name=server.name))
        rows.append((server, parse_flags(server, args, prog=f"{prog} {server.name}")))
    return rows


def parse_flags(server: Server, args: Sequence[str], *, prog: str) -> argparse.Namespace:
    """Parse `args` with `server`'s own parser; a refusal is a TableError, never an exit."""

    def refuse(error: str) -> NoReturn:
        raise TableError(msg.GROUP_BAD_FLAGS.format(server=server.name, error=error))

    # No -h/--help here: in a table it is a mistake, not a request to print and exit.
    parser = server.make_parser(prog, add_help=False)
    parser.error = refuse  # type: ignore[method-assign,assignment]  # argparse's one way out on bad input
    try:
        return parser.parse_args(list(args))
    except SystemExit:  # an action that prints and exits (--version): not for a table
        refuse(f"arguments that exit: {' '.join(args)}")


async def run(members: Sequence[Member], stop: asyncio.Event, *,
              backoff: Backoff | None = None,
              stop_timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
    """Run every member until `stop` is set (or all have ended); return the group's code.

    `backoff` is the restart policy (each member gets its own copy).
    """
    policy = backoff or Backoff()
    tasks = [asyncio.ensure_future(_keep(m, policy.copy())) for m in members]
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        pending: set[asyncio.Future[Any]] = set(tasks)
        while pending and not stop.is_set():
            _, pending = await asyncio.wait({*pending, stopping},
                                            return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopping)
        await _stop_in_reverse(members, tasks, stop_timeout)
    finally:
        stopping.cancel()
        for task in tasks:
            task.cancel()
    failed = [m.name for m in members if m.code != 0]
    if failed:
        log.error("group stopped; these did not end cleanly: %s", ", ".join(failed))
    return msg.EXIT_FAILURE if failed else msg.EXIT_OK


async def _keep(member: Member, backoff: Backoff) -> None:
    """Run one member, restarting it after failures, until its stop is set or it finishes."""
    while not member.stop.is_set():
        member.starts += 1
        member.code = None
        started = time.monotonic()
        try:
            result = await member.runner(member.opts, member.stop)
            member.code = 0 if result is None else int(result)
            why = f"exit code {member.code}"
        except Exception as exc:  # the boundary of one member: it fails alone
            log.debug("%s raised", member.name, exc_info=True)
            member.code = msg.EXIT_FAILURE
            why = f"error: {exc or type(exc).__name__}"
        if member.stop.is_set():
            return
        if member.code == 0:
            log.info("%s finished (exit code 0); not restarted", member.name)
            return
        delay = backoff.delay(time.monotonic() - started)
        log.error("%s failed (%s); restarting in %gs", member.name, why, delay)
        await _sleep_unless(member.stop, delay)


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `event` is set meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


async def _stop_in_reverse(members: Sequence[Member], tasks: Sequence[asyncio.Future[None]],
                           stop_timeout: float) -> None:
    for member, task in reversed(list(zip(members, tasks, strict=True))):
        member.stop.set()
        if task.done():
            continue
        done, _ = await asyncio.wait({task}, timeout=stop_timeout)
        if done:
            continue
        log.warning("%s did not stop within %gs; cancelling it", member.name, stop_timeout)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE)
        if not done:
            log.error("%s ignored its cancellation; leaving it behind", member.name)
        member.code = None
