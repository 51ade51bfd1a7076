"""Running from a built archive: make the bundled third-party packages importable.

build.py writes the archive (km.pyz) as a zip whose root holds our own pure-Python packages
(hyperkube/, servers/, with a tree of pycs per CPython) and whose `site-packages.zip` holds
the dependencies' files that every CPython shares, `site-packages-cpXY.zip` what only CPython
X.Y needs (its C extensions and pycs), with shiv's `environment.json` naming the build.
Python imports the root straight from the zip, so help, version, listing and completion never
touch the disk. The dependencies need real files (C extensions cannot load from a zip), so the
first server run of a build under a given CPython extracts the shared files and that
CPython's own, once, into a cache:

    <root>/<name>_<build id>_cpXY/site-packages  the dependencies as CPython X.Y sees them
    <root>/.<name>_<build id>_cpXY.lock          flock: exclusive to extract, shared while in use

Each CPython has its own folder and lock, so a 3.12 server's first start never waits for a
3.11 server that holds its folder for as long as it runs. A build without speedups for the
running CPython (a newer one than it knows) runs its dependencies' pure-Python fallbacks, and
says so in one warning line.

The root is the first usable of `$<NAME>_CACHE_DIR` (`$KM_CACHE_DIR`), `$SHIV_ROOT`,
`$XDG_CACHE_HOME/<name>`, `~/.cache/<name>`, and a private folder in the system's temp dir;
falling back says one warning line. Racing first runs wait on the lock (bounded) and extract
once, into a temporary folder renamed into place. After an extraction, other builds' folders
that no process holds and that nobody used for `PRUNE_AFTER_SECONDS` are removed, so caches of
old builds do not pile up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkube import messages as msg
from hyperkube import stamp

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TextIO

SITE_PACKAGES = "site-packages"
SITE_PACKAGES_ZIP = "site-packages.zip"  # members of the archive (see build.py): shared files
SITE_PACKAGES_TAGGED = "site-packages-{tag}.zip"  # and what only CPython cpXY needs
ENVIRONMENT = "environment.json"
LOCK_TIMEOUT_SECONDS = 300.0
PRUNE_AFTER_SECONDS = 7 * 24 * 3600
CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# A cache of extracted builds.\n"

_held_locks: list[int] = []  # shared locks kept for the life of the process


class CacheError(Exception):
    """The dependencies could not be made available."""


def archive_path() -> str | None:
    """The archive this code is imported from, or None when it runs from a source tree."""
    return getattr(__spec__.loader, "archive", None)


def cache_env_var(name: str) -> str:
    return f"{name.upper().replace('-', '_')}_CACHE_DIR"


def activate(name: str, err: TextIO) -> None:
    """Put the archive's extracted site-packages on sys.path (no-op outside an archive)."""
    archive = archive_path()
    if archive is None:
        return
    # zipimport has read the archive's directory already: no second parse on a warm start.
    record = __spec__.loader.get_data(os.path.join(archive, ENVIRONMENT))  # type: ignore[union-attr]
    build_id = json.loads(record)["build_id"]
    tag = stamp.python_tag()
    carried = stamp.carried_speedups()
    if carried and tag not in carried:
        err.write(msg.PROG_WARNING.format(prog=name, warning=msg.NO_SPEEDUPS.format(
            python=stamp.python_version(), tags=", ".join(carried))) + "\n")
    site = _ensure_extracted(Path(archive), name, f"{name}_{build_id[:20]}_{tag}", err)
    sys.path.insert(1, str(site))


def _ensure_extracted(archive: Path, name: str, stem: str, err: TextIO) -> Path:
    last_error: OSError | None = None
    for root in candidate_roots(name):
        try:
            return _use_root(archive, root, name, stem)
        except OSError as exc:
            fallback = next(iter(candidate_roots(name, after=root)), None)
            err.write(msg.PROG_WARNING.format(prog=name, warning=msg.CACHE_UNUSABLE.format(
                path=root, error=exc.strerror or exc, fallback=fallback)) + "\n")
            last_error = exc
    raise CacheError(f"no usable cache directory: {last_error}")


def candidate_roots(name: str, *, after: Path | None = None) -> list[Path]:
    """Cache roots in order of preference (those after `after`, if given)."""
    env = os.environ
    roots: list[Path] = [Path(env[v]) for v in (cache_env_var(name), "SHIV_ROOT") if env.get(v)]
    if env.get("XDG_CACHE_HOME"):
        roots.append(Path(env["XDG_CACHE_HOME"]) / name)
    with contextlib.suppress(RuntimeError, KeyError):
        roots.append(Path.home() / ".cache" / name)
    roots.append(Path(tempfile.gettempdir()) / f"{name}-cache-{os.getuid()}")
    if after is not None:
        roots = roots[roots.index(after) + 1:] if after in roots else []
    return roots


def _use_root(archive: Path, root: Path, name: str, stem: str) -> Path:
    site = root / stem / SITE_PACKAGES
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(root / f".{stem}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        if site.is_dir():  # a read-only cache that already holds this build
            return site
        raise
    try:
        _flock(lock, fcntl.LOCK_SH, root)
        if not site.is_dir():
            _flock(lock, fcntl.LOCK_EX, root)
            if not site.is_dir():
                _extract(archive, root, stem)
                _tag(root)
                prune(root, name, keep=stem)
            _flock(lock, fcntl.LOCK_SH, root)
        os.utime(lock)  # last use, for pruning
    except BaseException:
        os.close(lock)
        raise
    _held_locks.append(lock)
    return site


def _flock(fd: int, how: int, root: Path) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise CacheError(msg.CACHE_LOCK_TIMEOUT.format(
                    seconds=LOCK_TIMEOUT_SECONDS, path=root)) from None
            time.sleep(0.01)


def _extract(archive: Path, root: Path, stem: str) -> None:
    """Extract the shared and this CPython's dependencies into a fresh folder, then rename it
    into place (we hold the lock)."""
    for stale in root.glob(f".{stem}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(root / stem, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.tmp-", dir=root))
    site = tmp / SITE_PACKAGES
    site.mkdir()
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for member in (SITE_PACKAGES_ZIP, SITE_PACKAGES_TAGGED.format(tag=stamp.python_tag())):
            if member in names:
                _extract_member(zf, member, site)
    tmp.rename(root / stem)


def _extract_member(zf: zipfile.ZipFile, member: str, site: Path) -> None:
    with zf.open(member) as data, zipfile.ZipFile(data) as deps:
        for info in deps.infolist():
            if not info.is_dir():
                path = Path(deps.extract(info, site))
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    path.chmod(mode)


def _tag(root: Path) -> None:
    tag = root / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(CACHEDIR_TAG)


def prune(root: Path, name: str, *, keep: str) -> list[str]:
    """Remove other builds' folders that no process holds and nobody used lately."""
    removed = []
    cutoff = time.time() - PRUNE_AFTER_SECONDS
    for lock_path in sorted(root.glob(f".{name}_*.lock")):
        stem = lock_path.name[1:-len(".lock")]
        if stem == keep:
            continue
        with _try_exclusive(lock_path) as mine:
            if mine and lock_path.stat().st_mtime < cutoff:
                shutil.rmtree(root / stem, ignore_errors=True)
                lock_path.unlink()
                removed.append(stem)
    return removed


@contextlib.contextmanager
def _try_exclusive(path: Path) -> Iterator[bool]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        yield False
    else:
        yield True
    finally:
        os.close(fd)
