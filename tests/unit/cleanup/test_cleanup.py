"""km cleanup's pieces on this host without root: the node record, finding and stopping a
recorded server (by pid and start time) with its children's process groups, the flags."""

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

from servers.cleanup import app, options, processes, record
from tests.support import procfs

# A "server" that starts two children in sessions of their own (as the minion's), one of
# which ignores SIGTERM, and stops on SIGTERM itself without stopping them.
# Each child says "ready" once its signal disposition is set, so SIGTERM never beats it.
SERVER = """
import signal, subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                         stdout=subprocess.PIPE, text=True)
        for code in ("import time; print('ready', flush=True); time.sleep(60)",
                     "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                     "print('ready', flush=True); time.sleep(60)")]
assert all(k.stdout.readline() == "ready\\n" for k in kids)
print(" ".join(str(k.pid) for k in kids), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(60)
"""


def test_a_record_round_trips_and_names_this_process(tmp_path: Path) -> None:
    rec = record.for_this_process("n1", "none", "rel/kubelet", cluster_cidr="10.244.0.0/16")
    record.write(tmp_path / "root", rec)
    assert record.read(tmp_path / "root") == rec
    assert rec.pid == os.getpid() and rec.start == record.start_time(os.getpid()) > 0
    assert rec.kubelet_root == os.path.abspath("rel/kubelet")
    assert processes.running(rec)
    assert not processes.running(record.NodeRecord("n1", "none", "/x", pid=rec.pid,
                                                   start=rec.start + 1)), "a reused pid"
    assert record.read(tmp_path / "nothing") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / record.FILE).write_text("{not json")
    assert record.read(tmp_path / "bad") is None


def test_stop_ends_the_server_and_its_childrens_groups() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        kids = [int(p) for p in server.stdout.readline().split()]
        rec = record.NodeRecord("n1", "none", "/x", pid=server.pid,
                                start=record.start_time(server.pid))
        assert sorted(processes.children(server.pid)) == sorted(kids)
        began = time.monotonic()
        killed = processes.stop(rec, grace=5, group_grace=2)
        assert server.wait(5) == 0, "it stopped on SIGTERM"
        assert killed == [f"process group {kids[1]}"], "only the one ignoring SIGTERM"
        assert not [k for k in kids if procfs.alive(k)]
        assert time.monotonic() - began < 10
    finally:
        if procfs.alive(server.pid):
            os.kill(server.pid, signal.SIGKILL)
        server.wait(5)
        if server.stdout is not None:
            server.stdout.close()


def test_no_record_and_nothing_found_is_a_clean_exit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def nothing(*_: object) -> list[object]:
        return []

    monkeypatch.setattr(app, "plan_sweep", nothing)  # this host's own links are not ours
    opts = argparse.Namespace(dir=[str(tmp_path)], dry_run=False, grace=1.0)
    assert asyncio.run(app.run(opts, asyncio.Event())) == 0
    assert capsys.readouterr().out == "nothing of km's found\n"


def test_the_default_folders_are_the_minions_and_the_all_in_ones() -> None:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    assert options.dirs(parser.parse_args([])) == ["/var/lib/km/minion", "./km-data"]
    assert options.dirs(parser.parse_args(["--dir", "a", "--dir", "b"])) == ["a", "b"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--grace", "-1"])


def test_a_namespaces_node_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record.write(tmp_path, record.NodeRecord("n1", "namespaces", str(tmp_path / "kubelet")))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    opts = argparse.Namespace(dir=[str(tmp_path)], dry_run=True, grace=1.0)
    with pytest.raises(app.CleanupError, match=app.NEEDS_ROOT):
        asyncio.run(app.run(opts, asyncio.Event()))
