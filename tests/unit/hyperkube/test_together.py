"""Several servers in one process (hyperkube/together.py), with fake servers in-process."""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import time

import pytest

from hyperkube import HyperKube, Server, together
from hyperkube import messages as msg
from hyperkube.backoff import Backoff
from tests.support.wait import eventually
from tests.unit.hyperkube import fake_servers

FAKE = "tests.unit.hyperkube.fake_servers"
WAIT, POLL = 5.0, 0.002  # a bound on each wait, and how often it looks


def _label_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label", default="x")
    parser.add_argument("--fail-times", type=int, default=0)
    parser.add_argument("--code", type=int, default=0)


def _port_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--code", type=int, default=0)


SERVERS = [
    Server("flaky", run=f"{FAKE}:flaky", usage="fails, then serves", aliases=("kube-flaky",),
           add_flags=_label_flags),
    Server("steady", run=f"{FAKE}:flaky", usage="serves", add_flags=_label_flags),
    Server("third", run=f"{FAKE}:flaky", usage="serves", add_flags=_label_flags),
    Server("stubborn", run=f"{FAKE}:stubborn", usage="ignores stop", add_flags=_label_flags),
    Server("recorder", run=f"{FAKE}:record", usage="records its flags", add_flags=_port_flags),
]


@pytest.fixture(autouse=True)
def _clean() -> None:
    fake_servers.EVENTS.clear()
    fake_servers.RAN.clear()


def test_backoff_doubles_to_the_cap_and_forgets_after_a_stable_run() -> None:
    b = Backoff(1.0, 30.0)
    assert [b.delay(0.1) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert b.reset_after == 60.0
    assert b.delay(60.0) == 1.0, "a run of twice the cap is stable"
    assert b.delay(59.0) == 2.0
    assert Backoff(5.0, 30.0).delay(0) == 5.0


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="bad backoff"):
        Backoff(2.0, 1.0)


@pytest.mark.parametrize("how", [["--code", "3"], []], ids=["returns-3", "raises"])
async def test_failing_server_is_restarted_with_backoff_while_others_keep_running(
        how: list[str], caplog: pytest.LogCaptureFixture) -> None:
    members = together.plan(SERVERS, [
        ("flaky", ["--label", "f", "--fail-times", "3", *how]),
        ("steady", ["--label", "s"]),
    ], prog="km")
    stop = asyncio.Event()
    task = asyncio.ensure_future(together.run(members, stop, backoff=Backoff(0.02, 0.05)))
    await eventually(lambda: len(fake_servers.starts("f")) == 4, "4 starts of f", WAIT, POLL)
    stamps = fake_servers.starts("f")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    delays = [0.02, 0.04, 0.05]  # doubling, then the cap
    assert all(g >= d - 0.002 for g, d in zip(gaps, delays, strict=True)), gaps
    assert gaps[2] < 0.5, "capped"
    assert len(fake_servers.starts("s")) == 1, "the other server kept running"
    stop.set()
    assert await asyncio.wait_for(task, 5) == msg.EXIT_OK
    assert [m.starts for m in members] == [4, 1]
    assert "flaky failed" in caplog.text and "restarting in 0.04s" in caplog.text


async def test_stop_goes_in_reverse_start_order() -> None:
    members = together.plan(SERVERS, [(name, ["--label", name])
                                      for name in ("flaky", "steady", "third")], prog="km")
    stop = asyncio.Event()
    task = asyncio.ensure_future(together.run(members, stop))
    await eventually(lambda: len(fake_servers.EVENTS) == 3, "3 events", WAIT, POLL)
    stop.set()
    assert await asyncio.wait_for(task, 5) == msg.EXIT_OK
    stops = [who for (who, what, _) in fake_servers.EVENTS if what == "stop"]
    assert stops == ["third", "steady", "flaky"]


async def test_a_server_ignoring_stop_is_cancelled_after_the_bound() -> None:
    members = together.plan(SERVERS, [("steady", ["--label", "s"]),
                                      ("stubborn", ["--label", "x"])], prog="km")
    stop = asyncio.Event()
    task = asyncio.ensure_future(together.run(members, stop, stop_timeout=0.1))
    await eventually(lambda: len(fake_servers.EVENTS) == 2, "2 events", WAIT, POLL)
    began = time.monotonic()
    stop.set()
    assert await asyncio.wait_for(task, 5) == msg.EXIT_FAILURE
    took = time.monotonic() - began
    assert 0.1 <= took < 0.1 + together.CANCEL_GRACE
    whats = [(who, what) for (who, what, _) in fake_servers.EVENTS[2:]]
    assert whats == [("x", "cancelled"), ("s", "stop")], "cancelled first, then the next"
    assert [m.code for m in members] == [0, None]


async def test_a_server_that_finishes_cleanly_is_not_restarted() -> None:
    members = together.plan(SERVERS, [("recorder", []), ("steady", ["--label", "s"])],
                            prog="km")
    stop = asyncio.Event()
    task = asyncio.ensure_future(together.run(members, stop, backoff=Backoff(0.01, 0.01)))
    await eventually(lambda: fake_servers.RAN and fake_servers.starts("s"), "a start of s",
                     WAIT, POLL)
    await asyncio.sleep(0.05)
    assert members[0].starts == 1
    assert not task.done(), "the others keep running"
    stop.set()
    assert await asyncio.wait_for(task, 5) == msg.EXIT_OK


async def test_the_group_ends_when_every_server_has_ended() -> None:
    members = together.plan(SERVERS, [("recorder", ["--code", "0"])], prog="km")
    assert await asyncio.wait_for(together.run(members, asyncio.Event()), 5) == msg.EXIT_OK


def test_each_server_parses_its_flags_with_its_own_parser() -> None:
    members = together.plan(SERVERS, [("recorder", ["--port", "9", "-v", "2"]),
                                      ("kube-flaky", ["--label", "a", "--fail-times", "2"])],
                            prog="km")
    assert [m.name for m in members] == ["recorder", "flaky"]
    assert (members[0].opts.port, members[0].opts.verbosity) == (9, 2)
    assert not hasattr(members[0].opts, "label")
    assert (members[1].opts.label, members[1].opts.fail_times) == ("a", 2)
    assert not hasattr(members[1].opts, "port")


@pytest.mark.parametrize(("table", "error"), [
    ([("schedulr", [])], msg.GROUP_UNKNOWN_SERVER.format(name="schedulr")),
    ([("flaky", []), ("kube-flaky", [])], msg.GROUP_SERVER_TWICE.format(name="flaky")),
    ([("recorder", ["--label", "x"])], msg.GROUP_BAD_FLAGS.format(
        server="recorder", error="unrecognized arguments: --label x")),
    ([("recorder", ["--port", "many"])], msg.GROUP_BAD_FLAGS.format(
        server="recorder", error="argument --port: invalid int value: 'many'")),
    ([("recorder", ["--help"])], msg.GROUP_BAD_FLAGS.format(
        server="recorder", error="unrecognized arguments: --help")),
], ids=["unknown", "twice", "unknown-flag", "bad-value", "help"])
def test_table_errors_are_one_line(table: list[tuple[str, list[str]]], error: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(together.TableError) as info:
        together.plan(SERVERS, table, prog="km")
    assert str(info.value) == error
    assert capsys.readouterr() == ("", ""), "argparse printed nothing"


@pytest.mark.parametrize(("member", "line"), [
    ("nope:", msg.GROUP_UNKNOWN_SERVER.format(name="nope")),
    ("recorder:--bad", msg.GROUP_BAD_FLAGS.format(server="recorder",
                                                  error="unrecognized arguments: --bad")),
])
def test_a_group_server_says_a_table_error_in_one_line(member: str, line: str) -> None:
    """Through the dispatcher: the boundary turns the TableError into `km SERVER: error:`."""
    fake_servers.SERVERS[:] = SERVERS
    hk = HyperKube("km", out=io.StringIO(), err=io.StringIO())
    hk.add_server(Server("together", run=f"{FAKE}:group", usage="a group",
                         add_flags=_group_flags))
    code = hk.run(["km", "together", "--member", member])
    assert code == msg.EXIT_FAILURE
    assert hk.err.getvalue() == msg.SERVER_ERROR.format(  # type: ignore[attr-defined]
        prog="km", server="together", error=line) + "\n"


def _group_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--member", action="append", default=[])
    parser.add_argument("--stop-timeout", type=float, default=1.0)


def test_a_group_server_runs_until_sigterm() -> None:
    """SIGTERM (the framework's handler) stops the whole group: exit 0, every member stopped."""
    fake_servers.SERVERS[:] = [*SERVERS, Server("waiter", run=f"{FAKE}:until_signal", usage="")]
    hk = HyperKube("km", out=io.StringIO(), err=io.StringIO())
    hk.add_server(Server("together", run=f"{FAKE}:group", usage="a group",
                         add_flags=_group_flags))
    code = hk.run(["km", "together", "--member", "steady:--label s", "--member", "waiter:"])
    assert code == msg.EXIT_OK, hk.err.getvalue()  # type: ignore[attr-defined]
    assert [(who, what) for (who, what, _) in fake_servers.EVENTS] == [
        ("s", "start"), ("s", "stop")]
    assert len(fake_servers.RAN) == 1
