"""Build a hyperkube program (km by default) into one reproducible zipapp, with its docs.

    python build.py                      # dist/km.pyz for this machine's Python and CPU
    python build.py --portable           # pure-Python dependencies: any OS, any CPython >= 3.10

Writes, in --out (default dist/): NAME.pyz, NAME.pyz.sha256, man/NAME.1 and man/NAME-SERVER.1,
completion/NAME.bash and completion/_NAME. The archive is laid out so that help, version,
listing and completion import only the standard library and our own code, straight from the
zip; only a server that runs pays for the dependencies (see hyperkube/bundle.py):

    #!/usr/bin/env python3
    __main__.py            ours: calls the entry point, nothing else
    _hyperkube_stamp.py    version, commit, build date
    hyperkube/ servers/    our packages, each module with an unchecked-hash .pyc beside it
    shtab/                 the completion generator (pure Python, imported only for completion)
    environment.json       shiv's build record (its content-hash build id names the cache)
    site-packages.zip      the dependencies as shiv staged them, with pycs, in one stored member

Two builds of one commit are byte-identical: every timestamp is SOURCE_DATE_EPOCH (the
commit's time unless set), entries are sorted, and pycs carry no timestamps.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import hashlib
import importlib
import io
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
SHEBANG = "/usr/bin/env python3"
PORTABLE_PYTHON = "3.10"  # the oldest CPython a --portable build must run on
# Dependencies without a pure-Python wheel, built from source without their C speedups.
SOURCE_ONLY = {"pyyaml": {"PYYAML_FORCE_LIBYAML": "0"}}
# Compiled speedups that have no pure-Python form: a --portable build leaves them out (the code
# that uses them falls back to the standard library).
COMPILED_ONLY = {"orjson", "cryptography"}  # cryptography: km certs says it is missing
SKIP_SUFFIXES = (".pyc", ".pyo")
SITE_PACKAGES = "site-packages"
SITE_PACKAGES_ZIP = "site-packages.zip"  # hyperkube.bundle extracts it on a server's first run


class BuildError(Exception):
    pass


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
                   help=f"bundle pure-Python dependencies only (CPython >= {PORTABLE_PYTHON})")
    p.add_argument("--fresh-deps", action="store_true",
                   help="stage the dependencies again instead of reusing build/")
    opts = p.parse_args(argv)
    opts.package = opts.package or [HERE / "hyperkube", HERE / "servers"]
    if opts.no_deps:
        opts.requirement = []
    elif opts.requirement is None:
        opts.requirement = pyproject()["project"]["dependencies"]
    return opts


def build(opts: argparse.Namespace) -> None:
    # 1. The version stamp and the one timestamp every file gets.
    epoch = source_date_epoch()
    stamp = {"version": pyproject()["project"]["version"], "commit": git_commit(),
             "date": datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
             .strftime("%Y-%m-%dT%H:%M:%SZ")}
    # 2. The dependencies, staged by pip (cached in build/ by what was asked for).
    staging = stage_dependencies(opts.requirement, opts.portable, opts.fresh_deps)
    # 3. shiv lays out site-packages and the build record.
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{opts.name}.pyz"
    with tempfile.TemporaryDirectory() as tmp:
        shiv_pyz = Path(tmp) / "shiv.pyz"
        run_shiv(staging, opts.entry, shiv_pyz, epoch)
        # 4. Our packages, pycs, stamp and entry at the root, written as the final archive.
        write_archive(target, shiv_pyz, our_root_files(opts, stamp), staging, epoch)
    (out / f"{target.name}.sha256").write_text(f"{sha256(target)}  {target.name}\n")
    # 5. Man pages and completion scripts, from the same parsers as --help.
    write_docs(opts, out, stamp["version"], epoch)
    # 6. A broken artifact fails the build.
    smoke_test(target, opts.name)
    print(f"built {target} ({target.stat().st_size // 1024} KiB, sha256 {sha256(target)[:16]})")


def pyproject() -> dict:
    with open(HERE / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


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


def stage_dependencies(requirements: list[str], portable: bool, fresh: bool) -> Path:
    key = hashlib.sha256(repr((sorted(requirements), portable, sys.version_info[:2],
                               sys.platform)).encode()).hexdigest()[:16]
    staging = HERE / "build" / f"site-packages-{key}"
    if staging.is_dir() and not fresh:
        return staging
    shutil.rmtree(staging, ignore_errors=True)
    tmp = staging.with_name(staging.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if requirements:
        pip_install(tmp, requirements, portable)
    for cache in tmp.rglob("__pycache__"):
        shutil.rmtree(cache)
    compile_pycs(tmp)
    tmp.rename(staging)
    return staging


def pip_install(target: Path, requirements: list[str], portable: bool) -> None:
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(target)]
    if not portable:
        return pip([*base, *requirements])
    requirements = [r for r in requirements if req_name(r) not in COMPILED_ONLY]
    source_only = [r for r in requirements if req_name(r) in SOURCE_ONLY]
    wheels = [r for r in requirements if r not in source_only]
    pip([*base, "--only-binary=:all:", "--platform", "any", "--implementation", "py",
         "--python-version", PORTABLE_PYTHON, *wheels])
    for req in source_only:
        env = {**os.environ, **SOURCE_ONLY[req_name(req)]}
        pip([*base, "--no-deps", "--no-binary", req_name(req), req], env=env)
    compiled = [p.name for p in target.rglob("*") if p.suffix in (".so", ".pyd")]
    if compiled:
        raise BuildError(f"--portable, but compiled modules were staged: {', '.join(compiled)}")


def compile_pycs(staging: Path) -> None:
    """Byte-compile the dependencies once, here: the first run then only extracts them.

    Unchecked-hash pycs carry no timestamp, and `ddir` fixes the path compiled into them, so
    they are the same bytes in every build.
    """
    ok = compileall.compile_dir(
        staging, quiet=2, ddir=SITE_PACKAGES, workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    if not ok:
        raise BuildError(f"could not byte-compile the dependencies in {staging}")


def req_name(requirement: str) -> str:
    name = requirement
    for sep in "<>=!~;[ ":
        name = name.split(sep)[0]
    return name.lower()


def pip(cmd: list[str], env: dict[str, str] | None = None) -> None:
    if subprocess.run(cmd, env=env).returncode != 0:
        raise BuildError(f"pip failed: {' '.join(cmd[3:])}")


def run_shiv(staging: Path, entry: str, target: Path, epoch: int) -> None:
    shiv = Path(sys.executable).with_name("shiv")
    cmd = [str(shiv) if shiv.exists() else "shiv", "--site-packages", str(staging),
           "-e", entry, "-o", str(target), "-p", SHEBANG, "--reproducible"]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"shiv failed: {done.stderr.strip() or done.stdout.strip()}")


def our_root_files(opts: argparse.Namespace, stamp: dict[str, str]) -> dict[str, bytes]:
    """Files for the archive's root: our packages (with pycs), shtab, the stamp, __main__."""
    from hyperkube.stamp import STAMP_MODULE, render

    files: dict[str, bytes] = {}
    for package in opts.package:
        add_package(files, package.resolve(), package.resolve().name)
    shtab_dir = Path(importlib.import_module("shtab").__file__).parent
    add_module(files, "shtab/__init__.py", (shtab_dir / "__init__.py").read_bytes())
    module, _, func = opts.entry.partition(":")
    add_module(files, f"{STAMP_MODULE}.py", render(**stamp).encode())
    add_module(files, "__main__.py", (
        "# Written by build.py: this archive's entry. Standard library only until a server\n"
        "# runs (hyperkube.bundle makes the dependencies importable then).\n"
        f"import sys\n\nfrom {module} import {func} as _entry\n\nsys.exit(_entry())\n"
    ).encode())
    return files


def add_package(files: dict[str, bytes], folder: Path, arcname: str) -> None:
    if not (folder / "__init__.py").is_file():
        raise BuildError(f"{folder} is not a Python package (no __init__.py)")
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" not in path.parts:
            rel = path.relative_to(folder).as_posix()
            add_module(files, f"{arcname}/{rel}", path.read_bytes())


def add_module(files: dict[str, bytes], arcname: str, source: bytes) -> None:
    """Add a module and its pyc (unchecked hash: no timestamps, valid without the source's)."""
    files[arcname] = source
    with tempfile.TemporaryDirectory() as tmp:
        src, pyc = Path(tmp) / "m.py", Path(tmp) / "m.pyc"
        src.write_bytes(source)
        py_compile.compile(str(src), cfile=str(pyc), dfile=arcname, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        files[arcname[:-3] + ".pyc"] = pyc.read_bytes()


def write_archive(target: Path, shiv_pyz: Path, root_files: dict[str, bytes],
                  staging: Path, epoch: int) -> None:
    """The archive: our root files, shiv's build record, and the dependencies as one member.

    The dependencies (with their pycs) go into one inner, stored `site-packages.zip`: the
    outer archive then lists a few dozen entries instead of a thousand, and Python reads that
    list on every start before it runs a line of ours.
    """
    stamp = datetime.datetime.fromtimestamp(max(epoch, 315532800),
                                            datetime.timezone.utc).timetuple()[:6]
    deps: dict[str, tuple[bytes, int]] = {}
    outer: dict[str, tuple[bytes, int]] = {}
    prefix = SITE_PACKAGES + "/"
    with zipfile.ZipFile(shiv_pyz) as src:
        for info in src.infolist():
            mode = (info.external_attr >> 16) or 0o644
            if info.is_dir() or info.filename.endswith(SKIP_SUFFIXES):
                continue
            if info.filename.startswith(prefix):
                deps[info.filename[len(prefix):]] = (src.read(info), mode)
            elif info.filename == "environment.json":
                outer[info.filename] = (src.read(info), mode)
    for path in sorted(staging.rglob("__pycache__/*.pyc")):
        deps[path.relative_to(staging).as_posix()] = (path.read_bytes(), 0o644)
    outer[SITE_PACKAGES_ZIP] = (_zip(deps, stamp, compress=True), 0o644)
    outer.update((name, (data, 0o644)) for name, data in root_files.items())
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(_zip(outer, stamp, compress=True, stored={SITE_PACKAGES_ZIP},
                         head=f"#!{SHEBANG}\n".encode()))
    tmp.chmod(0o755)
    tmp.replace(target)


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


def smoke_test(target: Path, name: str) -> None:
    from hyperkube.bundle import cache_env_var

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, cache_env_var(name): cache}
        for args in (["--version"], ["--list"]):
            done = subprocess.run([str(target), *args], env=env, capture_output=True, text=True)
            if done.returncode != 0 or (args == ["--version"] and
                                        not done.stdout.startswith(f"{name} ")):
                raise BuildError(f"smoke test {target.name} {' '.join(args)} failed "
                                 f"(exit {done.returncode}): {done.stderr.strip()}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
