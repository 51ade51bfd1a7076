"""The dispatcher's command line on the built archives, row by row (km.pyz and demo.pyz).

km registers only servers that really work, so the rows that need servers run on demo.pyz,
built from a test HyperKube with the same build code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hyperkube import messages as msg
from tests.e2e.conftest import RUN_TIMEOUT, run

VERSION = re.compile(r"^(km|demo) \S+ \(commit [0-9a-f]{7,}(-dirty)?, built "
                     r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, python 3\.\d+\.\d+, "
                     r"speedups (on: cp3\d+|off: .+)\)$")


def test_no_arguments(km: Path, env: dict[str, str]) -> None:
    r = run([km], env)
    assert r.code == msg.EXIT_USAGE
    assert r.err.startswith(f"km: {msg.NO_SERVER}\nusage: km SERVER")
    assert r.out == ""


@pytest.mark.parametrize("word", ["-h", "--help", "help"])
def test_help(km: Path, env: dict[str, str], word: str) -> None:
    r = run([km, word], env)
    assert r.code == 0
    assert r.out.startswith("km holds every server")
    assert "servers:" in r.out


@pytest.mark.parametrize("word", ["--version", "version"])
def test_version(km: Path, env: dict[str, str], word: str) -> None:
    r = run([km, word], env)
    assert r.code == 0
    assert VERSION.match(r.out.strip()), r.out


def test_python_km_pyz_is_the_dispatcher_too(km: Path, env: dict[str, str]) -> None:
    r = run([sys.executable, km, "--version"], env)
    assert (r.code, r.out.split()[0]) == (0, "km")


@pytest.mark.parametrize("word", ["--list", "--list-full"])
def test_list_on_km(km: Path, env: dict[str, str], word: str) -> None:
    r = run([km, word], env)
    assert r.code == 0
    assert r.err == ""


def test_list_and_list_full(demo: Path, env: dict[str, str]) -> None:
    assert run([demo, "--list"], env).out == "probe\nsleeper\nfailer\ntogether\nparent\n"
    full = run([demo, "--list-full"], env)
    assert full.out == ("probe\tdemo-probe\nsleeper\tdemo-sleeper\nfailer\ntogether\n"
                        "parent\n")


def test_unknown_server(km: Path, demo: Path, env: dict[str, str]) -> None:
    r = run([km, "frobnicate"], env)
    assert r.code == msg.EXIT_USAGE
    assert f"km: {msg.UNKNOWN_SERVER.format(name='frobnicate')}" in r.err
    assert msg.RUN_HELP.format(prog="km") in r.err
    close = run([demo, "prob"], env)
    assert close.code == msg.EXIT_USAGE
    assert msg.DID_YOU_MEAN.format(name="probe") in close.err


@pytest.mark.parametrize("argv", [["help", "probe"], ["probe", "-h"], ["probe", "--help"]])
def test_server_help(demo: Path, env: dict[str, str], argv: list[str]) -> None:
    r = run([demo, *argv], env)
    assert r.code == 0
    assert "probe imports aiohttp and yaml" in r.out
    for flag in ("--message", "--v", "--log-format"):
        assert flag in r.out
    assert not (Path(env["DEMO_CACHE_DIR"])).exists(), "help must not extract the bundle"


def test_server_runs_from_the_bundle(demo: Path, env: dict[str, str]) -> None:
    r = run([demo, "probe", "--message", "hi"], env)
    assert r.code == 0, r.err
    word, aiohttp_file, yaml_file = r.out.split()
    assert word == "hi"
    assert aiohttp_file.startswith(env["DEMO_CACHE_DIR"])
    assert yaml_file.startswith(env["DEMO_CACHE_DIR"])


def test_bad_server_flag(demo: Path, env: dict[str, str]) -> None:
    r = run([demo, "probe", "--no-such-flag"], env)
    assert r.code == msg.EXIT_USAGE
    assert "unrecognized arguments: --no-such-flag" in r.err


def test_failing_server_says_one_line(demo: Path, env: dict[str, str]) -> None:
    r = run([demo, "failer"], env)
    assert r.code == msg.EXIT_FAILURE
    assert r.err == msg.SERVER_ERROR.format(prog="demo", server="failer", error="boom") + "\n"
    verbose = run([demo, "failer", "-v", "4"], env)
    assert "Traceback" in verbose.err


@pytest.mark.parametrize(("argv", "flag"), [
    (["kubelet", "--isolation", "none", "--master", "http://127.0.0.1:1"], "--root-dir"),
    (["all-in-one", "--secure-port", "0"], "--data-dir"),
    (["minion", "--server", "https://127.0.0.1:1", "--token", "abcdef.0123456789abcdef"],
     "--root-dir"),
    (["certs"], "--dir"),
])
def test_a_folder_flag_naming_a_file_is_one_line(km: Path, env: dict[str, str],
                                                 tmp_path: Path, argv: list[str],
                                                 flag: str) -> None:
    (tmp_path / "file").write_text("not a folder")
    r = run([km, *argv, flag, tmp_path / "file"], env)
    assert r.code == msg.EXIT_FAILURE
    assert r.err.splitlines()[-1] == msg.SERVER_ERROR.format(
        prog="km", server=argv[0], error=f"cannot use {flag} {tmp_path / 'file'}: not a directory")
    assert "Traceback" not in r.err


@pytest.mark.parametrize(("flags", "error"), [
    (["--pod-cidr", "bogus"], '--pod-cidr: invalid CIDR "bogus"'),
    (["--client-ca-file", "/nonexistent/ca.crt"],
     "--client-ca-file /nonexistent/ca.crt: No such file or directory"),
])
def test_a_kubelet_flag_is_checked_before_the_apiserver_is_waited_for(
        km: Path, env: dict[str, str], tmp_path: Path, flags: list[str], error: str) -> None:
    r = run([km, "kubelet", "--master", "http://127.0.0.1:1", "--isolation", "none",
             "--root-dir", tmp_path, *flags], env)
    assert r.code == msg.EXIT_FAILURE
    assert r.err == msg.SERVER_ERROR.format(prog="km", server="kubelet", error=error) + "\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_a_server_cleanly(demo: Path, env: dict[str, str], sig: int) -> None:
    proc = subprocess.Popen([demo, "sleeper"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "stopped\n"


@pytest.mark.parametrize("link", ["demo-probe", "probe", "-probe", "probe.pyz"])
def test_link_named_after_a_server(demo: Path, env: dict[str, str], tmp_path: Path,
                                   link: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / link).symlink_to(demo)
    r = run([f"./bin/{link}", "--message", "via-link"], env, cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.out.startswith("via-link ")


def test_link_with_unknown_name(km: Path, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "kube-frobber").symlink_to(km)
    r = run([tmp_path / "kube-frobber"], env)
    assert r.code == msg.EXIT_NOT_FOUND
    assert msg.SERVER_NOT_FOUND.format(name="kube-frobber") in r.err


def test_make_symlinks_then_run_through_one(demo: Path, env: dict[str, str],
                                            tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sleeper").write_text("mine")
    r = run([demo, "--make-symlinks", bindir], env)
    assert r.code == msg.EXIT_FAILURE
    assert "left" in r.err and (bindir / "sleeper").read_text() == "mine"
    for name in ("probe", "demo-probe", "demo-sleeper", "failer"):
        assert os.readlink(bindir / name) == str(demo.resolve())
    again = run([demo, "--make-symlinks", bindir, "--force"], env)
    assert again.code == 0, again.err
    assert os.readlink(bindir / "sleeper") == str(demo.resolve())
    assert run([bindir / "demo-probe"], env).out.startswith("hello ")


def test_make_symlinks_defaults_to_the_archive_folder(demo: Path, env: dict[str, str],
                                                      tmp_path: Path) -> None:
    copy = tmp_path / "demo.pyz"
    copy.write_bytes(demo.read_bytes())
    copy.chmod(0o755)
    assert run([copy, "--make-symlinks"], env).code == 0
    assert os.readlink(tmp_path / "probe") == str(copy)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion(demo: Path, env: dict[str, str], shell: str) -> None:
    r = run([demo, "completion", shell], env)
    assert r.code == 0
    for word in ("probe", "demo-sleeper", "--message", "--log-format"):
        assert word in r.out
    if shell == "bash":
        assert subprocess.run(["bash", "-n"], input=r.out, text=True).returncode == 0


def test_bash_completion_completes_servers(demo: Path, env: dict[str, str]) -> None:
    script = run([demo, "completion", "bash"], env).out
    probe = script + (
        'COMP_WORDS=(demo pro); COMP_CWORD=1; COMP_LINE="demo pro"; COMP_POINT=8\n'
        "_shtab_demo; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert "probe" in done.stdout.split()
