"""The dependencies of a build.py archive, staged for every CPython it targets.

    build/site-packages-KEY/common/    files every target shares, byte for byte
    build/site-packages-KEY/cpXY/      what only CPython X.Y needs: its C extensions, the
                                       distributions its markers alone select, its pycs

Every dependency is resolved once, with wheels only, for the oldest CPython that pyproject's
requires-python allows (pip evaluates markers for the Python that runs it, so the oldest's
marker dependencies are added by hand); the distributions whose wheels are ABI-specific are
then installed again, same versions, for each target. Extension modules lose their debug
sections. Each target's pycs are compiled by that CPython itself, found on this machine
(pyenv's versions, python3.X on the PATH, or named with --python X.Y=PATH).
"""
from __future__ import annotations

import dataclasses
import filecmp
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
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
SITE_PACKAGES = "site-packages"
STAGING_LAYOUT = 6  # part of build/'s cache key: raise it when staging changes shape
COMMON = "common"  # the staging folder of files every target shares (the others: cpXY)
ABI_EXTENSION = re.compile(r"\.cpython-\d+[^/]*\.so$")  # what one CPython alone can load
# Run by each target CPython (-S -c): compile the (source, pyc, name in tracebacks) triples
# read as JSON from stdin into unchecked-hash pycs, which carry no timestamp.
COMPILER = """
import json, py_compile, sys
for src, cfile, dfile in json.load(sys.stdin):
    py_compile.compile(src, cfile=cfile, dfile=dfile, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""
# The same for our own modules, without their docstrings (nothing reads __doc__ at run time;
# the sources in the archive keep them for readers and tracebacks): a fifth of our byte code.
# Asserts stay, unlike -OO. importlib's own pyc writer, as py_compile uses it.
COMPILER_NO_DOCSTRINGS = """
import ast, importlib._bootstrap_external as bx, importlib.util, json, os, sys
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
for src, cfile, dfile in json.load(sys.stdin):
    with open(src, "rb") as f:
        source = f.read()
    tree = ast.parse(source, dfile)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, DOCUMENTED) and body and isinstance(body[0], ast.Expr) \\
                and isinstance(body[0].value, ast.Constant) \\
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
    code = compile(tree, dfile, "exec", dont_inherit=True)
    data = bx._code_to_hash_pyc(code, importlib.util.source_hash(source), False)
    os.makedirs(os.path.dirname(cfile), exist_ok=True)
    with open(cfile, "wb") as f:
        f.write(data)
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
    """Drop the debug sections and the symbols no loader needs from the wheels' extensions
    (aiohttp's debug info: 3.3 MB of a 3.9 MB parser; cryptography's static symbol table:
    0.4 MB compressed), as Debian's dh_strip does with --strip-unneeded: they help a debugger
    only, and times four CPythons they would weigh more than the rest of the archive."""
    strip = shutil.which("strip")
    modules = sorted(staging.rglob("*.so"))
    if not modules:
        return
    if strip is None:
        print("build.py: warning: no strip command (binutils): extension modules keep their "
              "debug information", file=sys.stderr)
        return
    done = subprocess.run([strip, "--strip-unneeded", *map(str, modules)], capture_output=True,
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


def compile_with(target: Target, jobs: list[tuple[str, str, str]], *,
                 docstrings: bool = True) -> None:
    """Compile (source, pyc, name) triples with the target's own CPython (without the
    docstrings when ``docstrings`` is false).

    -S keeps its site-packages' .pth files out; PYTHONHASHSEED=0 keeps set constants in one
    order (marshal writes a frozenset in iteration order, which follows string hashes).
    """
    assert target.python is not None
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")}
    script = COMPILER if docstrings else COMPILER_NO_DOCSTRINGS
    done = subprocess.run([target.python, "-S", "-W", "ignore", "-c", script],
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
