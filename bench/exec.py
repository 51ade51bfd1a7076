"""exec benchmark: ``kubectl exec POD -- true`` round trip against running ``true`` directly.

    python bench/exec.py [--km dist/km.pyz] [--runs 40] [--isolation both|none|namespaces]

Per isolation (``none``; then ``namespaces`` when run as root, as bench/kubelet.py: the run
re-executes itself under ``unshare -n``, a network namespace with only loopback and no route
out) one km.pyz apiserver (SQLite, plain HTTP on loopback) and one ``km kubelet`` run, with one
pod (``sleep 3600``). Then, interleaved run by run so all three see the same machine:

- direct: ``true`` started by this process (fork + exec, wait);
- kubectl get: ``kubectl get pod POD`` — kubectl's own start-up and one API request, the part
  of an exec that is not the exec;
- kubectl exec: ``kubectl exec POD -- true`` — kubectl's WebSocket (v5.channel.k8s.io) to the
  apiserver, the relay (servers/apiserver/podstream.py) to the kubelet, the kubelet's exec in
  the pod (a host process under none, ``runc exec`` under namespaces), the exit Status back;
- relay: the same exec as one WebSocket (v4.channel.k8s.io) from this process, through the
  apiserver and straight to the kubelet (with the apiserver's client certificate): the
  difference is what the relay adds to a round trip.

Prints p50 and p99 of each and the ratios exec/direct and exec/get, as Markdown for
docs/benchmarks.md. Other processes share the CPU: read the figures as this machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from kubelet import pct  # noqa: E402

from bench.support import node  # noqa: E402
from servers.client.resources import NODES  # noqa: E402
from servers.client.rest import Client  # noqa: E402

INSIDE = "KM_BENCH_EXEC_NETNS"
POD = "exec-bench"


@dataclass
class Figures:
    isolation: str
    direct: list[float] = field(default_factory=list)
    get: list[float] = field(default_factory=list)
    exec: list[float] = field(default_factory=list)
    via_api: list[float] = field(default_factory=list)
    to_kubelet: list[float] = field(default_factory=list)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        msg = f"bench/exec.py: {' '.join(cmd)} failed: {done.stderr.decode().strip()}"
        raise RuntimeError(msg)
    return seconds


async def one_exec(session: aiohttp.ClientSession, url: str, ssl_context: Any) -> float:
    """Open an exec WebSocket, read until the close frame comes; the seconds that took (the
    close handshake and TLS teardown after it are not counted)."""
    start = time.perf_counter()
    async with session.ws_connect(url, protocols=("v4.channel.k8s.io",), ssl=ssl_context,
                                  autoclose=False) as ws:
        while (await ws.receive()).type is aiohttp.WSMsgType.BINARY:
            pass  # the empty first message, then the exit Status
        took = time.perf_counter() - start
    return took


async def relay_runs(url: str, certs: Path, runs: int, figures: Figures) -> None:
    """Interleaved: exec ``true`` through the apiserver, then straight to the kubelet."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(certs / "admin.crt", certs / "admin.key")
    async with Client(url) as client:
        registered = await client.get(NODES, node.NODE)
    address = registered["status"]["addresses"][0]["address"]
    port = registered["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    via_api = f"{url}/api/v1/namespaces/default/pods/{POD}/exec?command=true&stdout=true"
    direct = f"https://{address}:{port}/exec/default/{POD}/c?command=true&output=1"
    async with aiohttp.ClientSession() as session:
        await one_exec(session, via_api, None)  # warm
        for _ in range(runs):
            figures.via_api.append(await one_exec(session, via_api, None))
            figures.to_kubelet.append(await one_exec(session, direct, context))


def run_one(km: Path, isolation: str, runs: int) -> Figures:
    """One kubelet (trusting the cluster CA for the apiserver's client certificate: it
    answers only an apiserver with a client certificate from its CA), its pod, and the
    timed runs."""
    figures = Figures(isolation)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with node.trusted_apiserver(km, tmp) as (api, certs), \
                node.kubelet(km, api.url, isolation, tmp, client_ca=certs / "ca.crt"):
            container = {"name": "c", "image": "busybox", "command": ["sleep", "3600"]}
            asyncio.run(node.run_pod(api.url, POD, container))
            kubectl = ["kubectl", "--server", api.url, "--cache-dir", str(tmp / "cache")]
            timed([*kubectl, "exec", POD, "--", "true"])  # warm: discovery cache, first dial
            for _ in range(runs):
                figures.direct.append(timed(["true"]))
                figures.get.append(timed([*kubectl, "get", "pod", POD]))
                figures.exec.append(timed([*kubectl, "exec", POD, "--", "true"]))
            asyncio.run(relay_runs(api.url, certs, runs, figures))
    return figures


def report(rows: list[Figures], runs: int) -> None:
    load = os.getloadavg()[0]
    print(f"\n{runs} runs each, interleaved; load average {load:.1f}")
    print("| isolation | direct `true` p50 / p99 | `kubectl get pod` p50 / p99 | "
          "`kubectl exec -- true` p50 / p99 | exec / direct p50 / p99 | exec / get p50 / p99 |")
    print("|---|---:|---:|---:|---:|---:|")
    for f in rows:
        d50, d99 = pct(f.direct, 0.5), pct(f.direct, 0.99)
        g50, g99 = pct(f.get, 0.5), pct(f.get, 0.99)
        e50, e99 = pct(f.exec, 0.5), pct(f.exec, 0.99)
        print(f"| {f.isolation} | {d50 * 1000:.1f} / {d99 * 1000:.1f} ms | "
              f"{g50 * 1000:.0f} / {g99 * 1000:.0f} ms | {e50 * 1000:.0f} / {e99 * 1000:.0f} ms"
              f" | {e50 / d50:.0f}x / {e99 / d99:.0f}x | {e50 / g50:.2f} / {e99 / g99:.2f} |")
    print("\nOne exec WebSocket from Python, through the apiserver's relay and straight to the "
          "kubelet")
    print("| isolation | via the apiserver p50 / p99 | straight to the kubelet p50 / p99 | "
          "the relay adds (p50) |")
    print("|---|---:|---:|---:|")
    for f in rows:
        a50, a99 = pct(f.via_api, 0.5), pct(f.via_api, 0.99)
        k50, k99 = pct(f.to_kubelet, 0.5), pct(f.to_kubelet, 0.99)
        print(f"| {f.isolation} | {a50 * 1000:.1f} / {a99 * 1000:.1f} ms | "
              f"{k50 * 1000:.1f} / {k99 * 1000:.1f} ms | {(a50 - k50) * 1000:+.1f} ms |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=ROOT / "dist" / "km.pyz")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--isolation", choices=("both", "none", "namespaces"), default="both")
    args = p.parse_args()
    code = node.own_network_namespace(INSIDE, __file__, wanted=args.isolation != "none")
    if code is not None:
        return code
    rows = [run_one(args.km.resolve(), isolation, args.runs)
            for isolation in node.isolations(args.isolation, "bench/exec.py")]
    report(rows, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
