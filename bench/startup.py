"""Start-up benchmark: km.pyz's light paths and a server's first start, side by side.

Times, in interleaved rounds (whatever else loads the machine then hits every row alike):
`python3 -S -c pass`, a dependency-free stdlib zipapp hello-world, a shiv hello-world
carrying km's dependencies, `km.pyz --help`, `--version`, `km.pyz SERVER --help`, and a
server that imports the bundled dependencies (demo.pyz probe, built with the same code) on
an empty cache and on a warm one. Every command runs under the base interpreter directly
(`python3 ARCHIVE`), so a version manager's shim in front of `python3` does not blur the
figures; each time includes the ~1 ms of starting a process from Python. Prints a table.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = getattr(sys, "_base_executable", sys.executable)
RUNS = int(os.environ.get("BENCH_RUNS", "30"))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        built = build_all(work)
        rows = measure(work, built)
    print_table(rows, built)
    return 0


def build_all(work: Path) -> dict[str, object]:
    started = time.perf_counter()
    run([sys.executable, str(ROOT / "build.py"), "--out", str(work / "km")])
    km_build = time.perf_counter() - started
    run([sys.executable, str(ROOT / "build.py"), "--out", str(work / "demo"), "--name", "demo",
         "--entry", "demo_servers:main", "--package", str(ROOT / "hyperkube"),
         "--package", str(ROOT / "tests" / "e2e" / "demo_servers")])
    hello = work / "hello"
    hello.mkdir()
    (hello / "__main__.py").write_text("print('hello')\n")
    zipapp.create_archive(hello, work / "hello.pyz", interpreter="/usr/bin/env python3")
    (hello / "hello_mod.py").write_text("def main():\n    print('hello')\n")
    staged = max((p for p in (ROOT / "build").glob("site-packages-*") if p.suffix == ""),
                 key=lambda p: p.stat().st_mtime)
    # build.py stages the shared files in common/ and each CPython's own in cpXY/.
    tag = "cp{}{}".format(*sys.version_info[:2])
    staging = [str(staged / "common"), "--site-packages", str(staged / tag)]
    shiv = str(Path(sys.executable).with_name("shiv"))
    run([shiv, "--site-packages", *staging, "--site-packages", str(hello),
         "-e", "hello_mod:main", "-o", str(work / "shiv-hello.pyz"), "--reproducible"])
    return {"km_build_s": km_build, "km_size": (work / "km" / "km.pyz").stat().st_size}


def measure(work: Path, built: dict[str, object]) -> list[tuple[str, float, float]]:
    cache = work / "cache"
    env = {**os.environ, "KM_CACHE_DIR": str(cache), "DEMO_CACHE_DIR": str(cache),
           "SHIV_ROOT": str(cache)}
    km, demo = work / "km" / "km.pyz", work / "demo" / "demo.pyz"
    commands: dict[str, tuple[list[str], bool]] = {  # name: (argv, on an empty cache)
        "python3 -S -c pass": ([PYTHON, "-S", "-c", "pass"], False),
        "stdlib zipapp hello-world": ([PYTHON, str(work / "hello.pyz")], False),
        "shiv hello-world with km's deps (warm)": ([PYTHON, str(work / "shiv-hello.pyz")], False),
        "km.pyz --help": ([PYTHON, str(km), "--help"], False),
        "km.pyz --version": ([PYTHON, str(km), "--version"], False),
        "km.pyz apiserver --help (SERVER --help)": ([PYTHON, str(km), "apiserver", "--help"],
                                                    False),
        "demo.pyz probe, warm cache (server start)": ([PYTHON, str(demo), "probe"], False),
        "demo.pyz probe, empty cache (first start)": ([PYTHON, str(demo), "probe"], True),
        "shiv hello-world, empty cache": ([PYTHON, str(work / "shiv-hello.pyz")], True),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(RUNS + 3):  # interleaved, so load on the machine hits every row alike
        for name, (argv, cold) in commands.items():
            if cold:
                shutil.rmtree(cache, ignore_errors=True)
            started = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            if round_ >= 3:  # the first rounds warm the disk cache
                times[name].append((time.perf_counter() - started) * 1000)
    return [(name, statistics.median(t), statistics.stdev(t)) for name, t in times.items()]


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:3])} failed:\n{done.stderr}")


def print_table(rows: list[tuple[str, float, float]], built: dict[str, object]) -> None:
    base = next(median for name, median, _ in rows if name.startswith("stdlib zipapp"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {RUNS} runs each\n")
    print("| command | median ms | stddev ms | x stdlib zipapp |")
    print("|---|---:|---:|---:|")
    for name, median, stddev in rows:
        print(f"| {name} | {median:.1f} | {stddev:.1f} | {median / base:.2f} |")
    print(f"\nkm.pyz size: {int(built['km_size']) / 1024:.0f} KiB; "  # type: ignore[call-overload]
          f"build time (staged dependencies reused): {built['km_build_s']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
