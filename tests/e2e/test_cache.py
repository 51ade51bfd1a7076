"""The extraction cache of a built archive: empty, unusable, raced, pruned."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import RUN_TIMEOUT, run


def build_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("demo_*") if p.is_dir())


def test_first_run_on_an_empty_cache_extracts_once(demo: Path, env: dict[str, str]) -> None:
    root = Path(env["DEMO_CACHE_DIR"])
    assert run([demo, "probe"], env).code == 0
    assert run([demo, "probe"], env).code == 0
    [build] = build_dirs(root)
    assert (build / "site-packages" / "aiohttp").is_dir()
    assert (root / "CACHEDIR.TAG").is_file()
    assert not list(root.glob(".*.tmp-*"))


def test_unusable_cache_root_falls_back_with_one_warning(demo: Path, env: dict[str, str],
                                                         tmp_path: Path) -> None:
    env["DEMO_CACHE_DIR"] = "/proc/km-cache-test"  # nobody, not even root, can write here
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    r = run([demo, "probe"], env)
    assert r.code == 0, r.err
    assert r.err.count("\n") == 1
    assert r.err.startswith("demo: warning: cache directory /proc/km-cache-test is not usable")
    assert build_dirs(tmp_path / "xdg" / "demo")


def test_missing_home_falls_back_to_temp(demo: Path, env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    for var in ("DEMO_CACHE_DIR", "KM_CACHE_DIR"):
        env.pop(var)
    env["HOME"] = str(blocker / "home")
    r = run([demo, "probe"], env)
    assert r.code == 0, r.err
    assert "warning" in r.err and "Traceback" not in r.err
    assert build_dirs(tmp_path / f"demo-cache-{os.getuid()}")


def test_eight_concurrent_first_runs_all_succeed(demo: Path, env: dict[str, str]) -> None:
    procs = [subprocess.Popen([demo, "probe"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [(p.wait(timeout=RUN_TIMEOUT), p.communicate()) for p in procs]
    assert [code for code, _ in results] == [0] * 8, results
    assert len(build_dirs(Path(env["DEMO_CACHE_DIR"]))) == 1


def test_old_unused_builds_are_pruned_when_a_new_one_extracts(demo: Path,
                                                              env: dict[str, str]) -> None:
    root = Path(env["DEMO_CACHE_DIR"])
    old = root / "demo_0123456789abcdef0123"
    (old / "site-packages").mkdir(parents=True)
    recent = root / "demo_fedcba98765432100000"
    (recent / "site-packages").mkdir(parents=True)
    for build in (old, recent):
        (root / f".{build.name}.lock").touch()
    long_ago = time.time() - 30 * 24 * 3600
    os.utime(root / f".{old.name}.lock", (long_ago, long_ago))
    assert run([demo, "probe"], env).code == 0
    assert not old.exists() and not (root / f".{old.name}.lock").exists()
    assert recent.exists(), "a build used lately is kept"
    assert len(build_dirs(root)) == 2
