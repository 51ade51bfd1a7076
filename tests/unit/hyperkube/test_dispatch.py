"""The dispatcher's command line, row by row, in-process with fake servers (R17)."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pytest

from hyperkube import HyperKube, Server, program_name
from hyperkube import messages as msg
from tests.unit.hyperkube import fake_servers

FAKE = "tests.unit.hyperkube.fake_servers"


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--code", type=int, default=0, help="exit code to return")
    parser.add_argument("--port", type=int, default=8080, help="a port to listen on")


class Run:
    def __init__(self, hk: HyperKube, argv: list[str]) -> None:
        out, err = io.StringIO(), io.StringIO()
        hk._out, hk._err = out, err
        self.code = hk.run(argv)
        self.out, self.err = out.getvalue(), err.getvalue()


@pytest.fixture
def hk() -> HyperKube:
    fake_servers.RAN.clear()
    hk = HyperKube("km", "km runs a small cluster.", short="a small cluster")
    hk.add_server(Server("scheduler", run=f"{FAKE}:record", usage="assign pods to nodes",
                         long="The scheduler assigns pods to nodes.",
                         aliases=("kube-scheduler",), add_flags=_flags))
    hk.add_server(Server("apiserver", run=f"{FAKE}:record", usage="serve the API",
                         aliases=("kube-apiserver",), add_flags=_flags))
    hk.add_server(Server("crasher", run=f"{FAKE}:boom", usage="fail"))
    hk.add_server(Server("waiter", run=f"{FAKE}:until_signal", usage="wait for a signal"))
    return hk


def run(hk: HyperKube, *argv: str) -> Run:
    return Run(hk, list(argv))


def test_no_server_prints_usage_and_exits_2(hk: HyperKube) -> None:
    r = run(hk, "km")
    assert r.code == msg.EXIT_USAGE
    assert f"km: {msg.NO_SERVER}" in r.err
    assert "usage: km SERVER" in r.err
    assert r.out == ""


@pytest.mark.parametrize("word", ["-h", "--help", "help"])
def test_help_lists_every_server_with_its_usage(hk: HyperKube, word: str) -> None:
    r = run(hk, "km", word)
    assert r.code == 0
    assert r.out.startswith("km runs a small cluster.")
    for name, usage in [("scheduler", "assign pods to nodes"), ("apiserver", "serve the API")]:
        assert any(name in line and usage in line for line in r.out.splitlines())
    assert "kube-scheduler" in r.out


@pytest.mark.parametrize("argv", [
    ["km", "help", "scheduler"], ["km", "scheduler", "-h"], ["km", "scheduler", "--help"],
    ["km", "--help", "kube-scheduler"],
])
def test_server_help_shows_long_text_and_all_flags(hk: HyperKube, argv: list[str]) -> None:
    r = run(hk, *argv)
    assert r.code == 0
    assert "The scheduler assigns pods to nodes." in r.out
    for flag in ("--code", "--port", "--v", "--log-format"):
        assert flag in r.out
    assert fake_servers.RAN == []


def test_list_prints_one_name_a_line(hk: HyperKube) -> None:
    r = run(hk, "km", "--list")
    assert (r.code, r.out) == (0, "scheduler\napiserver\ncrasher\nwaiter\n")


def test_list_full_adds_aliases(hk: HyperKube) -> None:
    r = run(hk, "km", "--list-full")
    assert r.code == 0
    assert "scheduler\tkube-scheduler\n" in r.out
    assert "crasher\n" in r.out


@pytest.mark.parametrize("word", ["--version", "version"])
def test_version_line(hk: HyperKube, word: str) -> None:
    r = run(hk, "km", word)
    assert r.code == 0
    assert r.out.startswith("km ")
    assert "(commit " in r.out and ", built " in r.out and ", python 3." in r.out


def test_server_runs_with_its_flags_and_exit_code(hk: HyperKube) -> None:
    r = run(hk, "km", "scheduler", "--port", "9", "--code", "7")
    assert r.code == 7
    assert fake_servers.RAN[0].port == 9


@pytest.mark.parametrize("argv0", [
    "kube-scheduler", "./bin/scheduler", "/usr/local/bin/kube-scheduler", "-kube-scheduler",
    "scheduler.pyz",
])
def test_link_named_after_a_server_runs_it(hk: HyperKube, argv0: str) -> None:
    r = run(hk, argv0, "--port", "5")
    assert r.code == 0, r.err
    assert fake_servers.RAN[0].port == 5


@pytest.mark.parametrize("argv0", ["km", "km.pyz", "/opt/km-1.2.pyz", "./km", "kmctl"])
def test_names_starting_with_km_are_the_dispatcher(hk: HyperKube, argv0: str) -> None:
    r = run(hk, argv0, "--list")
    assert r.code == 0
    assert "scheduler" in r.out


def test_link_with_unknown_name_exits_127(hk: HyperKube) -> None:
    r = run(hk, "/usr/bin/kube-frobber", "--x")
    assert r.code == msg.EXIT_NOT_FOUND
    assert msg.SERVER_NOT_FOUND.format(name="kube-frobber") in r.err
    assert "scheduler, apiserver" in r.err


def test_unknown_server_suggests_close_name(hk: HyperKube) -> None:
    r = run(hk, "km", "schedulr")
    assert r.code == msg.EXIT_USAGE
    assert f"km: {msg.UNKNOWN_SERVER.format(name='schedulr')}" in r.err
    assert msg.DID_YOU_MEAN.format(name="scheduler") in r.err
    assert msg.RUN_HELP.format(prog="km") in r.err


def test_unknown_server_far_from_any_says_no_suggestion(hk: HyperKube) -> None:
    r = run(hk, "km", "zzzzzz")
    assert r.code == msg.EXIT_USAGE
    assert "did you mean" not in r.err


def test_unknown_dispatcher_option_is_a_usage_error(hk: HyperKube) -> None:
    r = run(hk, "km", "--frob")
    assert r.code == msg.EXIT_USAGE
    assert msg.UNKNOWN_OPTION.format(option="--frob") in r.err


def test_bad_server_flag_is_argparse_error(hk: HyperKube) -> None:
    r = run(hk, "km", "scheduler", "--no-such-flag")
    assert r.code == msg.EXIT_USAGE
    assert "unrecognized arguments: --no-such-flag" in r.err
    assert "usage: km scheduler" in r.err
    assert fake_servers.RAN == []


def test_failing_server_prints_one_line_and_exits_1(hk: HyperKube) -> None:
    r = run(hk, "km", "crasher")
    assert r.code == msg.EXIT_FAILURE
    assert r.err.strip() == msg.SERVER_ERROR.format(prog="km", server="crasher", error="it broke")


def test_failing_server_at_v4_logs_the_traceback(hk: HyperKube) -> None:
    r = run(hk, "km", "crasher", "-v", "4")
    assert r.code == msg.EXIT_FAILURE
    assert "Traceback" in r.err and "RuntimeError: it broke" in r.err


def test_sigterm_stops_the_server_cleanly(hk: HyperKube) -> None:
    r = run(hk, "km", "waiter")
    assert r.code == 0
    assert len(fake_servers.RAN) == 1


def test_registration_has_no_side_effects() -> None:
    hk = HyperKube("km")
    hk.add_server(Server("x", run="no.such.module:run", usage="never imported"))
    assert run(hk, "km", "--list").out == "x\n"


def test_duplicate_names_are_refused(hk: HyperKube) -> None:
    with pytest.raises(ValueError, match="kube-scheduler"):
        hk.add_server(Server("other", run=f"{FAKE}:record", usage="u",
                             aliases=("kube-scheduler",)))


def test_program_name_strips_dash_path_and_pyz() -> None:
    assert program_name("-/x/y/kube-proxy.pyz") == "kube-proxy"
    assert program_name("km") == "km"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_covers_servers_and_flags(hk: HyperKube, shell: str) -> None:
    r = run(hk, "km", "completion", shell)
    assert r.code == 0
    for word in ("scheduler", "kube-apiserver", "--port", "--log-format"):
        assert word in r.out


def test_completion_unknown_shell(hk: HyperKube) -> None:
    r = run(hk, "km", "completion", "fish")
    assert r.code == msg.EXIT_USAGE
    assert 'unknown shell "fish"' in r.err


def test_completion_needs_a_shell(hk: HyperKube) -> None:
    assert run(hk, "km", "completion").code == msg.EXIT_USAGE


class TestMakeSymlinks:
    @pytest.fixture
    def exe(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        exe = tmp_path / "km.pyz"
        exe.write_text("#!/bin/sh\n")
        monkeypatch.setattr("sys.argv", [str(exe)])
        return exe

    def test_links_every_name_and_alias_beside_the_program(
            self, hk: HyperKube, exe: Path) -> None:
        r = run(hk, str(exe), "--make-symlinks")
        assert r.code == 0, r.err
        for name in ("scheduler", "kube-scheduler", "apiserver", "kube-apiserver", "crasher"):
            link = exe.parent / name
            assert os.readlink(link) == str(exe)
            assert os.path.isabs(os.readlink(link))

    def test_correct_links_are_kept_and_others_left_alone(
            self, hk: HyperKube, exe: Path, tmp_path: Path) -> None:
        d = tmp_path / "bin"
        d.mkdir()
        (d / "scheduler").write_text("mine")
        (d / "apiserver").symlink_to("/bin/true")
        assert run(hk, str(exe), "--make-symlinks", str(d)).code == msg.EXIT_FAILURE
        again = run(hk, str(exe), "--make-symlinks", str(d))
        assert again.code == msg.EXIT_FAILURE
        assert f"kept {d}/kube-scheduler" in again.out
        assert f"left {d}/scheduler alone" in again.err
        assert f"left {d}/apiserver alone" in again.err
        assert (d / "scheduler").read_text() == "mine"
        assert os.readlink(d / "apiserver") == "/bin/true"

    def test_force_replaces_what_is_in_the_way(
            self, hk: HyperKube, exe: Path, tmp_path: Path) -> None:
        d = tmp_path / "bin"
        d.mkdir()
        (d / "scheduler").write_text("mine")
        (d / "apiserver").symlink_to("/bin/true")
        r = run(hk, str(exe), "--make-symlinks", str(d), "--force")
        assert r.code == 0, r.err
        assert os.readlink(d / "scheduler") == str(exe)
        assert os.readlink(d / "apiserver") == str(exe)

    def test_missing_directory_is_reported(self, hk: HyperKube, exe: Path, tmp_path: Path) -> None:
        r = run(hk, str(exe), "--make-symlinks", str(tmp_path / "nope"))
        assert r.code == msg.EXIT_FAILURE
        assert "could not link" in r.err
