"""Start-up benchmark: km.pyz's light paths and a server's first start, side by side.

Runs hyperfine over, in one session: `python3 -S -c pass`, a dependency-free stdlib zipapp
hello-world, a shiv hello-world carrying km's dependencies, `km.pyz --help`,
`demo.pyz SERVER --help` (km registers no server yet; demo is built with the same code), and a
server that imports the bundled dependencies on an empty cache and on a warm one. Every
command runs under the base interpreter directly (`python3 ARCHIVE`), so a version manager's
shim in front of `python3` does not blur the figures. Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import shutil
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
    if shutil.which("hyperfine") is None:
        print("bench: hyperfine is not installed (apt-get install hyperfine)", file=sys.stderr)
        return 1
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
    staging = max((ROOT / "build").glob("site-packages-*"), key=lambda p: p.stat().st_mtime)
    shiv = str(Path(sys.executable).with_name("shiv"))
    run([shiv, "--site-packages", str(staging), "--site-packages", str(hello),
         "-e", "hello_mod:main", "-o", str(work / "shiv-hello.pyz"), "--reproducible"])
    return {"km_build_s": km_build, "km_size": (work / "km" / "km.pyz").stat().st_size}


def measure(work: Path, built: dict[str, object]) -> list[tuple[str, float, float]]:
    cache = work / "cache"
    env_cache = f"KM_CACHE_DIR={cache} DEMO_CACHE_DIR={cache} SHIV_ROOT={cache}"
    km, demo = work / "km" / "km.pyz", work / "demo" / "demo.pyz"
    commands = {
        "python3 -S -c pass": f"{PYTHON} -S -c pass",
        "stdlib zipapp hello-world": f"{PYTHON} {work / 'hello.pyz'}",
        "shiv hello-world with km's deps (warm)": f"{env_cache} {PYTHON} {work / 'shiv-hello.pyz'}",
        "km.pyz --help": f"{PYTHON} {km} --help",
        "km.pyz --version": f"{PYTHON} {km} --version",
        "demo.pyz probe --help (SERVER --help)": f"{PYTHON} {demo} probe --help",
        "demo.pyz probe, warm cache (server start)": f"{env_cache} {PYTHON} {demo} probe",
    }
    rows = [(name, *hyperfine(work, cmd)) for name, cmd in commands.items()]
    cold = f"{env_cache} {PYTHON} {demo} probe"
    rows.append(("demo.pyz probe, empty cache (first start)",
                 *hyperfine(work, cold, prepare=f"rm -rf {cache}")))
    shiv_cold = f"{env_cache} {PYTHON} {work / 'shiv-hello.pyz'}"
    rows.append(("shiv hello-world, empty cache",
                 *hyperfine(work, shiv_cold, prepare=f"rm -rf {cache}")))
    return rows


def hyperfine(work: Path, command: str, prepare: str | None = None) -> tuple[float, float]:
    out = work / "hf.json"
    cmd = ["hyperfine", "--shell=bash", "--warmup", "3", "--runs", str(RUNS), "--style", "none",
           "--export-json", str(out), command]
    if prepare:
        cmd[1:1] = ["--prepare", prepare]
    run(cmd)
    result = json.loads(out.read_text())["results"][0]
    return result["median"] * 1000, result["stddev"] * 1000


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
