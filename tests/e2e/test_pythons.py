"""One km.pyz under every CPython it claims (3.10 to 3.13), found on this machine.

The interpreters are looked for as build.py looks for them (pyenv's versions, python3.X on the
PATH); the session's output says which were found and which were missing, and a missing one
is reported, not failed. Each is started only a few times: the light paths, the apiserver
answering kubectl (run through the archive's own `#!/usr/bin/env python3`, with `python3` on
the PATH naming that interpreter), and km certs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import build_deps
from hyperkube import messages as msg
from tests.e2e.conftest import DEMO, ROOT, RUN_TIMEOUT, run
from tests.support.apiserver import start_apiserver

SUPPORTED = [(3, minor) for minor in range(10, build_deps.NEWEST_PYTHON[1] + 1)]
TOO_OLD = [(3, 9)]


def find(versions: list[tuple[int, int]]) -> dict[tuple[int, int], str | None]:
    return {v: build_deps.find_python(v, None)[0] for v in versions}


PYTHONS = find(SUPPORTED)
FOUND = {v: p for v, p in PYTHONS.items() if p}
OLD = {v: p for v, p in find(TOO_OLD).items() if p}


def dotted(version: tuple[int, int]) -> str:
    return "{}.{}".format(*version)


@pytest.fixture(scope="module", autouse=True)
def _say_which_pythons(request: pytest.FixtureRequest) -> None:
    """One line in the session's output: which CPythons these tests run km.pyz under."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    found = ", ".join(f"{dotted(v)} ({p})" for v, p in FOUND.items()) or "none"
    missing = ", ".join(dotted(v) for v, p in PYTHONS.items() if not p) or "none"
    line = f"km.pyz under CPython: found {found}; missing {missing}"
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


def shim_env(env: dict[str, str], python: str, where: Path) -> dict[str, str]:
    """`env` with a `python3` first on the PATH that is `python` (the shebang then runs it)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "python3").symlink_to(python)
    return {**env, "PATH": f"{where}{os.pathsep}{env.get('PATH', '')}"}


@pytest.mark.parametrize("version", list(FOUND), ids=dotted)
def test_version_and_help_under_each_python(km: Path, env: dict[str, str],
                                            version: tuple[int, int]) -> None:
    python = FOUND[version]
    r = run([python, km, "--version"], env)
    assert (r.code, r.err) == (0, "")
    tag = "cp{}{}".format(*version)
    assert f", python {dotted(version)}." in r.out
    assert r.out.rstrip().endswith(f"{msg.SPEEDUPS_ON.format(tag=tag)})"), r.out
    r = run([python, km, "--help"], env)
    assert (r.code, r.err) == (0, "")
    assert r.out.startswith("km holds every server")


@pytest.mark.parametrize("version", list(FOUND), ids=dotted)
def test_apiserver_answers_kubectl_and_certs_work_under_each_python(
        km: Path, env: dict[str, str], tmp_path: Path, version: tuple[int, int]) -> None:
    python = FOUND[version]
    env = shim_env(env, python, tmp_path / "bin")
    with start_apiserver(tmp_path / "data", km=km, env=env) as api:
        kubectl = ["kubectl", "--server", api.url, "--cache-dir", str(tmp_path / "kube")]
        for args in (["create", "namespace", "py"], ["get", "namespace", "py", "-o", "name"]):
            done = subprocess.run([*kubectl, *args], capture_output=True, text=True,
                                  timeout=RUN_TIMEOUT)
            assert done.returncode == 0, done.stderr
        assert done.stdout == "namespace/py\n"
    [site] = Path(env["KM_CACHE_DIR"]).glob("km_*_cp{}{}".format(*version))
    r = run([km, "certs", "--dir", tmp_path / "pki", "--server", "https://127.0.0.1:6443"], env)
    assert r.code == 0, r.err
    assert (tmp_path / "pki" / "admin.kubeconfig").is_file()
    assert len(list(Path(env["KM_CACHE_DIR"]).glob("km_*"))) == 1, "one extraction per Python"
    assert (site / "site-packages" / "aiohttp").is_dir()


@pytest.mark.parametrize("version", list(OLD), ids=dotted)
def test_a_too_old_python_gets_one_line_and_exit_1(km: Path, env: dict[str, str],
                                                   version: tuple[int, int]) -> None:
    python = OLD[version]
    full = build_deps.python_version_of(python)
    r = run([python, km, "apiserver", "--help"], env)
    assert r.code == 1
    assert r.err == msg.PROG_ERROR.format(prog="km", error=msg.PYTHON_TOO_OLD.format(
        python=full, floor=dotted(SUPPORTED[0]))) + "\n"


def test_first_runs_of_every_python_at_once_share_one_cache(demo: Path,
                                                            env: dict[str, str]) -> None:
    procs = {v: subprocess.Popen([p, demo, "probe"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for v, p in FOUND.items()}
    results = {v: (p.wait(timeout=RUN_TIMEOUT), *p.communicate()) for v, p in procs.items()}
    root = Path(env["DEMO_CACHE_DIR"])
    for version, (code, out, err) in results.items():
        tag = "cp{}{}".format(*version)
        assert (code, err) == (0, ""), (version, err)
        assert f"_{tag}/site-packages/aiohttp/" in out
    assert len([p for p in root.glob("demo_*") if p.is_dir()]) == len(FOUND)


@pytest.fixture(scope="module")
def demo_for_another(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """demo.pyz with speedups for one CPython only, not the one running these tests."""
    other = next(v for v in SUPPORTED if v != sys.version_info[:2])
    tag = "cp{}{}".format(*other)
    out = tmp_path_factory.mktemp("demo-other")
    done = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--out", str(out), "--name", "demo",
         "--entry", "demo_servers:main", "--package", str(ROOT / "hyperkube"),
         "--package", str(DEMO), "--python", dotted(other),
         "--requirement", "aiohttp>=3.9", "--requirement", "PyYAML>=6.0"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out / "demo.pyz", tag


def test_a_python_the_build_has_no_speedups_for_runs_pure_and_says_so(
        demo_for_another: tuple[Path, str], env: dict[str, str]) -> None:
    demo, tag = demo_for_another
    python = sys.executable
    r = run([python, demo, "--version"], env)
    assert r.out.rstrip().endswith(msg.SPEEDUPS_MISSING.format(tags=tag) + ")"), r.out
    r = run([python, demo, "probe"], env)
    assert r.code == 0, r.err
    assert r.err == msg.PROG_WARNING.format(prog="demo", warning=msg.NO_SPEEDUPS.format(
        python=build_deps.python_version_of(python), tags=tag)) + "\n"
    [site] = Path(env["DEMO_CACHE_DIR"]).glob("demo_*/site-packages")
    assert f"{site}/aiohttp/" in r.out
    assert not list(site.rglob("*.so")), "another CPython's extensions stay in the archive"
