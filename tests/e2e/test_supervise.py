"""Several servers of one program: in one process (demo together) and as supervised child
processes (demo parent), on the built demo.pyz.

The children are found through /proc (their parent's pid), so the tests kill and check only
processes that the parent under test started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hyperkube import messages as msg
from tests.e2e.conftest import RUN_TIMEOUT
from tests.support import procfs
from tests.support.wait import until

pytestmark = pytest.mark.e2e

Start = Callable[..., "subprocess.Popen[str]"]
WAIT, POLL = 30.0, 0.02  # a bound on each wait (tests.support.wait), and how often it looks


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def started(env: dict[str, str]) -> Iterator[Start]:
    """Start a command; kill (by pid) whatever of it is still running at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(*argv: str | Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen([str(a) for a in argv], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=RUN_TIMEOUT)


def test_together_runs_probe_and_sleeper_in_one_process(demo: Path, started: Start) -> None:
    proc = started(demo, "together", "--message", "hi")
    assert proc.stdout is not None
    lines = {proc.stdout.readline().split()[0], proc.stdout.readline().strip()}
    assert lines == {"hi", "ready"}, "probe ran (and finished) beside the sleeper"
    assert procfs.children(proc.pid) == {}, "one process"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert (proc.returncode, out) == (0, "stopped\n"), err
    assert "probe finished (exit code 0); not restarted" in err


def test_together_restarts_a_failing_server_with_backoff(demo: Path, started: Start) -> None:
    proc = started(demo, "together", "--with-failer", "--restart-delay", "0.1")
    assert proc.stdout is not None
    assert "ready\n" in {proc.stdout.readline(), proc.stdout.readline()}
    assert proc.stderr is not None
    # Stop once the failer has failed twice, as its log says (a fixed sleep could end before
    # the second restart on a loaded machine); pytest's timeout bounds a failer that hangs.
    head = ""
    while "restarting in 0.2s" not in head:
        line = proc.stderr.readline()
        assert line, f"the failer was not restarted twice: {head}"
        head += line
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    err = head + err
    assert out.endswith("stopped\n"), "the sleeper kept running until the stop"
    for delay in ("0.1", "0.2"):
        assert f"failer failed (error: boom); restarting in {delay}s" in err
    assert proc.returncode == msg.EXIT_FAILURE, "failer never ended cleanly"


def test_together_with_a_bad_table_row_says_one_line(demo: Path, started: Start) -> None:
    proc = started(demo, "together", "--message=--bad")  # passed on to probe's parser
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == msg.EXIT_FAILURE
    row = msg.GROUP_BAD_FLAGS.format(server="probe",
                                     error="argument --message: expected one argument")
    assert err == msg.SERVER_ERROR.format(prog="demo", server="together", error=row) + "\n"


def test_parent_restarts_a_killed_child_rotates_its_log_and_stops_every_group(
        demo: Path, started: Start, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    proc = started(demo, "parent", "--log-dir", logs, "--max-log-size", "10",
                   "--max-log-backups", "3", "--restart-delay", "0.5", "--kill-grace", "2")
    until(lambda: "ready\n" in _read(logs / "sleeper.log") and "ready" in _all(logs, "together"),
          "both children ready", WAIT, POLL)
    first = procfs.children(proc.pid)
    assert sorted(first.values()) == ["sleeper", "together"]
    for pid in first:
        assert (procfs.stat(pid) or [])[2:3] == [str(pid)], "each child leads its own process group"
    sleeper = next(pid for pid, name in first.items() if name == "sleeper")

    os.kill(sleeper, signal.SIGKILL)
    killed_at = time.monotonic()
    until(lambda: any(n == "sleeper" and p != sleeper
                      for p, n in procfs.children(proc.pid).items()),
          "the sleeper restarted", WAIT, POLL)
    assert time.monotonic() - killed_at >= 0.5, "restarted after the delay"
    until(lambda: list(logs.glob("sleeper-*.log"))
          and "ready\n" in _read(logs / "sleeper.log"),
          "the sleeper's log rotated, and it ready again", WAIT, POLL)
    backups = sorted(logs.glob("sleeper-*.log"))
    assert [b.read_text() for b in backups] == ["ready\n"], "the first run's log was rotated"
    assert len(list(logs.glob("together-*.log"))) == 3, "old backups removed by count"

    every = {**first, **procfs.children(proc.pid)}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, err
    assert "sleeper exited (code -9); restarting in 0.5s" in err
    assert not [pid for pid in every if procfs.alive(pid)]
    assert all(_group_gone(pid) for pid in every), "no process left in any child's group"
    assert _read(logs / "sleeper.log").endswith("stopped\n")


def test_a_parent_killed_outright_takes_its_children_with_it(
        demo: Path, started: Start, tmp_path: Path) -> None:
    proc = started(demo, "parent", "--log-dir", tmp_path)
    until(lambda: len(procfs.children(proc.pid)) == 2
          and "ready" in _read(tmp_path / "sleeper.log"),
          "both children ready", WAIT, POLL)
    kids = list(procfs.children(proc.pid))
    proc.kill()  # SIGKILL: no chance to stop them; the parent-death signal does
    proc.communicate(timeout=RUN_TIMEOUT)
    try:
        until(lambda: not [pid for pid in kids if procfs.alive(pid)],
              "the children to die with their parent", 10, POLL)
    finally:
        for pid in kids:  # ours, if the test failed: orphans of the parent it started
            if procfs.alive(pid):
                os.kill(pid, signal.SIGKILL)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _all(folder: Path, name: str) -> str:
    """Everything `name` logged, its backups and current file together, oldest first (a
    backup pruned while this reads counts as empty)."""
    files = sorted(folder.glob(f"{name}-*.log"), key=_mtime)
    return "".join(_read(p) for p in [*files, folder / f"{name}.log"])


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0
