"""The process supervisor (hyperkube/supervisor.py) with small real child processes.

The children are tests/unit/hyperkube/fake_child.py run by this Python; delays are shrunk
through the API so that each test takes well under a second or two.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperkube import supervisor
from hyperkube.backoff import Backoff
from hyperkube.logfile import parse_duration, parse_size
from tests.support import procfs
from tests.support.wait import eventually

CHILD = [sys.executable, str(Path(__file__).with_name("fake_child.py"))]
FAST = Backoff(0.2, 0.4)
WAIT, POLL = 10.0, 0.01  # a bound on each wait, and how often it looks


def _lines(log_dir: Path, name: str) -> list[str]:
    path = log_dir / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


async def test_a_child_that_exits_is_restarted_after_the_delay_while_others_run(
        tmp_path: Path) -> None:
    crash = supervisor.Child("crash", ["crash", "3"])
    steady = supervisor.Child("steady", ["sleep"])
    stop = asyncio.Event()
    began = time.monotonic()
    task = asyncio.ensure_future(supervisor.run(
        [steady, crash], stop, logs=supervisor.Logs(str(tmp_path)), command=CHILD,
        backoff=FAST, kill_grace=1.0))
    await eventually(lambda: len(_lines(tmp_path, "crash")) == 3, "3 lines in crash.log",
                     WAIT, POLL)
    took = time.monotonic() - began
    assert took >= 0.2 + 0.4, "restarted after 0.2 s, then 0.4 s"
    assert steady.starts == 1 and steady.proc and steady.proc.returncode is None
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert [line.split()[0] for line in _lines(tmp_path, "crash")] == ["start"] * 3
    assert _lines(tmp_path, "steady") == [f"start {steady.pids[0]}", "stop"]
    assert not [p for c in (crash, steady) for p in c.pids if procfs.alive(p)]


async def test_stop_terminates_in_reverse_order_and_kills_a_stubborn_group(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="hyperkube.supervisor")
    first = supervisor.Child("first", ["sleep"])
    stubborn = supervisor.Child("stubborn", ["stubborn"])
    spawner = supervisor.Child("spawner", ["spawn"])
    children = [first, stubborn, spawner]
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run(
        children, stop, logs=supervisor.Logs(str(tmp_path)), command=CHILD, backoff=FAST,
        kill_grace=0.3))
    await eventually(lambda: all(_lines(tmp_path, c.name) for c in children),
                     "a log line of every child", WAIT, POLL)
    grandchild = int(_lines(tmp_path, "spawner")[0].split()[2])
    assert os.getpgid(grandchild) == spawner.pids[0], "the grandchild is in its group"
    began = time.monotonic()
    stop.set()
    assert await asyncio.wait_for(task, 10) == 1, "one had to be killed"
    assert time.monotonic() - began < 3 * (0.3 + 0.3) + 3, "bounded by the grace periods"
    assert [c.killed for c in children] == [False, True, True]
    # The spawner's grandchild ignored SIGTERM: SIGKILL to the group ended it.
    assert not procfs.alive(grandchild)
    assert not [p for c in children for p in c.pids if procfs.alive(p)]
    assert [c.starts for c in children] == [1, 1, 1]
    stopped = [r.getMessage().split()[0] for r in caplog.records if " stopped " in r.getMessage()]
    assert stopped == ["spawner", "stubborn", "first"], "reverse start order, one at a time"
    assert _lines(tmp_path, "first")[-1] == "stop"


async def test_a_killed_childs_group_is_cleaned_before_the_restart(tmp_path: Path) -> None:
    spawner = supervisor.Child("spawner", ["spawn"])
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run(
        [spawner], stop, logs=supervisor.Logs(str(tmp_path)), command=CHILD, backoff=FAST,
        kill_grace=0.3))
    await eventually(lambda: _lines(tmp_path, "spawner"), "spawner.log", WAIT, POLL)
    grandchild = int(_lines(tmp_path, "spawner")[0].split()[2])
    os.kill(spawner.pids[0], signal.SIGKILL)
    await eventually(lambda: spawner.starts == 2, "the spawner's restart", WAIT, POLL)
    assert not procfs.alive(grandchild), "its leftover group was ended before the restart"
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not [p for p in spawner.pids if procfs.alive(p)]


async def test_logs_rotate_by_size_and_keep_the_newest_backups(tmp_path: Path) -> None:
    chatter = supervisor.Child("chatter", ["chatter", "50"])
    stop = asyncio.Event()
    logs = supervisor.Logs(str(tmp_path), max_size=1000, max_backups=2)
    task = asyncio.ensure_future(supervisor.run([chatter], stop, logs=logs, command=CHILD))
    await eventually(lambda: any("00000049" in line for p in tmp_path.glob("chatter*.log")
                                 for line in p.read_text().splitlines()),
                     "line 00000049 in a chatter log", WAIT, POLL,
                     retry_on=(FileNotFoundError,))  # a backup pruned between glob and read
    stop.set()
    await asyncio.wait_for(task, 10)
    backups = sorted(p.name for p in tmp_path.glob("chatter-*.log"))
    assert len(backups) == 2, backups
    assert all(p.stat().st_size <= 1000 for p in tmp_path.glob("chatter*.log"))
    newest = "".join((tmp_path / n).read_text() for n in backups) + (
        tmp_path / "chatter.log").read_text()
    assert newest.endswith("stop\n")
    assert "00000049" in newest and "00000010" not in newest, "older backups were removed"


async def test_without_a_log_dir_children_write_to_our_streams(
        capfd: pytest.CaptureFixture[str]) -> None:
    child = supervisor.Child("c", ["crash", "0"])
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run([child], stop, command=CHILD, backoff=FAST))
    await eventually(
        lambda: child.starts == 1 and child.proc and child.proc.returncode is not None,
        "the child's exit", WAIT, POLL)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert f"start {child.pids[0]}" in capfd.readouterr().out


async def test_a_child_that_cannot_start_is_retried(tmp_path: Path) -> None:
    child = supervisor.Child("nope", [])
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run(
        [child], stop, command=[str(tmp_path / "no-such-program")], backoff=Backoff(0.01, 0.01)))
    await asyncio.sleep(0.1)
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert child.starts == 0


async def test_child_env_is_added_to_ours(tmp_path: Path) -> None:
    child = supervisor.Child("env", ["-c", "import os; print(os.environ['KM_TEST_X'])"],
                             env={"KM_TEST_X": "on top"})
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run(
        [child], stop, logs=supervisor.Logs(str(tmp_path)), command=[sys.executable],
        backoff=FAST))
    await eventually(lambda: _lines(tmp_path, "env"), "env.log", WAIT, POLL)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert _lines(tmp_path, "env")[0] == "on top"


def test_child_names_must_differ() -> None:
    with pytest.raises(ValueError, match="child names must differ"):
        asyncio.run(supervisor.run([supervisor.Child("a", []), supervisor.Child("a", [])],
                                   asyncio.Event(), command=CHILD))


def test_log_flags_default_as_the_minion_and_refuse_bad_values(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="km minion")
    supervisor.add_flags(parser)
    opts = parser.parse_args([])
    assert (opts.max_log_size, opts.max_log_backups, opts.max_log_age) == (
        10 * 2**20, 5, 168 * 3600.0)
    assert supervisor.logs_from(opts) is None
    logs = supervisor.logs_from(parser.parse_args(
        ["--log-dir", "/x", "--max-log-size", "1Ki", "--max-log-age", "1h30m"]))
    assert logs is not None and (logs.directory, logs.max_size, logs.max_age) == (
        "/x", 1024, 5400.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-log-size", "ten"])
    assert "bad size \"ten\"" in capsys.readouterr().err


def test_self_command_is_this_python_and_how_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    assert supervisor.self_command()[0] == sys.executable
    monkeypatch.setattr("hyperkube.bundle.archive_path", lambda: "/opt/km.pyz")
    assert supervisor.self_command() == [sys.executable, "/opt/km.pyz"]


@pytest.mark.parametrize(("text", "size"), [
    ("0", 0), ("10", 10), ("10Mi", 10 * 2**20), ("1Ki", 1024), ("2G", 2 * 10**9), ("3K", 3000)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "seconds"), [
    ("168h", 604800.0), ("1h30m", 5400.0), ("90s", 90.0), ("500ms", 0.5), ("0", 0.0),
    ("1.5h", 5400.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10Mb", "-1", "ten"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="bad size"):
        parse_size(text)


@pytest.mark.parametrize("text", ["", "10", "1d", "h", "1h 2m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_a_supervising_servers_flags_import_no_runtime() -> None:
    """R2: `SERVER --help` of a supervising server builds its parser without asyncio."""
    code = ("import argparse, sys; from hyperkube import supervisor_options as o; "
            "o.add_flags(argparse.ArgumentParser()); "
            "print(sorted({'asyncio', 'logging', 'ctypes'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_plan_names_children_after_their_servers_and_checks_their_flags() -> None:
    from hyperkube import Server, together

    def flags(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int)

    servers = [Server("kubelet", run="x:y", usage="", aliases=("kube-kubelet",),
                      add_flags=flags), Server("proxy", run="x:y", usage="")]
    children = supervisor.plan(servers, [("kube-kubelet", ["--port", "1"]), ("proxy", [])],
                               prog="km", env={"PATH": "/opt/bin"})
    assert [(c.name, c.args, c.env) for c in children] == [
        ("kubelet", ["kubelet", "--port", "1"], {"PATH": "/opt/bin"}),
        ("proxy", ["proxy"], {"PATH": "/opt/bin"})]
    with pytest.raises(together.TableError, match="flags of proxy: unrecognized arguments"):
        supervisor.plan(servers, [("proxy", ["--port", "1"])], prog="km")
    with pytest.raises(together.TableError, match='unknown server "dns"'):
        supervisor.plan(servers, [("dns", [])], prog="km")


async def test_a_child_after_an_event_starts_only_once_it_is_set(tmp_path: Path) -> None:
    gate = asyncio.Event()
    late = supervisor.Child("late", ["sleep"], after=gate)
    never = supervisor.Child("never", ["sleep"], after=asyncio.Event())
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run(
        [late, never], stop, logs=supervisor.Logs(str(tmp_path)), command=CHILD,
        backoff=FAST, kill_grace=1.0))
    await asyncio.sleep(0.2)
    assert late.starts == 0
    late.args = ["sleep", "now"]  # filled in before the gate opens
    gate.set()
    await eventually(lambda: _lines(tmp_path, "late"), "late.log", WAIT, POLL)
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert (late.starts, never.starts) == (1, 0)
    assert not (tmp_path / "never.log").exists()


async def test_restart_ends_a_run_and_starts_again_without_backoff(tmp_path: Path) -> None:
    child = supervisor.Child("steady", ["sleep"])
    stop = asyncio.Event()
    task = asyncio.ensure_future(supervisor.run(
        [child], stop, logs=supervisor.Logs(str(tmp_path)), command=CHILD,
        backoff=Backoff(30, 30), kill_grace=1.0))
    await eventually(lambda: _lines(tmp_path, "steady"), "steady.log", WAIT, POLL)
    first = child.pids[0]
    supervisor.restart(child)
    await eventually(lambda: len(_lines(tmp_path, "steady")) >= 3, "3 lines in steady.log",
                     5, POLL)
    assert child.starts == 2 and not procfs.alive(first), \
        "ended, then started at once (not in 30 s)"
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert not [p for p in child.pids if procfs.alive(p)]
