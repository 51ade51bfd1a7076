"""`kubectl apply` of a 100-object manifest against km.pyz: wall time and requests made.

    python bench/apply.py [--km dist/km.pyz] [--runs 5]

One manifest of 100 objects in one namespace (40 ConfigMaps, 25 Pods, 20 Services,
15 ReplicationControllers), applied with the real kubectl on the PATH, for:
- create: the first apply, into a server with fresh data;
- patch: a second apply of a changed manifest (every object's labels and data differ);
- unchanged: a third apply of the same manifest;
and each of these again with `--server-side`. Every kubectl run gets its own empty
`--cache-dir`, so each pays discovery as a first run on a new machine does.

Requests are counted on the server side: the apiserver runs at `-v 5`, where aiohttp's
access log has one line per request; they are split into discovery (/api, /apis, group
versions), OpenAPI (/openapi/...) and object requests. Wall time is the median of the runs;
each run starts a server with fresh data. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.apiserver import start_apiserver  # noqa: E402

NAMESPACE = "bench-apply"
MIX = (("ConfigMap", 40), ("Pod", 25), ("Service", 20), ("ReplicationController", 15))
STEPS = ("create", "patch", "unchanged")
REQUEST = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/')
DISCOVERY = re.compile(r"^/(api|apis)(/[^/]+)?(/[^/]+)?/?$")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--runs", type=int, default=5)
    opts = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_all(Path(tmp), opts)
    print_table(rows, opts)
    return 0


def run_all(tmp: Path, opts: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp / "cache")}
    manifests = [tmp / "v1.yaml", tmp / "v2.yaml"]
    for version, path in enumerate(manifests, 1):
        path.write_text(manifest(version))
    rows: dict[str, list[dict[str, float]]] = {}
    for run in range(opts.runs):
        for mode in ("client-side", "server-side"):  # interleaved, a fresh server each
            with start_apiserver(tmp / f"data-{run}-{mode}", km=opts.km, env=env,
                                 extra_args=["-v", "5"]) as api:
                make_namespace(api.url)
                for step, path in zip(STEPS, (manifests[0], manifests[1], manifests[1]),
                                      strict=True):
                    rows.setdefault(f"{mode} {step}", []).append(
                        apply(api, path, tmp / f"kube-{run}-{mode}-{step}", mode))
    return rows


def apply(api: object, manifest_path: Path, cache: Path, mode: str) -> dict[str, float]:
    log: list[str] = api.log  # type: ignore[attr-defined]
    before = len(log)
    cmd = ["kubectl", "--server", api.url, "--cache-dir", str(cache),  # type: ignore[attr-defined]
           "apply", "-f", str(manifest_path)]
    if mode == "server-side":
        cmd.append("--server-side")
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: kubectl apply failed: {done.stderr}")
    time.sleep(0.3)  # the access log line is written after the answer
    counts = {"discovery": 0, "openapi": 0, "objects": 0}
    for line in log[before:]:
        match = REQUEST.search(line)
        if not match:
            continue
        path = match.group(2).split("?")[0]
        kind = ("openapi" if path.startswith("/openapi") else
                "discovery" if DISCOVERY.match(path) else "objects")
        counts[kind] += 1
    return {"seconds": wall, **counts, "requests": sum(counts.values())}


def make_namespace(url: str) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": NAMESPACE}}).encode()
    request = urllib.request.Request(f"{url}/api/v1/namespaces", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).close()


def manifest(version: int) -> str:
    import yaml

    docs = [obj(kind, f"{kind.lower()}-{i}", version) for kind, count in MIX
            for i in range(count)]
    return yaml.safe_dump_all(docs, sort_keys=False)


def obj(kind: str, name: str, version: int) -> dict[str, object]:
    labels = {"app": name, "tier": "bench", "version": f"v{version}"}
    meta = {"name": name, "namespace": NAMESPACE, "labels": labels}
    container = {"name": "c", "image": f"nginx:1.2{version}", "ports": [{"containerPort": 80}]}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta,
                "data": {"config.yaml": f"version: {version}\nname: {name}\n"}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta,
                "spec": {"containers": [container]}}
    if kind == "Service":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta,
                "spec": {"selector": {"app": name},
                         "ports": [{"port": 80, "targetPort": 8000 + version}]}}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta,
            "spec": {"replicas": version, "selector": {"app": name},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [container]}}}}


def print_table(rows: dict[str, list[dict[str, float]]], opts: argparse.Namespace) -> None:
    print(f"kubectl apply of {sum(n for _, n in MIX)} objects, median of {opts.runs} runs, "
          f"{os.cpu_count()} cores\n")
    print("| kubectl apply | wall s | requests | per object | discovery | openapi | objects |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = sum(n for _, n in MIX)
    for name, runs in rows.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(f"| {name} | {med['seconds']:.2f} | {med['requests']:.0f} | "
              f"{med['requests'] / total:.2f} | {med['discovery']:.0f} | "
              f"{med['openapi']:.0f} | {med['objects']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
