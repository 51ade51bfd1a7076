"""km.pyz under every CPython it supports, as ratios to 3.11 measured in the same run.

    python bench/pythons.py [--km dist/km.pyz] [--seconds 10] [--rounds 2] [--runs 20]

One km.pyz, run by each CPython found on this machine (as build.py finds them: pyenv's
versions, python3.X on the PATH), in interleaved rounds so that whatever else loads the
machine hits every Python alike:
- `km.pyz --help` (median of --runs), beside the interpreter's own `python -S -c pass`;
- the apiserver's start until it serves: first (empty cache: extraction) and warm;
- durable pod creates per second at 64 connections (bench/api.py's wrk and create.lua), one
  run of --seconds per round and Python, on a fresh SQLite store each;
- a yardstick of the interpreter alone: pod-shaped dicts deep-copied and walked in pure
  Python (best of 5), no km and no C speedup involved: a ratio below 1 there is the
  interpreter's own.
Start-up is counted in CPU milliseconds (user + system, all threads), not wall time: on two
cores shared with other work, wall time mostly measures the wait for a core. Every
interpreter runs with -S: the installations here differ in their own site-packages (3.11's
imports certifi through a .pth, ~17 ms), which km never uses. A ratio is "as fast as 3.11":
its time over this one's, or this one's rate over its. Prints a Markdown table for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import build_deps  # noqa: E402
from bench.api import wrk  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

BASE = (3, 11)
CONNECTIONS = 64
YARDSTICK = """
import copy, time
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "b"}},
       "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}
best = float("inf")
for _ in range(5):
    started = time.perf_counter()
    for i in range(10000):
        p = copy.deepcopy(pod)
        p["metadata"]["name"] = f"p-{i}"
        keys = sorted(k for c in p["spec"]["containers"] for k in c)
    best = min(best, time.perf_counter() - started)
print(best * 1000)
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    opts = p.parse_args()
    pythons = find_pythons()
    if BASE not in pythons:
        sys.exit("bench: no CPython 3.11 found: nothing to compare with")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(Path(tmp), opts, pythons)
    print_table(results, pythons, opts)
    return 0


def find_pythons() -> dict[tuple[int, int], str]:
    found = {}
    for minor in range(build_deps.oldest_python()[1], build_deps.NEWEST_PYTHON[1] + 1):
        python, _ = build_deps.find_python((3, minor), None)
        if python:
            found[(3, minor)] = python
        else:
            print(f"bench: no CPython 3.{minor} found, left out", file=sys.stderr)
    return found


def measure(tmp: Path, opts: argparse.Namespace,
            pythons: dict[tuple[int, int], str]) -> dict[tuple[int, int], dict[str, list[float]]]:
    results: dict[tuple[int, int], dict[str, list[float]]] = {
        v: {"help": [], "pass": [], "first": [], "warm": [], "creates": [], "yardstick": []}
        for v in pythons}
    for round_ in range(opts.rounds):
        for version, python in pythons.items():
            res = results[version]
            work = tmp / f"{round_}-{version[1]}"
            env = {**os.environ, "KM_CACHE_DIR": str(work / "cache"),
                   "PATH": f"{shim(python, work / 'bin')}{os.pathsep}{os.environ['PATH']}"}
            res["help"] += help_times([python, "-S", str(opts.km), "--help"], env,
                                      opts.runs // opts.rounds)
            res["pass"] += help_times([python, "-S", "-c", "pass"], env, opts.runs // opts.rounds)
            res["yardstick"].append(float(subprocess.run(
                [python, "-S", "-c", YARDSTICK], capture_output=True, text=True, check=True
            ).stdout))
            res["first"].append(server_start(opts.km, env, work / "first"))
            res["warm"].append(server_start(opts.km, env, work / "warm"))
            with start_apiserver(work / "data", km=opts.km, env=env) as api:
                run = wrk(f"{api.url}/api/v1/namespaces/default/pods", CONNECTIONS,
                          opts.seconds, "create.lua", uuid.uuid4().hex[:8])
            res["creates"].append(run["per_second"])
            shutil.rmtree(work, ignore_errors=True)
    return results


def shim(python: str, where: Path) -> Path:
    """A folder whose `python3` is `python -S`: km.pyz's shebang then runs that interpreter."""
    where.mkdir(parents=True)
    (where / "python3").write_text(f'#!/bin/sh\nexec {python} -S "$@"\n')
    (where / "python3").chmod(0o755)
    return where


def help_times(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    """CPU milliseconds (user + system) of `argv`, `runs` times after two warm-up runs."""
    times = []
    for i in range(runs + 2):  # the first two warm the disk cache
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            sys.exit(f"bench: {' '.join(argv)} failed")
        if i >= 2:
            times.append((usage.ru_utime + usage.ru_stime) * 1000)
    return times


def server_start(km: Path, env: dict[str, str], data: Path) -> float:
    """CPU milliseconds the apiserver spent until its "serving on" line (all its threads)."""
    with start_apiserver(data, km=km, env=env) as api:
        assert api.proc is not None
        fields = Path(f"/proc/{api.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def print_table(results: dict[tuple[int, int], dict[str, list[float]]],
                pythons: dict[tuple[int, int], str], opts: argparse.Namespace) -> None:
    base = {k: statistics.median(v) for k, v in results[BASE].items()}
    print(f"{os.cpu_count()} cores, {opts.rounds} interleaved rounds, wrk -t1 -c{CONNECTIONS} "
          f"{opts.seconds} s per round; km.pyz {opts.km.stat().st_size / 2**20:.1f} MiB\n")
    print("| CPython | speedups | `-S -c pass` CPU ms | --help CPU ms | "
          "first / warm server start CPU ms | "
          f"creates/s at {CONNECTIONS} conn | ratios to 3.11: help, first, warm, creates | "
          "interpreter yardstick ratio |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for version, python in pythons.items():
        med = {k: statistics.median(v) for k, v in results[version].items()}
        ratios = [base[k] / med[k] for k in ("help", "first", "warm")]
        ratios.append(med["creates"] / base["creates"])
        print(f"| {build_deps.python_version_of(python)} | {speedups(python, opts.km)} | "
              f"{med['pass']:.1f} | {med['help']:.1f} | {med['first']:.0f} / {med['warm']:.0f} | "
              f"{med['creates']:.0f} | " + ", ".join(f"{r:.2f}" for r in ratios) +
              f" | {base['yardstick'] / med['yardstick']:.2f} |")


def speedups(python: str, km: Path) -> str:
    """What `km --version` says of this Python's speedups (its last words)."""
    out = subprocess.run([python, "-S", str(km), "--version"], capture_output=True,
                         text=True).stdout.strip()
    return out.rsplit(", ", 1)[-1].rstrip(")")


if __name__ == "__main__":
    sys.exit(main())
