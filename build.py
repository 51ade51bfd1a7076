"""Build a hyperkube program (km by default) into one reproducible zipapp, with its docs.

    python build.py                      # dist/km.pyz: C speedups for CPython 3.10 to 3.13
    python build.py --portable           # pure-Python dependencies: any OS, any CPython >= 3.10
    python build.py --python 3.12        # speedups for the named CPythons only (repeatable)

Writes, in --out (default dist/): NAME.pyz, NAME.pyz.sha256, man/NAME.1 and man/NAME-SERVER.1,
completion/NAME.bash and completion/_NAME. The archive is laid out so that help, version,
listing and completion import only the standard library and our own code, straight from the
zip, as byte code compiled for the Python that runs it; only a server that runs pays for the
dependencies (see hyperkube/bundle.py):

    #!/usr/bin/env python3
    __main__.py            ours: picks cpXY/ for this Python, calls the entry point
    _hyperkube_stamp.py    version, commit, build date, the CPythons with speedups
    hyperkube/ servers/    our packages' sources
    shtab/                 the completion generator (pure Python, imported only for completion)
    cp310/ ... cp313/      our packages' byte code (unchecked-hash pycs), one tree per CPython
    environment.json       shiv's build record (its content-hash build id names the cache)
    site-packages.zip      the dependencies' files that every CPython shares (one stored member)
    site-packages-cpXY.zip what only CPython X.Y needs: its C extensions, the dependencies
                           its markers alone select, and its pycs (one stored member each)

Every dependency is resolved once, with wheels only, for the oldest CPython that pyproject's
requires-python allows; the ABI-specific ones come again, same versions, for each newer
CPython (build_deps.py stages them). A file all of them share is stored once; extension
modules lose their debug sections and unneeded symbols (strip --strip-unneeded), as
distributions ship them; our byte code leaves out the docstrings (the sources keep them).
Compiling pycs needs each CPython itself: build.py finds them (--python X.Y=PATH, pyenv's
versions, python3.X on the PATH) and says which it could not find (that Python then
compiles our modules as it imports them).

Two builds of one commit are byte-identical: every timestamp is SOURCE_DATE_EPOCH (the
commit's time unless set), entries are sorted, and pycs carry no timestamps.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from build_deps import (
    COMMON,
    NEWEST_PYTHON,
    BuildError,
    Target,
    compile_with,
    oldest_python,
    pyproject,
    stage_dependencies,
    targets,
)

HERE = Path(__file__).resolve().parent
SHEBANG = "/usr/bin/env python3"
SITE_PACKAGES_ZIP = "site-packages.zip"  # hyperkube.bundle extracts it on a server's first run,
SITE_PACKAGES_TAGGED = "site-packages-{tag}.zip"  # and the one of the CPython that runs it


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        build(opts)
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE / "dist", help="output folder")
    p.add_argument("--name", default="km", help="program name (the archive is NAME.pyz)")
    p.add_argument("--entry", default="servers.km:main", help="module:function to call")
    p.add_argument("--hyperkube", help="module:function returning the HyperKube "
                   "(default: the entry's module, make_hyperkube)")
    p.add_argument("--package", action="append", type=Path,
                   help="a package folder to put at the archive's root (repeatable; "
                   "default: hyperkube and servers)")
    p.add_argument("--requirement", action="append",
                   help="a dependency to bundle (repeatable; default: pyproject's)")
    p.add_argument("--no-deps", action="store_true", help="bundle no dependencies")
    p.add_argument("--portable", action="store_true",
                   help="bundle pure-Python dependencies only (any CPython >= the oldest)")
    p.add_argument("--python", action="append", metavar="X.Y[=PATH]",
                   help="a CPython to carry speedups and byte code for, and optionally the "
                   "interpreter that compiles its pycs (repeatable; default: every CPython "
                   "from requires-python's floor to {}.{}, found on this machine)"
                   .format(*NEWEST_PYTHON))
    p.add_argument("--fresh-deps", action="store_true",
                   help="stage the dependencies again instead of reusing build/")
    opts = p.parse_args(argv)
    opts.package = opts.package or [HERE / "hyperkube", HERE / "servers"]
    if opts.no_deps:
        opts.requirement = []
    elif opts.requirement is None:
        opts.requirement = pyproject()["project"]["dependencies"]
    try:
        opts.targets = targets(opts.python)
    except ValueError as exc:
        p.error(str(exc))
    return opts


def build(opts: argparse.Namespace) -> None:
    # 1. The version stamp and the one timestamp every file gets.
    epoch = source_date_epoch()
    speedups = () if opts.portable else tuple(t.tag for t in opts.targets)
    stamp = {"version": pyproject()["project"]["version"], "commit": git_commit(),
             "date": datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
             .strftime("%Y-%m-%dT%H:%M:%SZ"), "speedups": speedups}
    for missing in (t for t in opts.targets if t.python is None):
        print(f"build.py: warning: found no CPython {missing.dotted} (--python "
              f"{missing.dotted}=PATH names one): {opts.name}.pyz carries no byte code for it, "
              "so it compiles its modules as it imports them", file=sys.stderr)
    # 2. The dependencies, staged by pip for every target (cached in build/).
    staging = stage_dependencies(opts.requirement, opts.portable, opts.targets, opts.fresh_deps)
    # 3. shiv writes the build record, whose build id hashes everything staged.
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{opts.name}.pyz"
    with tempfile.TemporaryDirectory() as tmp:
        shiv_pyz = Path(tmp) / "shiv.pyz"
        run_shiv(staging, opts.entry, shiv_pyz, epoch)
        # 4. Our packages, their pycs per target, stamp and entry, written as the final archive.
        root = our_root_files(opts, stamp)
        root.update(root_pycs(root, opts.targets))
        write_archive(target, shiv_pyz, root, staging, opts.targets, epoch)
    (out / f"{target.name}.sha256").write_text(f"{sha256(target)}  {target.name}\n")
    # 5. Man pages and completion scripts, from the same parsers as --help.
    write_docs(opts, out, stamp["version"], epoch)
    # 6. A broken artifact fails the build.
    smoke_test(target, opts.name, opts.targets)
    made_for = ", ".join(t.tag for t in opts.targets)
    print(f"built {target} ({target.stat().st_size // 1024} KiB, sha256 {sha256(target)[:16]}; "
          + (f"pure Python, byte code for {made_for})" if opts.portable else
             f"speedups for {made_for})"))

def source_date_epoch() -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    out = git("log", "-1", "--format=%ct")
    return int(out) if out else 315532800  # 1980-01-01, the zip format's first day


def git_commit() -> str:
    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}-dirty" if dirty else sha


def git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def run_shiv(staging: Path, entry: str, target: Path, epoch: int) -> None:
    shiv = Path(sys.executable).with_name("shiv")
    cmd = [str(shiv) if shiv.exists() else "shiv", "--site-packages", str(staging),
           "-e", entry, "-o", str(target), "-p", SHEBANG, "--reproducible"]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"shiv failed: {done.stderr.strip() or done.stdout.strip()}")


def our_root_files(opts: argparse.Namespace, stamp: dict) -> dict[str, bytes]:
    """Sources for the archive's root: our packages, shtab, the stamp, __main__."""
    from hyperkube.stamp import STAMP_MODULE, render

    files: dict[str, bytes] = {}
    for package in opts.package:
        add_package(files, package.resolve(), package.resolve().name)
    shtab_dir = Path(importlib.import_module("shtab").__file__).parent
    files["shtab/__init__.py"] = (shtab_dir / "__init__.py").read_bytes()
    files[f"{STAMP_MODULE}.py"] = render(**stamp).encode()
    files["__main__.py"] = main_source(opts, tuple(t.tag for t in opts.targets if t.python)
                                       ).encode()
    return files


def main_source(opts: argparse.Namespace, tags: tuple[str, ...]) -> str:
    """The archive's entry: this Python's byte code tree first, then the entry point.

    Python runs it from source (it has no pyc), so it stays tiny and parses on any python3:
    an interpreter older than the floor gets one line and exit 1, not a SyntaxError from ours.
    """
    from hyperkube import messages as msg

    module, _, func = opts.entry.partition(":")
    floor = oldest_python()
    too_old = msg.PROG_ERROR.format(prog=opts.name, error=msg.PYTHON_TOO_OLD.format(
        python="%s", floor="{}.{}".format(*floor)))
    return (
        "# Written by build.py: this archive's entry. It puts the byte code compiled for this\n"
        "# Python (cpXY/) first on the path, then calls the entry point; standard library\n"
        "# only until a server runs (hyperkube.bundle makes the dependencies importable then).\n"
        "import sys\n\n"
        f"if sys.version_info[:2] < {floor}:\n"
        f"    sys.stderr.write({too_old!r} % sys.version.split()[0] + '\\n')\n"
        "    sys.exit(1)\n"
        "_tag = 'cp%d%d' % sys.version_info[:2]\n"
        f"if _tag in {tags!r}:\n"
        "    sys.path.insert(0, __loader__.archive + '/' + _tag)\n\n"
        f"from {module} import {func} as _entry  # noqa: E402\n\n"
        "sys.exit(_entry())\n")


def add_package(files: dict[str, bytes], folder: Path, arcname: str) -> None:
    if not (folder / "__init__.py").is_file():
        raise BuildError(f"{folder} is not a Python package (no __init__.py)")
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" not in path.parts:
            rel = path.relative_to(folder).as_posix()
            files[f"{arcname}/{rel}"] = path.read_bytes()
    for path in package_data(folder, arcname):
        files[f"{arcname}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()


def package_data(folder: Path, arcname: str) -> list[Path]:
    """The files besides modules that pyproject's [tool.setuptools.package-data] names for
    `arcname` and its subpackages (globs relative to each package's folder, as setuptools')."""
    wanted = pyproject().get("tool", {}).get("setuptools", {}).get("package-data", {})
    found: set[Path] = set()
    for package, globs in wanted.items():
        top, _, rest = package.partition(".")
        if top != arcname:
            continue
        base = folder.joinpath(*rest.split(".")) if rest else folder
        found.update(p for g in globs for p in base.glob(g)
                     if p.is_file() and p.suffix not in (".py", ".pyc"))
    return sorted(found)


def root_pycs(sources: dict[str, bytes], targets: list[Target]) -> dict[str, bytes]:
    """cpXY/NAME.pyc for every module but __main__, compiled by each target's CPython.

    Unchecked-hash pycs carry no timestamp and load without their source; the name compiled
    into them is the source's name in the archive, as tracebacks show it.
    """
    pycs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src_dir = Path(tmp) / "src"
        for arcname, data in sources.items():
            (src_dir / arcname).parent.mkdir(parents=True, exist_ok=True)
            (src_dir / arcname).write_bytes(data)
        for target in (t for t in targets if t.python is not None):
            names = sorted(n for n in sources if n.endswith(".py") and n != "__main__.py")
            out = Path(tmp) / target.tag
            compile_with(target, [(str(src_dir / n), str(out / f"{n}c"), n) for n in names],
                         docstrings=False)
            pycs.update((f"{target.tag}/{n}c", (out / f"{n}c").read_bytes()) for n in names)
    return pycs


def write_archive(target: Path, shiv_pyz: Path, root_files: dict[str, bytes],
                  staging: Path, targets: list[Target], epoch: int) -> None:
    """The archive: our root files, shiv's build record, and the dependencies as stored zips.

    The dependencies (with their pycs) go into inner, stored zips, one shared and one per
    target: the outer archive then lists a few hundred entries instead of thousands, and
    Python reads that list on every start before it runs a line of ours.
    """
    stamp = datetime.datetime.fromtimestamp(max(epoch, 315532800),
                                            datetime.timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(shiv_pyz) as src:
        outer = {"environment.json": (src.read("environment.json"), 0o644)}
    inner = {SITE_PACKAGES_ZIP: staging / COMMON}
    inner.update((SITE_PACKAGES_TAGGED.format(tag=t.tag), staging / t.tag) for t in targets)
    for member, folder in inner.items():
        outer[member] = (_zip(tree_entries(folder), stamp, compress=True), 0o644)
    outer.update((name, (data, 0o644)) for name, data in root_files.items())
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(_zip(outer, stamp, compress=True, stored=set(inner),
                         head=f"#!{SHEBANG}\n".encode()))
    tmp.chmod(0o755)
    tmp.replace(target)


def tree_entries(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` by relative name; modes only 0o755 or 0o644 (umask-proof)."""
    entries = {}
    for path in folder.rglob("*"):
        if path.is_file():
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            entries[path.relative_to(folder).as_posix()] = (path.read_bytes(), mode)
    return entries


def _zip(entries: dict[str, tuple[bytes, int]], stamp: tuple[int, ...], *, compress: bool,
         stored: set[str] | None = None, head: bytes = b"") -> bytes:
    """A zip of `entries` in name order, every timestamp `stamp`; `head` goes before it."""
    buf = io.BytesIO(head)
    buf.seek(len(head))
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            data, mode = entries[name]
            info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            info.external_attr = (0o100000 | (mode & 0o777)) << 16
            deflate = compress and name not in (stored or ())
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            zf.writestr(info, data, compresslevel=9 if deflate else None)
    return buf.getvalue()


def write_docs(opts: argparse.Namespace, out: Path, version: str, epoch: int) -> None:
    for package in opts.package:
        parent = str(package.resolve().parent)
        if parent not in sys.path:
            sys.path.insert(0, parent)
    factory = opts.hyperkube or opts.entry.split(":")[0] + ":make_hyperkube"
    module, _, func = factory.partition(":")
    hk = getattr(importlib.import_module(module), func)()
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)  # argparse-manpage dates the pages by it
    from hyperkube import completion, manpage

    shutil.rmtree(out / "man", ignore_errors=True)
    manpage.write_all(hk, out / "man", version)
    comp = out / "completion"
    comp.mkdir(exist_ok=True)
    (comp / f"{opts.name}.bash").write_text(completion.script(hk, "bash"))
    (comp / f"_{opts.name}").write_text(completion.script(hk, "zsh"))


def smoke_test(target: Path, name: str, targets: list[Target]) -> None:
    """--version and --list as the shebang runs them, then --version under every target."""
    from hyperkube.bundle import cache_env_var

    runs = [[str(target), "--version"], [str(target), "--list"]]
    runs += [[t.python, str(target), "--version"] for t in targets if t.python]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, cache_env_var(name): cache}
        for argv in runs:
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode != 0 or (argv[-1] == "--version" and
                                        not done.stdout.startswith(f"{name} ")):
                raise BuildError(f"smoke test {' '.join(argv)} failed "
                                 f"(exit {done.returncode}): {done.stderr.strip()}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
