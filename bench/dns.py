"""km dns against a bare asyncio UDP responder: queries/s and latency for Service names.

    .venv/bin/python bench/dns.py [--services 100] [--seconds 5] [--window 16] [--runs 3]

The same run starts, on 127.0.0.1:

* a real apiserver (tests/support/apiserver.py) holding ``--services`` ClusterIP Services,
  and ``km dns`` from source watching it (``--upstream none``, metrics on, as deployed);
* a bare responder: an ``asyncio.DatagramProtocol`` in its own process that answers each
  datagram with the same bytes, QR bit set — the ceiling of a Python UDP server on this
  machine (no parsing, no lookup, no metrics; see ``BARE`` on its imports);

then drives each in turn, alternating, with one load process: ``--window`` queries in flight
over one UDP socket, for A records of the Service names in turn (random IDs), for
``--seconds``. It prints queries/s, p50 and p99 latency of each, and the ratio. Every reply
to km dns is checked to be NOERROR with one answer. Not a test: the numbers go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named dns.py: keep its folder off the path so `import dns` finds dnspython.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.support.procfs import cpu_seconds  # noqa: E402
from tests.support.apiserver import start_apiserver  # noqa: E402

SERVING = re.compile(r"serving DNS for \S+ on 127\.0\.0\.1:(\d+)")
# The bare responder imports km dns's modules first though it uses none of them: on this
# machine a bare process without them measured ~20 us of CPU per datagram against ~8 us with
# them (same code; the cause, below Python, was not pinned down), so the ceiling is taken with
# the same interpreter state as km dns.
BARE = """
import asyncio, sys
import servers.dns.app
class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        self.transport.sendto(data[:2] + bytes([data[2] | 0x80]) + data[3:], addr)
async def main():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


# queries/s, p50 ms, p99 ms, errors, server CPU us per query, server wake-ups per query
Result = tuple[float, float, float, int, float, float]


def queries(names: list[str]) -> list[bytes]:
    import dns.message

    return [dns.message.make_query(name, "A").to_wire() for name in names]


class _Load(asyncio.DatagramProtocol):
    def __init__(self, wires: list[bytes], window: int, seconds: float, check: bool) -> None:
        self.wires, self.window, self.seconds, self.check = wires, window, seconds, check
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.next = 0
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.deadline = time.perf_counter() + self.seconds
        for _ in range(self.window):
            self._send()

    def _send(self) -> None:
        qid = random.getrandbits(16)
        while qid in self.sent:
            qid = random.getrandbits(16)
        wire = self.wires[self.next % len(self.wires)]
        self.next += 1
        self.sent[qid] = time.perf_counter()
        assert self.transport is not None
        self.transport.sendto(struct.pack("!H", qid) + wire[2:])

    def datagram_received(self, data: bytes, addr: object) -> None:
        now = time.perf_counter()
        start = self.sent.pop(struct.unpack("!H", data[:2])[0], None)
        if start is None:
            return
        self.latencies.append(now - start)
        # NOERROR with one answer: rcode 0, ANCOUNT 1.
        if self.check and (data[3] & 0x0F or data[6:8] != b"\x00\x01"):
            self.errors += 1
        if now < self.deadline:
            self._send()
        elif not self.sent and not self.done.done():
            self.done.set_result(None)


def switches(pid: int) -> int:
    """Context switches of a process so far: each is a sleep and a wake-up (Linux /proc)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.endswith("ctxt_switches") or "ctxt_switches:" in line:
            total += int(line.split()[1])
    return total


async def drive(port: int, wires: list[bytes], window: int, seconds: float,
                check: bool) -> tuple[float, float, float, int]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    transport, load = await loop.create_datagram_endpoint(
        lambda: _Load(wires, window, seconds, check), remote_addr=("127.0.0.1", port))
    try:
        await asyncio.wait_for(load.done, seconds + 5)
    except asyncio.TimeoutError:
        load.errors += len(load.sent)  # lost datagrams
    elapsed = time.perf_counter() - start
    transport.close()
    lat = sorted(load.latencies)
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
    return len(lat) / elapsed, statistics.median(lat) * 1e3, p99 * 1e3, load.errors


def create_services(url: str, count: int) -> list[str]:
    for i in range(count):
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}"},
                "spec": {"ports": [{"name": "http", "port": 80}]}}
        request = urllib.request.Request(
            url + "/api/v1/namespaces/default/services", data=json.dumps(body).encode(),
            method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
    return [f"svc-{i}.default.svc.cluster.local" for i in range(count)]


def start_dns(url: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "servers.km", "dns", "--master", url, "--bind-address",
         "127.0.0.1", "--port", "0", "--metrics-port", "0", "--upstream", "none"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        match = SERVING.search(line)
        if match:
            return proc, int(match.group(1))
    raise RuntimeError("km dns did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_apiserver(Path(tmp) / "data") as api:
        names = create_services(api.url, args.services)
        km, km_port = start_dns(api.url)
        bare = subprocess.Popen([sys.executable, "-c", BARE], stdout=subprocess.PIPE,
                                text=True, cwd=ROOT)
        assert bare.stdout is not None
        bare_port = int(bare.stdout.readline())
        try:
            wires = queries(names)
            results: dict[str, list[Result]] = {"bare": [], "km": []}
            for _ in range(args.runs):
                for label, proc, port in (("bare", bare, bare_port), ("km", km, km_port)):
                    cpu, woken = cpu_seconds(proc.pid), switches(proc.pid)
                    qps, p50, p99, errors = asyncio.run(drive(
                        port, wires, args.window, args.seconds, check=label == "km"))
                    count = qps * args.seconds
                    results[label].append((
                        qps, p50, p99, errors, (cpu_seconds(proc.pid) - cpu) / count * 1e6,
                        (switches(proc.pid) - woken) / count))
        finally:
            for proc in (km, bare):
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, list[Result]]) -> None:
    print(f"{args.services} Services, window {args.window}, {args.runs} x {args.seconds:g} s"
          f" each, CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'server':6} {'queries/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'CPU us/query':>13} {'wakeups/query':>14}")
    for label, runs in results.items():
        for qps, p50, p99, errors, cpu, wakeups in runs:
            print(f"{label:6} {qps:10.0f} {p50:8.3f} {p99:8.3f} {errors:7d} {cpu:13.1f} "
                  f"{wakeups:14.2f}")
    medians = {label: statistics.median(run[0] for run in runs)
               for label, runs in results.items()}
    cpus = {label: statistics.median(run[4] for run in runs) for label, runs in results.items()}
    print(f"km/bare queries/s (medians): {medians['km'] / medians['bare']:.2f}; "
          f"server CPU per query km/bare: {cpus['km'] / cpus['bare']:.2f}")


if __name__ == "__main__":
    main()
