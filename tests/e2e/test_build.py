"""The artifact itself: layout, checksum, reproducibility, man pages, start-up imports."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, build, run

THIRD_PARTY = ("aiohttp", "yarl", "multidict", "yaml", "shtab")


PYTHONS = ("cp310", "cp311", "cp312", "cp313")


def test_archive_top_level_is_exactly_ours(km: Path) -> None:
    with zipfile.ZipFile(km) as zf:
        top = {name.split("/")[0] for name in zf.namelist()}
    assert top == {"__main__.py", "_hyperkube_stamp.py", "environment.json", "hyperkube",
                   "servers", "shtab", "site-packages.zip",
                   *PYTHONS, *(f"site-packages-{tag}.zip" for tag in PYTHONS)}
    assert km.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def test_each_python_has_byte_code_for_every_module_and_its_own_speedups(km: Path) -> None:
    with zipfile.ZipFile(km) as zf:
        names = set(zf.namelist())
        sources = {n for n in names if n.endswith(".py") and n != "__main__.py"}
        for tag in PYTHONS:
            assert {f"{tag}/{n}c" for n in sources} == {n for n in names
                                                        if n.startswith(f"{tag}/")}
            with zf.open(f"site-packages-{tag}.zip") as member, zipfile.ZipFile(member) as deps:
                own = deps.namelist()
            abi = f".cpython-{tag[2:]}-"
            assert {n.split("/")[0] for n in own if abi in n and n.endswith(".so")} >= {
                "aiohttp", "multidict", "yarl", "frozenlist", "propcache", "orjson"}
            assert not [n for n in own if n.endswith(".so") and abi not in n]
            assert any(n.endswith(f".cpython-{tag[2:]}.pyc") for n in own)
        with zf.open("site-packages.zip") as member, zipfile.ZipFile(member) as deps:
            shared = deps.namelist()
    assert [n for n in shared if n.endswith(".so")] == [
        "cryptography/hazmat/bindings/_rust.abi3.so"], "abi3 extensions are stored once"
    assert not [n for n in shared if n.endswith(".pyc")]
    assert "async_timeout/__init__.py" in shared, "resolved for 3.10, markers included"
    assert km.stat().st_size <= 25 * 1000 * 1000


def test_checksum_file_matches(km_dist: Path) -> None:
    digest = hashlib.sha256((km_dist / "km.pyz").read_bytes()).hexdigest()
    assert (km_dist / "km.pyz.sha256").read_text() == f"{digest}  km.pyz\n"


def test_two_builds_are_byte_identical(km_dist: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again", "--fresh-deps")
    for rel in ("km.pyz", "km.pyz.sha256", "man/km.1", "completion/km.bash", "completion/_km"):
        assert (again / rel).read_bytes() == (km_dist / rel).read_bytes(), rel


def test_man_pages_render_without_warnings(km_dist: Path, demo_dist: Path) -> None:
    pages = sorted((km_dist / "man").glob("*.1")) + sorted((demo_dist / "man").glob("*.1"))
    names = {p.name for p in pages}
    assert {"km.1", "demo.1", "demo-probe.1", "demo-sleeper.1", "demo-failer.1"} <= names
    for page in pages:
        done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                              capture_output=True, text=True, timeout=30)
        assert (done.returncode, done.stderr) == (0, ""), page
    text = subprocess.run(["groff", "-man", "-Tascii", str(demo_dist / "man" / "demo-probe.1")],
                          capture_output=True, text=True, timeout=30).stdout
    assert "--message" in text.replace("\b", "").replace("-\b-", "-") or "message" in text


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["--list"], ["probe", "--help"]])
def test_light_paths_import_no_third_party_package(demo: Path, env: dict[str, str],
                                                   argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", str(demo), *argv], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "hyperkube.hyperkube" in modules
    assert {m for m in modules if m.split(".")[0] in THIRD_PARTY} == set()
    assert "demo_servers.app" not in modules
    assert {"asyncio", "logging"}.isdisjoint(modules), "help paths must not start the runtime"


def test_km_server_help_imports_nothing_heavy(km: Path, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", str(km), "apiserver", "--help"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--storage-backend" in done.stdout
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "servers.apiserver.options" in modules
    assert {m for m in modules if m.split(".")[0] in (*THIRD_PARTY, "orjson")} == set()
    assert not [m for m in modules if m.endswith(".app") or ".storage." in m]


def test_portable_build_carries_no_compiled_module(tmp_path: Path, env: dict[str, str]) -> None:
    out = build(tmp_path / "portable", "--portable", "--name", "demo", "--entry",
                "demo_servers:main", "--package", str(ROOT / "hyperkube"),
                "--package", str(ROOT / "tests" / "e2e" / "demo_servers"))
    pyz = out / "demo.pyz"
    compiled = []
    with zipfile.ZipFile(pyz) as zf:
        for name in (n for n in zf.namelist() if n.startswith("site-packages")):
            with zf.open(name) as member, zipfile.ZipFile(member) as deps:
                compiled += [n for n in deps.namelist() if n.endswith((".so", ".pyd"))]
    assert compiled == []
    r = run([pyz, "probe"], env)
    assert r.code == 0, r.err


def test_make_install_puts_km_links_man_pages_and_completion(km_dist: Path, tmp_path: Path,
                                                             env: dict[str, str]) -> None:
    prefix = tmp_path / "prefix"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "install",
                           f"PREFIX={prefix}", f"DIST={km_dist}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    km = prefix / "bin" / "km"
    assert run([km, "--version"], env).out.startswith("km ")
    servers = run([km, "--list-full"], env).out.split()
    for name in servers:
        assert (prefix / "bin" / name).resolve() == km.resolve()
    assert (prefix / "share" / "man" / "man1" / "km.1").is_file()
    assert (prefix / "share" / "bash-completion" / "completions" / "km").is_file()
    assert (prefix / "share" / "zsh" / "site-functions" / "_km").is_file()
