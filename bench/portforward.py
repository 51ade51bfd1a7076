"""port-forward benchmark: bulk TCP throughput through ``kubectl port-forward`` against a
direct connection to the pod.

    python bench/portforward.py [--km dist/km.pyz] [--mib 64] [--runs 5]
                                [--isolation both|none|namespaces]

Per isolation (``none``; then ``namespaces`` when run as root, inside ``unshare -n``, a network
namespace with only loopback and no route out, as bench/exec.py) one km.pyz apiserver (SQLite,
plain HTTP on loopback) and one ``km kubelet``, with one pod: a Python TCP server that sends
as many bytes as a connection asks for (download) and counts what a connection sends it
(upload). Then, interleaved run by run so both see the same machine, each moving ``--mib``
MiB per run:

- direct: a TCP connection from this process to the pod's IP and port;
- port-forward: the same through ``kubectl port-forward pod/P 0:PORT`` (kubectl's SPDY/3.1
  tunnelled in a WebSocket to the apiserver, the relay to the kubelet, the kubelet's dial
  into the pod's network namespace).

Prints the median MB/s of each and the ratio port-forward / direct, as Markdown for
docs/benchmarks.md. Other processes share the CPU: read the figures as this machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import node  # noqa: E402
from bench.support.procfs import cpu_seconds  # noqa: E402

INSIDE = "KM_BENCH_PORTFORWARD_NETNS"
WAIT = 120.0
POD = "pf-bench"
PORT = 7000
CHUNK = 1 << 20
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> \d+")
# The pod: per connection one request, 9 bytes: "D" or "U" and a big-endian byte count.
# D: it sends that many bytes and closes; U: it reads that many, answers "ok", closes.
SERVER = r"""
import os, socket, threading
ZEROS = bytes(1 << 20)
def serve(conn):
    with conn:
        head = b""
        while len(head) < 9:
            head += conn.recv(9 - len(head))
        left = int.from_bytes(head[1:], "big")
        if head[:1] == b"D":
            while left:
                left -= conn.send(ZEROS[:min(left, len(ZEROS))])
        else:
            buf = bytearray(1 << 20)
            while left:
                left -= conn.recv_into(buf, min(left, len(buf)))
            conn.sendall(b"ok")
listener = socket.create_server((os.environ.get("POD_IP") or "0.0.0.0", 7000))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@dataclass
class Figures:
    isolation: str
    direct_down: list[float] = field(default_factory=list)
    direct_up: list[float] = field(default_factory=list)
    forward_down: list[float] = field(default_factory=list)
    forward_up: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds in the forwarded runs
    forwarded: int = 0  # bytes moved through the forward in the timed runs


def transfer(host: str, port: int, kind: bytes, size: int) -> float:
    """One connection moving ``size`` bytes; MB/s (10^6 bytes a second)."""
    start = time.perf_counter()
    with socket.create_connection((host, port), timeout=WAIT) as conn:
        conn.sendall(kind + struct.pack(">Q", size))
        if kind == b"D":
            buf, got = bytearray(CHUNK), 0
            while got < size:
                n = conn.recv_into(buf)
                if not n:
                    raise RuntimeError(f"bench/portforward.py: the download ended at {got}")
                got += n
        else:
            block, left = bytes(CHUNK), size
            while left:
                left -= conn.send(block[:min(left, CHUNK)])
            if conn.recv(2) != b"ok":
                raise RuntimeError("bench/portforward.py: the upload was not acknowledged")
    return size / (time.perf_counter() - start) / 1e6


def wait_listening(host: str, port: int) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"bench/portforward.py: nothing listens on {host}:{port}")


def run_one(km: Path, isolation: str, size: int, runs: int) -> Figures:
    """One kubelet (trusting the cluster CA for the apiserver's client certificate), the
    pod, and the timed runs."""
    figures = Figures(isolation)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with node.trusted_apiserver(km, tmp) as (api, certs), \
                node.kubelet(km, api.url, isolation, tmp, client_ca=certs / "ca.crt") as proc:
            assert api.proc is not None
            run_forward(api.url, size, runs, tmp, figures,
                        {"apiserver": api.proc.pid, "kubelet": proc.pid})
    return figures


def run_forward(url: str, size: int, runs: int, tmp: Path, figures: Figures,
                pids: dict[str, int]) -> None:
    """The pod, ``kubectl port-forward`` to it, and the timed runs; ``pids`` are the
    processes whose CPU the forwarded runs count (kubectl's is added)."""
    container = {"name": "c", "image": "python", "command": [sys.executable, "-c", SERVER]}
    ip = str(asyncio.run(node.run_pod(url, POD, container, with_ip=True))["podIP"])
    wait_listening(ip, PORT)
    forward = None
    try:
        forward = subprocess.Popen(["kubectl", "--server", url, "--cache-dir",
                                    str(tmp / "cache"), "port-forward", f"pod/{POD}",
                                    f"0:{PORT}"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        assert forward.stdout is not None
        found = FORWARDING.search(forward.stdout.readline())
        if not found:
            raise RuntimeError("bench/portforward.py: kubectl port-forward did not start")
        local = int(found[1])
        transfer("127.0.0.1", local, b"D", CHUNK)  # warm: the first stream pair, dials
        pids = {"kubectl": forward.pid, **pids}
        figures.cpu = dict.fromkeys(pids, 0.0)

        def through_forward(kind: bytes, into: list[float]) -> None:
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            into.append(transfer("127.0.0.1", local, kind, size))
            for name, pid in pids.items():
                figures.cpu[name] += cpu_seconds(pid) - before[name]
            figures.forwarded += size

        for _ in range(runs):
            figures.direct_down.append(transfer(ip, PORT, b"D", size))
            through_forward(b"D", figures.forward_down)
            figures.direct_up.append(transfer(ip, PORT, b"U", size))
            through_forward(b"U", figures.forward_up)
    finally:
        if forward is not None:
            forward.terminate()
            forward.wait(30)
            if forward.stdout is not None:
                forward.stdout.close()


def report(rows: list[Figures], mib: int, runs: int) -> None:
    load = os.getloadavg()[0]
    print(f"\n{runs} runs of {mib} MiB each way, interleaved; median MB/s; "
          f"load average {load:.1f}")
    print("| isolation | direct down / up | `kubectl port-forward` down / up | "
          "port-forward / direct down / up |")
    print("|---|---:|---:|---:|")
    for f in rows:
        dd, du = statistics.median(f.direct_down), statistics.median(f.direct_up)
        fd, fu = statistics.median(f.forward_down), statistics.median(f.forward_up)
        print(f"| {f.isolation} | {dd:.0f} / {du:.0f} MB/s | {fd:.0f} / {fu:.0f} MB/s | "
              f"{fd / dd:.3f} / {fu / du:.3f} |")
    print("\nCPU per GiB forwarded (both directions together)")
    print("| isolation | kubectl | apiserver (relay) | kubelet |")
    print("|---|---:|---:|---:|")
    for f in rows:
        gib = f.forwarded / (1 << 30)
        print(f"| {f.isolation} | " + " | ".join(
            f"{f.cpu[name] / gib:.1f} s" for name in ("kubectl", "apiserver", "kubelet"))
            + " |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--isolation", choices=("both", "none", "namespaces"), default="both")
    args = p.parse_args()
    code = node.own_network_namespace(INSIDE, __file__, wanted=args.isolation != "none")
    if code is not None:
        return code
    size = args.mib << 20
    rows = [run_one(args.km.resolve(), isolation, size, args.runs)
            for isolation in node.isolations(args.isolation, "bench/portforward.py")]
    report(rows, args.mib, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
