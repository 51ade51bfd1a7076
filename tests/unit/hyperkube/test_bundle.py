"""The extraction cache of built archives: roots, locking, extraction and pruning."""

from __future__ import annotations

import fcntl
import os
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hyperkube import bundle, stamp
from hyperkube import messages as msg

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _release_locks() -> Iterator[None]:
    yield
    release_locks()


def release_locks() -> None:
    """Let go of the shared locks a run keeps for its life, as if that process had ended."""
    while bundle._held_locks:
        os.close(bundle._held_locks.pop())


def inner_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as deps:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name.startswith("bin/") else 0o100644) << 16
            deps.writestr(info, text)
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive shaped like build.py's: shared files, this CPython's, another CPython's."""
    shared = inner_zip(tmp_path / "shared.zip", {"dep/__init__.py": "VALUE = 1\n",
                                                 "bin/tool": "#!/bin/sh\n"})
    mine = inner_zip(tmp_path / "mine.zip", {"dep/_speedup.txt": "mine\n"})
    other = inner_zip(tmp_path / "other.zip", {"dep/_speedup_cp39.txt": "not mine\n"})
    path = tmp_path / "app.pyz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(shared, bundle.SITE_PACKAGES_ZIP, compress_type=zipfile.ZIP_STORED)
        zf.write(mine, bundle.SITE_PACKAGES_TAGGED.format(tag=stamp.python_tag()))
        zf.write(other, bundle.SITE_PACKAGES_TAGGED.format(tag="cp39"))
        zf.writestr("hyperkube/__init__.py", "")
    return path


def test_extracts_site_packages_once_with_modes(archive: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    site = bundle._use_root(archive, root, "km", "km_abc")
    assert (site / "dep" / "__init__.py").read_text() == "VALUE = 1\n"
    assert os.access(site / "bin" / "tool", os.X_OK)
    assert not os.access(site / "dep" / "__init__.py", os.X_OK)
    assert not (root / "km_abc" / "hyperkube").exists()
    assert (root / "CACHEDIR.TAG").read_text() == bundle.CACHEDIR_TAG
    marker = site / "dep" / "marker"
    marker.write_text("x")
    assert bundle._use_root(archive, root, "km", "km_abc") == site
    assert marker.exists(), "a second run must not extract again"


def test_extracts_the_shared_files_and_this_pythons_only(archive: Path, tmp_path: Path) -> None:
    site = bundle._use_root(archive, tmp_path / "cache", "km", "km_abc")
    assert (site / "dep" / "_speedup.txt").read_text() == "mine\n"
    assert not (site / "dep" / "_speedup_cp39.txt").exists()


def test_stale_temporary_folders_are_cleaned(archive: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    (root / ".km_abc.tmp-dead").mkdir(parents=True)
    bundle._use_root(archive, root, "km", "km_abc")
    assert not (root / ".km_abc.tmp-dead").exists()


def test_roots_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KM_CACHE_DIR", "/a")
    monkeypatch.setenv("SHIV_ROOT", "/b")
    monkeypatch.setenv("XDG_CACHE_HOME", "/c")
    monkeypatch.setenv("HOME", "/d")
    roots = bundle.candidate_roots("km")
    assert [str(r) for r in roots[:4]] == ["/a", "/b", "/c/km", "/d/.cache/km"]
    assert roots[-1].name == f"km-cache-{os.getuid()}"
    assert bundle.candidate_roots("km", after=Path("/c/km"))[0] == Path("/d/.cache/km")


def test_unusable_root_falls_back_with_one_warning(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KM_CACHE_DIR", str(blocker / "cache"))  # under a file: never usable
    monkeypatch.delenv("SHIV_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    warnings: list[str] = []

    class Err:
        def write(self, text: str) -> None:
            warnings.append(text)

    site = bundle._ensure_extracted(archive, "km", "km_abc", Err())  # type: ignore[arg-type]
    assert site == tmp_path / "xdg" / "km" / "km_abc" / "site-packages"
    assert len(warnings) == 1
    assert warnings[0].startswith("km: warning: cache directory") and warnings[0].endswith("\n")


def test_prune_removes_old_unused_builds_only(archive: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    for stem in ("km_old", "km_busy", "km_recent"):
        bundle._use_root(archive, root, "km", stem)
    release_locks()
    old = time.time() - bundle.PRUNE_AFTER_SECONDS - 60
    for stem in ("km_old", "km_busy"):
        os.utime(root / f".{stem}.lock", (old, old))
    busy = os.open(root / ".km_busy.lock", os.O_RDONLY)
    fcntl.flock(busy, fcntl.LOCK_SH)  # another process still runs that build
    try:
        removed = bundle.prune(root, "km", keep="km_current")
    finally:
        os.close(busy)
    assert removed == ["km_old"]
    assert not (root / "km_old").exists() and not (root / ".km_old.lock").exists()
    assert (root / "km_busy" / "site-packages").is_dir()
    assert (root / "km_recent" / "site-packages").is_dir()


def test_read_only_cache_holding_the_build_is_used(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    site = bundle._use_root(archive, root, "km", "km_abc")
    (root / ".km_abc.lock").unlink()

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(bundle.os, "open", refuse)
    assert bundle._use_root(archive, root, "km", "km_abc") == site


def test_outside_an_archive_nothing_happens(tmp_path: Path) -> None:
    assert bundle.archive_path() is None
    bundle.activate("km", None)  # type: ignore[arg-type]


def test_no_usable_root_at_all_is_a_cache_error(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("")
    roots = [blocker / "a", blocker / "b"]
    monkeypatch.setattr(bundle, "candidate_roots", lambda name, after=None: (
        roots if after is None else roots[roots.index(after) + 1:]))
    lines: list[str] = []

    class Err:
        def write(self, text: str) -> None:
            lines.append(text)

    with pytest.raises(bundle.CacheError, match="no usable cache directory"):
        bundle._ensure_extracted(archive, "km", "km_abc", Err())  # type: ignore[arg-type]
    assert len(lines) == 2


def test_stamp_names_the_speedups_and_version_says_whether_they_apply() -> None:
    namespace: dict[str, object] = {}
    exec(stamp.render("1.0", "abc", "2026-01-01T00:00:00Z", ("cp310", "cp311")), namespace)
    assert namespace["SPEEDUPS"] == ("cp310", "cp311")
    assert stamp.speedups_phrase((stamp.python_tag(),)) == f"speedups on: {stamp.python_tag()}"
    assert stamp.speedups_phrase(()) == msg.SPEEDUPS_PORTABLE
    assert stamp.speedups_phrase(("cp39",)) == msg.SPEEDUPS_MISSING.format(tags="cp39")
