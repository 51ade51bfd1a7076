"""km proxy benchmark: through a clusterIP against straight to the endpoint, and programming
latency. Not a test: it prints Markdown tables for docs/benchmarks.md.

    sudo .venv/bin/python bench/proxy.py [--bulk-mb 256] [--seconds 3] [--services 1000]

Everything happens inside a network namespace this script makes for itself (its main thread
moves into a fresh one with no route out, as the integration tests do), with one endpoint
process (tests/integration/proxy/echo.py) in a further namespace behind a veth and a bridge.
The named namespace is deleted at the end; the rest goes with the script's own.

1. nftables mode (the kernel carries the traffic): bulk throughput of one TCP stream
   (MB/s) and short connections per second (connect, read a line, close; one client
   thread), straight to the endpoint's IP and through the clusterIP, in the same run;
2. userspace mode (the proxy relays): the same bulk figure, and the latency it adds to a
   ping-pong on an established connection and to a new connection, on loopback addresses
   (the apiserver's service range is 127.96.0.0/16 there);
3. network programming latency (nftables mode): N selector-less Services, then for each an
   EndpointSlice of 10 endpoints stamped with ``endpoints.kubernetes.io/last-change-trigger-
   time``; the proxy's ``kubeproxy_network_programming_duration_seconds`` histogram gives
   p50 and p99 (bucket upper bounds), with km proxy's default --min-sync-period (250ms;
   kube-proxy's is 1s) unless ``--min-sync-period`` says otherwise.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.proxy.lab import ECHO, Api, Proxy, greet, wait_for  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

CLONE_NEWNET = 0x40000000
BRIDGE, GATEWAY, ENDPOINT = "kmpxb0", "10.244.0.1", "10.244.0.10"
PORT = 8080
BUCKET = re.compile(
    r'kubeproxy_network_programming_duration_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)')


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def private_netns() -> None:
    """Move this (still single-threaded) process into a new network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET): run as root")
    ip("link", "set", "lo", "up")
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
    assert "default" not in routes.stdout


def endpoint_netns(name: str) -> subprocess.Popen[bytes]:
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    ip("route", "add", "10.96.0.0/12", "dev", BRIDGE)
    ip("netns", "add", name)
    ip("link", "add", "kmpxbh0", "type", "veth", "peer", "name", "eth0", "netns", name)
    ip("link", "set", "kmpxbh0", "master", BRIDGE, "up")
    ip("-n", name, "addr", "add", f"{ENDPOINT}/24", "dev", "eth0")
    ip("-n", name, "link", "set", "eth0", "up")
    ip("-n", name, "link", "set", "lo", "up")
    ip("-n", name, "route", "add", "default", "via", GATEWAY)
    return echo(["ip", "netns", "exec", name], ENDPOINT)


def echo(prefix: list[str], address: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*prefix, sys.executable, str(ECHO), "ep", address, str(PORT)],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc


# -- measurements -----------------------------------------------------------------------------

def bulk(address: str, port: int, size: int) -> float:
    """MB/s of one stream of ``size`` bytes from the endpoint."""
    buf = bytearray(1 << 20)
    with socket.create_connection((address, port), timeout=30) as conn:
        conn.recv(100)  # the name line
        started = time.perf_counter()
        conn.sendall(b"BULK %d" % size)
        got = 0
        while True:
            n = conn.recv_into(buf)
            if not n:
                break
            got += n
        elapsed = time.perf_counter() - started
    return got / elapsed / 1e6


def connections(address: str, port: int, seconds: float) -> float:
    count, deadline = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        greet(address, port, timeout=5)
        count += 1
    return count / (time.perf_counter() - started)


def round_trip_us(address: str, port: int, count: int = 500) -> float:
    """Median microseconds of a 32-byte ping-pong on one connection."""
    samples = []
    with socket.create_connection((address, port), timeout=10) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.recv(100)
        for _ in range(count):
            started = time.perf_counter()
            conn.sendall(b"x" * 32)
            got = 0
            while got < 32:
                got += len(conn.recv(64))
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def connect_us(address: str, port: int, count: int = 200) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        greet(address, port, timeout=5)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def paired(fn: Any, direct: tuple[Any, ...], vip: tuple[Any, ...], runs: int = 5,
           pick: Any = max) -> tuple[float, float]:
    """Best of ``runs`` for each path, the runs interleaved so both see the same machine
    (two cores shared with other work: the best run is the least disturbed one)."""
    a, b = [], []
    for _ in range(runs):
        a.append(fn(*direct))
        b.append(fn(*vip))
    return pick(a), pick(b)


# -- the phases -------------------------------------------------------------------------------

def nftables_phase(tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    with start_apiserver(tmp / "api-nft") as server:
        api = Api(server.url)
        proxy = Proxy(server.url, tmp / "proxy-nft.log", [
            "--hostname-override", "bench", "--proxy-mode", "nftables",
            "--healthz-bind-address", "0", "--metrics-bind-address", "127.0.0.1:10249",
            "--min-sync-period", args.min_sync_period])
        # the lab's Proxy passes --min-sync-period 0 for tests; the bench sets its own
        proxy.argv.remove("0")
        proxy.argv.remove("--min-sync-period")
        proxy.start()
        try:
            vip = api.service("web", [{"name": "http", "port": 80}])["spec"]["clusterIP"]
            api.slice("web", [(ENDPOINT, True)], [{"name": "http", "port": PORT,
                                                   "protocol": "TCP"}])
            wait_for(lambda: greet(vip, 80), timeout=30, what="the clusterIP")
            size = args.bulk_mb << 20
            found: dict[str, float] = {}
            found["bulk_direct"], found["bulk_vip"] = paired(
                bulk, (ENDPOINT, PORT, size), (vip, 80, size))
            found["conn_direct"], found["conn_vip"] = paired(
                connections, (ENDPOINT, PORT, args.seconds), (vip, 80, args.seconds), runs=3)
            found.update(programming(api, args.services))
            return found
        finally:
            proxy.stop()


def programming(api: Api, services: int) -> dict[str, float]:
    names = [f"s{i}" for i in range(services)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: api.service(n, [{"name": "http", "port": 80}]), names))
        started = time.monotonic()
        list(pool.map(lambda pair: _stamped_slice(api, *pair), enumerate(names)))
    created = time.monotonic() - started
    wait_for(lambda: _histogram()[1] >= services, timeout=120, what="every slice programmed")
    buckets, count = _histogram()
    return {"created_s": created, "p50": _quantile(buckets, count, 0.50),
            "p99": _quantile(buckets, count, 0.99), "count": count}


def _stamped_slice(api: Api, index: int, name: str) -> None:
    addresses = [(f"10.{200 + index // 250}.{index % 250}.{i + 1}", True) for i in range(10)]
    stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00",
                                                                                  "Z")
    body_ports = [{"name": "http", "port": PORT, "protocol": "TCP"}]
    path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    api.call("POST", path, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-1", "labels": {"kubernetes.io/service-name": name},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time":
                                     stamp}},
        "addressType": "IPv4", "ports": body_ports,
        "endpoints": [{"addresses": [a], "conditions": {"ready": r}} for a, r in addresses]})


def _histogram() -> tuple[list[tuple[float, float]], float]:
    text = urllib.request.urlopen("http://127.0.0.1:10249/metrics", timeout=10).read().decode()
    buckets = [(float(le), float(n)) for le, n in BUCKET.findall(text)]
    count = max((n for _, n in buckets), default=0.0)
    return buckets, count


def _quantile(buckets: list[tuple[float, float]], count: float, q: float) -> float:
    for le, n in sorted(buckets):
        if n >= q * count:
            return le
    return float("inf")


def userspace_phase(tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    local = echo([], "127.0.10.1")
    try:
        with start_apiserver(tmp / "api-user", extra_args=[
                "--service-cluster-ip-range", "127.96.0.0/16"]) as server:
            api = Api(server.url)
            proxy = Proxy(server.url, tmp / "proxy-user.log", [
                "--hostname-override", "bench-u", "--proxy-mode", "userspace",
                "--healthz-bind-address", "0", "--metrics-bind-address", "0"]).start()
            try:
                vip = api.service("web", [{"name": "http", "port": 80}])["spec"]["clusterIP"]
                api.slice("web", [("127.0.10.1", True)], [{"name": "http", "port": PORT,
                                                           "protocol": "TCP"}])
                wait_for(lambda: greet(vip, 80), timeout=30, what="the userspace clusterIP")
                size = args.bulk_mb << 20
                bulk_direct, bulk_vip = paired(bulk, ("127.0.10.1", PORT, size),
                                               (vip, 80, size))
                rt = paired(round_trip_us, ("127.0.10.1", PORT), (vip, 80), pick=min)
                new = paired(connect_us, ("127.0.10.1", PORT), (vip, 80), pick=min)
                return {"bulk_direct": bulk_direct, "bulk_vip": bulk_vip,
                        "rt_direct": rt[0], "rt_vip": rt[1],
                        "connect_direct": new[0], "connect_vip": new[1]}
            finally:
                proxy.stop()
    finally:
        local.kill()
        local.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bulk-mb", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--min-sync-period", default="250ms",
                        help="the proxy's flag in the nftables phase (default: km's 250ms)")
    args = parser.parse_args()
    private_netns()
    netns = f"kmpxb-{secrets.token_hex(3)}"
    endpoint = None
    try:
        endpoint = endpoint_netns(netns)
        with tempfile.TemporaryDirectory(prefix="km-bench-proxy-") as tmp:
            nft = nftables_phase(Path(tmp), args)
            user = userspace_phase(Path(tmp), args)
    finally:
        if endpoint is not None:
            endpoint.kill()
            endpoint.wait(10)
        subprocess.run(["ip", "netns", "del", netns], check=False, timeout=10)
    report(nft, user, args)


def report(nft: dict[str, float], user: dict[str, float], args: argparse.Namespace) -> None:
    print(f"\n{os.cpu_count()} CPUs, bulk {args.bulk_mb} MiB per stream (best of 5), "
          f"connections for {args.seconds:g} s each (best of 3); runs interleaved\n")
    print("| mode | measure | direct | through the clusterIP | ratio |")
    print("|---|---|---:|---:|---:|")
    print(f"| nftables | bulk MB/s | {nft['bulk_direct']:.0f} | {nft['bulk_vip']:.0f} | "
          f"{nft['bulk_vip'] / nft['bulk_direct']:.2f} |")
    print(f"| nftables | short connections/s | {nft['conn_direct']:.0f} | "
          f"{nft['conn_vip']:.0f} | {nft['conn_vip'] / nft['conn_direct']:.2f} |")
    print(f"| userspace | bulk MB/s | {user['bulk_direct']:.0f} | {user['bulk_vip']:.0f} | "
          f"{user['bulk_vip'] / user['bulk_direct']:.2f} |")
    print(f"| userspace | ping-pong round trip µs (median) | {user['rt_direct']:.0f} | "
          f"{user['rt_vip']:.0f} | +{user['rt_vip'] - user['rt_direct']:.0f} µs |")
    print(f"| userspace | new connection + first line µs (median) | "
          f"{user['connect_direct']:.0f} | {user['connect_vip']:.0f} | "
          f"+{user['connect_vip'] - user['connect_direct']:.0f} µs |")
    print(f"\nNetwork programming latency (--min-sync-period {args.min_sync_period}), "
          f"{args.services} Services x 10 endpoints "
          f"(slices created in {nft['created_s']:.1f} s, {nft['count']:.0f} observed): "
          f"p50 <= {nft['p50']:g} s, p99 <= {nft['p99']:g} s")


if __name__ == "__main__":
    main()
