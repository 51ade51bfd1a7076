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

Every dependency is resolved once, for the oldest CPython that pyproject's requires-python
allows, with wheels only; each newer CPython then gets the same versions (pip's constraints),
with wheels for its own ABI. A file all of them share is stored once; extension modules lose
their debug sections (strip --strip-debug), as distributions ship them. Compiling pycs needs
each CPython itself: build.py finds them (--python X.Y=PATH, pyenv's versions, python3.X on
the PATH) and says which it could not find (that Python then compiles them on first use).

Two builds of one commit are byte-identical: every timestamp is SOURCE_DATE_EPOCH (the
commit's time unless set), entries are sorted, and pycs carry no timestamps.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import filecmp
import hashlib
import importlib
import io
import json
import os
import platform
import re
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
NEWEST_PYTHON = (3, 13)  # the newest CPython a build carries speedups for: raise it once the
# dependencies publish wheels for the next one (the oldest comes from requires-python)
PLATFORMS = ("manylinux2014_{arch}", "manylinux_2_17_{arch}")  # glibc >= 2.17, like most wheels
# Dependencies without a pure-Python wheel, built from source without their C extension in
# every build: km uses PyYAML's pure SafeLoader only (yaml.safe_load), so libyaml's extension
# would be 2.6 MB per CPython of dead weight.
SOURCE_ONLY = {"pyyaml": {"PYYAML_FORCE_LIBYAML": "0"}}
# Compiled speedups that have no pure-Python form: a --portable build leaves them out (the code
# that uses them falls back to the standard library).
COMPILED_ONLY = {"orjson", "cryptography"}  # cryptography: km certs says it is missing
SKIP_SUFFIXES = (".pyc", ".pyo")
SITE_PACKAGES = "site-packages"
SITE_PACKAGES_ZIP = "site-packages.zip"  # hyperkube.bundle extracts it on a server's first run,
SITE_PACKAGES_TAGGED = "site-packages-{tag}.zip"  # and the one of the CPython that runs it
STAGING_LAYOUT = 5  # part of build/'s cache key: raise it when staging changes shape
COMMON = "common"  # the staging folder of files every target shares (the others: cpXY)
ABI_EXTENSION = re.compile(r"\.cpython-\d+[^/]*\.so$")  # what one CPython alone can load
# Run by each target CPython (-I -c): compile the (source, pyc, name in tracebacks) triples
# read as JSON from stdin into unchecked-hash pycs, which carry no timestamp.
COMPILER = """
import json, py_compile, sys
for src, cfile, dfile in json.load(sys.stdin):
    py_compile.compile(src, cfile=cfile, dfile=dfile, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


class BuildError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Target:
    """A CPython the archive carries speedups (or at least byte code) for."""

    version: tuple[int, int]
    python: str | None  # an interpreter of that version, to compile pycs with (None: not found)
    full_version: str = ""  # X.Y.Z of that interpreter (pycs are its bytes)

    @property
    def tag(self) -> str:
        return "cp{}{}".format(*self.version)

    @property
    def dotted(self) -> str:
        return "{}.{}".format(*self.version)


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


def pyproject() -> dict:
    with open(HERE / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def oldest_python() -> tuple[int, int]:
    """The floor of pyproject's requires-python (">=3.10"): every dependency is resolved for it."""
    spec = pyproject()["project"]["requires-python"]
    match = re.search(r">=\s*3\.(\d+)", spec)
    if not match:
        raise BuildError(f"requires-python {spec!r} names no floor (>=3.N)")
    return (3, int(match.group(1)))


def targets(wanted: list[str] | None) -> list[Target]:
    """The CPythons to build for, oldest first, each with an interpreter if one is found."""
    floor = oldest_python()
    named: dict[tuple[int, int], str | None] = {}
    for item in wanted or [f"3.{minor}" for minor in range(floor[1], NEWEST_PYTHON[1] + 1)]:
        version, _, path = item.partition("=")
        match = re.fullmatch(r"3\.(\d+)", version)
        if not match or not floor <= (3, int(match.group(1))) <= NEWEST_PYTHON:
            raise ValueError(f"--python {item}: not a CPython from 3.{floor[1]} to "
                             "{}.{}".format(*NEWEST_PYTHON))
        named[(3, int(match.group(1)))] = path or None
    found = []
    for version in sorted(named):
        python, full = find_python(version, named[version])
        found.append(Target(version, python, full))
    return found


def find_python(version: tuple[int, int], path: str | None) -> tuple[str | None, str]:
    """An interpreter of `version`: the given one, this one, pyenv's newest, python3.X on PATH."""
    dotted = "{}.{}".format(*version)
    if path:
        candidates: list[str | None] = [path]
    else:
        pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
        builds = sorted((p for p in pyenv.glob(f"{dotted}.*/bin/python{dotted}")
                         if re.fullmatch(r"\d+\.\d+\.\d+", p.parts[-3])),
                        key=lambda p: int(p.parts[-3].split(".")[2]), reverse=True)
        this = getattr(sys, "_base_executable", sys.executable)  # not a venv's: no site
        here = [this] if sys.version_info[:2] == version else []
        candidates = [*here, *map(str, builds), shutil.which(f"python{dotted}")]
    for candidate in candidates:
        full = python_version_of(candidate) if candidate else ""
        if full.rpartition(".")[0] == dotted:
            return candidate, full
    if path:
        raise ValueError(f"--python {dotted}={path}: not a CPython {dotted}")
    return None, ""


def python_version_of(python: str) -> str:
    probe = "import sys; print(sys.implementation.name, '%d.%d.%d' % sys.version_info[:3])"
    try:
        done = subprocess.run([python, "-S", "-c", probe], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    impl, _, full = done.stdout.strip().partition(" ")
    return full if done.returncode == 0 and impl == "cpython" else ""


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


def stage_dependencies(requirements: list[str], portable: bool, targets: list[Target],
                       fresh: bool) -> Path:
    """build/site-packages-KEY/: common/ (what every target shares) and one cpXY/ per target."""
    key = hashlib.sha256(repr((STAGING_LAYOUT, sorted(requirements), portable, oldest_python(),
                               [(t.tag, t.full_version) for t in targets],
                               sys.platform, platform.machine())).encode()).hexdigest()[:16]
    staging = HERE / "build" / f"site-packages-{key}"
    if staging.is_dir() and not fresh:
        return staging
    shutil.rmtree(staging, ignore_errors=True)
    # A folder of its own: builds of the same tree may run at once (e.g. two test sessions).
    staging.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{staging.name}.tmp-", dir=staging.parent))
    for folder in (COMMON, *(t.tag for t in targets)):
        (tmp / folder).mkdir(parents=True)
    if requirements and portable:
        pip_install_portable(tmp / COMMON, requirements)
    elif requirements:
        shared, trees = pip_install_targets(tmp / "pip", requirements, targets)
        split_shared(trees, tmp)
        merge_into(shared, tmp / COMMON)
        shutil.rmtree(tmp / "pip")
    for cache in tmp.rglob("__pycache__"):
        shutil.rmtree(cache)
    strip_debug_info(tmp)
    compile_dependencies(tmp, targets)
    try:
        tmp.rename(staging)
    except OSError:  # another build staged the same first: theirs is as good as ours
        shutil.rmtree(tmp)
    return staging


def pip_base(target: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(target)]


def wheel_args(version: tuple[int, int]) -> list[str]:
    """pip's flags that pick CPython X.Y's wheels for this OS and CPU, without running it."""
    if sys.platform != "linux":
        raise BuildError("the default build carries Linux speedups: use --portable elsewhere")
    tag = "cp{}{}".format(*version)
    platforms = [f"--platform={p.format(arch=platform.machine())}" for p in PLATFORMS]
    return ["--only-binary=:all:", "--implementation", "cp", "--python-version",
            "{}.{}".format(*version), "--abi", tag, *platforms]


def pip_install_targets(root: Path, requirements: list[str],
                        targets: list[Target]) -> tuple[Path, dict[str, Path]]:
    """Resolve for the oldest CPython; then each target gets its own wheels of the same versions.

    Returns the tree of distributions every target shares as they are (pure, abi3, or built
    from source per SOURCE_ONLY) and one tree per target of the ABI-specific ones.
    """
    floor = oldest_python()
    compiled = [r for r in requirements if req_name(r) not in SOURCE_ONLY]
    (root / "resolved").mkdir(parents=True)
    if compiled:
        pip([*pip_base(root / "resolved"), *wheel_args(floor), *compiled])
    add_marker_dependencies(root / "resolved", floor)
    per_abi, shared = [], []
    for name, version, tags in installed(root / "resolved"):
        specific = any(tag.split("-")[1] not in ("none", "abi3") for tag in tags)
        (per_abi if specific else shared).append(f"{name}=={version}")
    if shared:
        pip([*pip_base(root / COMMON), *wheel_args(floor), "--no-deps", *shared])
    for req in (r for r in requirements if req_name(r) in SOURCE_ONLY):
        env = {**os.environ, **SOURCE_ONLY[req_name(req)]}
        pip([*pip_base(root / COMMON), "--no-deps", "--no-binary", req_name(req), req], env=env)
    trees = {t.tag: root / t.tag for t in targets}
    for target in targets:
        trees[target.tag].mkdir(parents=True)
        if per_abi:
            pip([*pip_base(trees[target.tag]), *wheel_args(target.version), "--no-deps",
                 *per_abi])
    return root / COMMON, trees


def add_marker_dependencies(tree: Path, version: tuple[int, int]) -> None:
    """Install what `version` needs by its environment markers but pip left out.

    pip's --python-version picks wheels and checks Requires-Python, but it evaluates markers
    (`async-timeout; python_version < "3.11"`) for the Python that runs pip: resolving for
    3.10 from 3.11 would leave 3.10's backports out. Ask until nothing is missing.
    """
    for _ in range(10):
        missing = sorted(marker_requirements(tree, version))
        if not missing:
            return
        pip([*pip_base(tree), *wheel_args(version), "--no-deps", "--upgrade", *missing])
    raise BuildError(f"the marker dependencies for {version} do not settle: {missing}")


def marker_requirements(tree: Path, version: tuple[int, int]) -> set[str]:
    """Requirements whose markers hold for CPython `version` and that `tree` does not hold."""
    from email.parser import BytesHeaderParser

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dotted = "{}.{}".format(*version)
    env = {**default_environment(), "python_version": dotted, "extra": "",
           "python_full_version": f"{dotted}.0", "implementation_version": f"{dotted}.0"}
    have = {canonicalize_name(name) for name, _, _ in installed(tree)}
    wanted = set()
    for meta in tree.glob("*.dist-info/METADATA"):
        for line in BytesHeaderParser().parsebytes(meta.read_bytes()).get_all("Requires-Dist", []):
            req = Requirement(line)
            if req.marker and req.marker.evaluate(env) and canonicalize_name(req.name) not in have:
                wanted.add(f"{req.name}{req.specifier}")
    return wanted


def installed(tree: Path) -> list[tuple[str, str, list[str]]]:
    """(name, version, wheel tags) of every distribution pip put in `tree`."""
    found = []
    for info in sorted(tree.glob("*.dist-info")):
        head = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        fields = dict(line.split(": ", 1) for line in head.split("\n\n")[0].splitlines()
                      if ": " in line)
        wheel = (info / "WHEEL").read_text(encoding="utf-8") if (info / "WHEEL").is_file() else ""
        tags = [line[5:].strip() for line in wheel.splitlines() if line.startswith("Tag: ")]
        found.append((fields["Name"], fields["Version"], tags or ["py3-none-any"]))
    return found


def split_shared(trees: dict[str, Path], staging: Path) -> None:
    """Move files that every target has, byte for byte, to common/; the rest to cpXY/.

    A CPython the build has no speedups for then gets the pure-Python fallbacks from common/.
    """
    if not trees:
        return
    files = {tag: {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
             for tag, tree in trees.items()}
    first, *others = trees
    shared = {rel for rel in set.intersection(*files.values())
              if not ABI_EXTENSION.search(rel)  # even when only one target is built
              and all(filecmp.cmp(trees[first] / rel, trees[tag] / rel, shallow=False)
                      for tag in others)}
    for tag, tree in trees.items():
        for rel in sorted(files[tag]):
            if rel in shared and tag != first:
                continue
            dest = staging / (COMMON if rel in shared else tag) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).rename(dest)


def merge_into(source: Path, dest: Path) -> None:
    for path in sorted(source.rglob("*")) if source.is_dir() else ():
        if path.is_file():
            target = dest / path.relative_to(source)
            if target.exists():
                raise BuildError(f"two distributions install {target.relative_to(dest)}")
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)


def pip_install_portable(target: Path, requirements: list[str]) -> None:
    base = pip_base(target)
    requirements = [r for r in requirements if req_name(r) not in COMPILED_ONLY]
    source_only = [r for r in requirements if req_name(r) in SOURCE_ONLY]
    wheels = [r for r in requirements if r not in source_only]
    pip([*base, "--only-binary=:all:", "--platform", "any", "--implementation", "py",
         "--python-version", "{}.{}".format(*oldest_python()), *wheels])
    for req in source_only:
        env = {**os.environ, **SOURCE_ONLY[req_name(req)]}
        pip([*base, "--no-deps", "--no-binary", req_name(req), req], env=env)
    compiled = [p.name for p in target.rglob("*") if p.suffix in (".so", ".pyd")]
    if compiled:
        raise BuildError(f"--portable, but compiled modules were staged: {', '.join(compiled)}")


def strip_debug_info(staging: Path) -> None:
    """Drop the debug sections some wheels ship in their extensions (aiohttp's: 3.3 MB of a
    3.9 MB parser), as distributions do: they help a debugger only, and times four CPythons
    they would weigh more than the rest of the archive."""
    strip = shutil.which("strip")
    modules = sorted(staging.rglob("*.so"))
    if not modules:
        return
    if strip is None:
        print("build.py: warning: no strip command (binutils): extension modules keep their "
              "debug information", file=sys.stderr)
        return
    done = subprocess.run([strip, "--strip-debug", *map(str, modules)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise BuildError(f"strip failed: {done.stderr.strip()}")


def compile_dependencies(staging: Path, targets: list[Target]) -> None:
    """Byte-compile the dependencies once per target, here: a first run only extracts them.

    Each target's pycs (of the shared files too) go to its own folder, under the names that
    its CPython looks for (__pycache__/NAME.cpython-XY.pyc), and `dfile` fixes the path
    compiled into them, so they are the same bytes in every build.
    """
    for target in targets:
        if target.python is None:
            continue
        jobs = []
        for tree in (staging / COMMON, staging / target.tag):
            for src in sorted(tree.rglob("*.py")):
                rel = src.relative_to(tree)
                cfile = (staging / target.tag / rel.parent / "__pycache__" /
                         f"{src.stem}.cpython-{target.tag[2:]}.pyc")
                jobs.append((str(src), str(cfile), f"{SITE_PACKAGES}/{rel.as_posix()}"))
        compile_with(target, jobs)


def compile_with(target: Target, jobs: list[tuple[str, str, str]]) -> None:
    """Compile (source, pyc, name) triples with the target's own CPython.

    -S keeps its site-packages' .pth files out; PYTHONHASHSEED=0 keeps set constants in one
    order (marshal writes a frozenset in iteration order, which follows string hashes).
    """
    assert target.python is not None
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")}
    done = subprocess.run([target.python, "-S", "-W", "ignore", "-c", COMPILER],
                          input=json.dumps(jobs), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr.strip() or "no output").splitlines()
        raise BuildError(f"CPython {target.full_version} could not byte-compile: {lines[-1]}")


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
            names = sorted(n for n in sources if n != "__main__.py")
            out = Path(tmp) / target.tag
            compile_with(target, [(str(src_dir / n), str(out / f"{n}c"), n) for n in names])
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
