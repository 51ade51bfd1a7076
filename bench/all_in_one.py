"""km all-in-one: start to Ready, and the idle memory of the whole one-process cluster.

    .venv/bin/python bench/all_in_one.py [--km dist/km.pyz] [--runs 5] [--idle 15]
                                         [--isolation none|namespaces]

Each run starts ``km.pyz all-in-one --isolation none --bind-address 127.0.0.1`` on a free
port (the host namespace is safe in this mode: everything on loopback) and times, from the
spawn: the Node Ready (the admin's client certificate asks GET /api/v1/nodes/NAME every
20 ms), then one ``kubectl get pods -A`` answering. Two cases: a first start (a fresh data
dir: the PKI is made, the SQLite store created) and a restart on the same data dir (PKI
reused, leases reclaimed under the node name). The archive's cache is warm (one start first,
not counted). Then the cluster is left idle for --idle seconds and its RSS read from
/proc (the one process: apiserver, controller-manager, scheduler, kubelet, proxy; no pods),
then --pods pods (a Deployment of ``sleep 3600``) run and its RSS is read again; they are
deleted before the cluster stops.
Prints a table; the figures go in docs/benchmarks.md. Not a test.

``--isolation namespaces`` (root) re-executes the script under ``unshare -n``: the cluster runs
in a fresh network namespace with only loopback up, so its nftables rules exist only there;
the kubelet's cgroups (host-wide) are removed after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.procfs import cpu_seconds  # noqa: E402

INSIDE = "KM_BENCH_AIO_NETNS"
NODE = "bench-aio"
QUIET = ["--kubelet-arg", "port=0", "--kubelet-arg", "healthz-port=0",
         "--kube-proxy-arg", "healthz-bind-address=0",
         "--kube-proxy-arg", "metrics-bind-address=0",
         "--kube-controller-manager-arg", "secure-port=0",
         "--kube-scheduler-arg", "secure-port=0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(km: Path, data: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(data.parent / "aio.log", "ab")  # noqa: SIM115 - the child holds it
    return subprocess.Popen(
        [str(km), "all-in-one", "--isolation", ISOLATION[0], "--bind-address", "127.0.0.1",
         "--node-ip", "127.0.0.1",
         "--secure-port", str(port), "--data-dir", str(data), "--node-name", NODE, *QUIET],
        stdout=log, stderr=log, env=env)


def ready(data: Path, port: int, began: float, stale: int,
          limit: float = 60.0) -> tuple[float, int]:
    """Seconds from ``began`` until the Node is Ready as this start's kubelet reports it, and
    that kubelet's port. On a restart the stored Node is Ready from the last run: only a
    kubelet port other than ``stale`` (the kubelet takes a free one each start) is this one's."""
    pki = data / "pki"
    while time.monotonic() - began < limit:
        if (data / "admin.kubeconfig").exists():
            break
        time.sleep(0.01)
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    url = f"https://127.0.0.1:{port}/api/v1/nodes/{NODE}"
    while time.monotonic() - began < limit:
        try:
            with urllib.request.urlopen(url, context=context, timeout=1) as answer:
                node = json.load(answer)
            conditions = node.get("status", {}).get("conditions") or []
            kubelet = (node.get("status", {}).get("daemonEndpoints", {})
                       .get("kubeletEndpoint", {}).get("Port", 0))
            if kubelet and kubelet != stale and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return time.monotonic() - began, int(kubelet)
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise SystemExit("the node did not become Ready")


def one_start(km: Path, data: Path, port: int, env: dict[str, str], stale: int = 0,
              idle: float = 0.0, pods: int = 0) -> tuple[float, float, int, int, int]:
    """(Ready s, kubectl get pods -A answered s, idle RSS kB, peak RSS kB, kubelet port);
    with ``pods``, then that many pods run and the RSS with them goes to WITH_PODS."""
    began = time.monotonic()
    proc = start(km, data, port, env)
    try:
        node_ready, kubelet = ready(data, port, began, stale)
        subprocess.run(["kubectl", "--kubeconfig", str(data / "admin.kubeconfig"), "get",
                        "pods", "-A"], check=True, capture_output=True, timeout=30)
        answered = time.monotonic() - began
        rss = peak = 0
        if idle:
            time.sleep(1.0)  # past the start's own work
            cpu = cpu_seconds(proc.pid)
            time.sleep(idle)
            CPU[0] = (cpu_seconds(proc.pid) - cpu) / idle
            rss, peak = memory(proc.pid)
        if pods:
            with_pods(data, proc.pid, pods)
        return node_ready, answered, rss, peak, kubelet
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        if ISOLATION[0] == "namespaces":
            _remove_runtime(data / "kubelet")


ISOLATION = ["none"]
WITH_PODS: dict[str, float] = {}  # RSS MB of the cluster and of the pods' own processes


def kubectl(data: Path, *args: str, timeout: float = 60) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", str(data / "admin.kubeconfig"), *args],
                          check=True, capture_output=True, text=True, timeout=timeout).stdout


def running(data: Path) -> int:
    pods = json.loads(kubectl(data, "get", "pods", "-l", "app=bench-sleep", "-o", "json"))
    return sum(1 for p in pods["items"] if p.get("status", {}).get("phase") == "Running")


def with_pods(data: Path, pid: int, count: int, limit: float = 300.0) -> None:
    """Run ``count`` pods (a Deployment of ``sleep``), read the RSS of the cluster's one
    process and, apart, of every other process naming the data dir (the pods' monitors and
    the pods), then delete them and wait until they are gone."""
    kubectl(data, "create", "deployment", "bench-sleep", "--image=busybox",
            f"--replicas={count}", "--", "sleep", "3600")
    began = time.monotonic()
    while running(data) < count:
        if time.monotonic() - began > limit:
            raise SystemExit(f"{count} pods did not run within {limit:g} s")
        time.sleep(1.0)
    WITH_PODS["seconds"] = time.monotonic() - began
    time.sleep(5.0)  # the status writes and events of the last pods
    WITH_PODS["cluster"] = memory(pid)[0] / 1024
    WITH_PODS["pods"] = sum(memory(other)[0] for other in processes_naming(data, pid)) / 1024
    kubectl(data, "delete", "deployment", "bench-sleep")
    began = time.monotonic()
    while json.loads(kubectl(data, "get", "pods", "-o", "json"))["items"]:
        if time.monotonic() - began > limit:
            raise SystemExit("the pods did not go")
        time.sleep(1.0)


def processes_naming(data: Path, but: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != but:
            try:
                if str(data).encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _remove_runtime(root: Path) -> None:
    """The kubelet's node cgroups and state (no pods ran; the namespace goes with the script)."""
    import asyncio

    from servers.kubelet.runtime.oci import NamespacesRuntime

    runtime = NamespacesRuntime(str(root), NODE, "10.244.0.0/24", "10.244.0.0/16",
                                "10.96.0.0/12")
    asyncio.run(runtime.remove_all())


CPU = [0.0]  # the idle cluster's CPU share, measured with --idle


def memory(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=15.0)
    parser.add_argument("--isolation", choices=("none", "namespaces"), default="none")
    parser.add_argument("--pods", type=int, default=100,
                        help="after the idle measure, run this many pods and measure again")
    args = parser.parse_args()
    ISOLATION[0] = args.isolation
    if args.isolation == "namespaces" and not os.environ.get(INSIDE):
        if os.geteuid() != 0:
            raise SystemExit("--isolation namespaces needs root")
        return subprocess.call(["unshare", "-n", sys.executable, __file__, *sys.argv[1:]],
                               env={**os.environ, INSIDE: "1"})
    if os.environ.get(INSIDE):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(tempfile.mkdtemp(prefix="bench-aio-"))
    env = {**os.environ, "KM_CACHE_DIR": str(work / "cache")}
    try:
        port = free_port()
        one_start(args.km, work / "warm", port, env)  # extracts the archive's cache
        first, again = [], []
        for i in range(args.runs):
            data = work / f"data{i}"
            first.append(one_start(args.km, data, port, env))
            last = i == args.runs - 1
            again.append(one_start(args.km, data, port, env, stale=first[-1][4],
                                   idle=args.idle if last else 0.0,
                                   pods=args.pods if last else 0))
        report(first, again, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(first: list[tuple[float, float, int, int, int]],
           again: list[tuple[float, float, int, int, int]], args: argparse.Namespace) -> None:
    def cell(rows: list[tuple[float, float, int, int, int]], i: int) -> str:
        values = [r[i] for r in rows]
        return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"

    print(f"km all-in-one --isolation {args.isolation}, {args.runs} runs each, "
          "warm archive cache")
    print(f"{'case':<28}{'node Ready':<32}{'kubectl get pods -A answered'}")
    print(f"{'first start (fresh data)':<28}{cell(first, 0):<32}{cell(first, 1)}")
    print(f"{'restart (same data)':<28}{cell(again, 0):<32}{cell(again, 1)}")
    rss, peak = again[-1][2], again[-1][3]
    print(f"idle RSS after {args.idle:g} s: {rss / 1024:.1f} MB (peak {peak / 1024:.1f} MB), "
          f"one process, no pods; idle CPU {CPU[0] * 100:.1f} % of one core")
    if WITH_PODS:
        print(f"with {args.pods} pods (running {WITH_PODS['seconds']:.0f} s after the "
              f"create): RSS {WITH_PODS['cluster']:.1f} MB, the cluster's one process; the "
              f"pods and their monitors, separate processes: {WITH_PODS['pods']:.1f} MB")


if __name__ == "__main__":
    raise SystemExit(main())
