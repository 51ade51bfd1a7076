"""Pod sandbox benchmark: set-up time per pod and the runtime's overhead per pod.

For each runtime (``namespaces``: runc + conmon, netns + veth + pins; ``none``: processes
under conmon on loopback IPs) it makes PODS sandboxes one after another, each with one
``sleep`` container, and times ``run_pod_sandbox``, ``create_container`` and
``start_container``; then it reads the RSS and PSS (``/proc/PID/smaps_rollup``) of every
conmon, the only process the runtime adds per container (the namespaces and the bridge are
kernel objects; no Python process per pod). Root only; the whole run happens inside a fresh
network namespace (the script re-executes itself under ``unshare -n``), and everything is
removed at the end. Prints a table.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from servers.kubelet.runtime.base import MonitoredRuntime  # noqa: E402
from servers.kubelet.runtime.interface import ContainerConfig, PodSandboxConfig  # noqa: E402
from servers.kubelet.runtime.oci import NamespacesRuntime  # noqa: E402
from servers.kubelet.runtime.process import ProcessRuntime  # noqa: E402

PODS = int(os.environ.get("BENCH_PODS", "20"))
INSIDE = "KM_BENCH_PRIVATE_NETNS"


def main() -> int:
    if os.geteuid() != 0:
        print("bench/sandbox.py: needs root (network namespaces, cgroups)", file=sys.stderr)
        return 1
    if os.environ.get(INSIDE) != "1":
        env = {**os.environ, INSIDE: "1"}
        return subprocess.call(["unshare", "-n", sys.executable, __file__, *sys.argv[1:]],
                               env=env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    rows = [asyncio.run(measure(kind)) for kind in ("namespaces", "none")]
    print_table(rows)
    return 0


async def measure(kind: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        node = f"bench-{os.getpid()}"
        runtime: MonitoredRuntime = (
            NamespacesRuntime(tmp, node, "10.244.9.0/24", "10.244.0.0/16", "10.96.0.0/12")
            if kind == "namespaces" else ProcessRuntime(tmp, node))
        sandbox, create, start, rss, pss = [], [], [], [], []
        try:
            for i in range(PODS):
                t0 = time.perf_counter()
                sid = await runtime.run_pod_sandbox(
                    PodSandboxConfig(name=f"pod-{i}", namespace="bench", uid=str(i)))
                t1 = time.perf_counter()
                cid = await runtime.create_container(
                    sid, ContainerConfig(name="c", command=("sleep", "1000")))
                t2 = time.perf_counter()
                await runtime.start_container(cid)
                t3 = time.perf_counter()
                sandbox.append(t1 - t0)
                create.append(t2 - t1)
                start.append(t3 - t2)
            for status in await runtime.list_containers():
                conmon_pid = int(Path(runtime.store.dir("containers", status.id),
                                      "conmon.pid").read_text())
                kib = memory_kib(conmon_pid)
                rss.append(kib["Rss"])
                pss.append(kib["Pss"])
            t4 = time.perf_counter()
        finally:
            await runtime.remove_all()
        teardown = (time.perf_counter() - t4) / PODS
    return {"kind": kind, "sandbox": sandbox, "create": create, "start": start,
            "rss": rss, "pss": pss, "teardown": teardown}


def memory_kib(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        found[key] = int(value.split()[0])
    return found


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{statistics.median(values) * 1000:6.1f} / {p90 * 1000:6.1f}"


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{PODS} pods, one sleep container each; times median / p90 in ms")
    print("| runtime | run_pod_sandbox | create_container | start_container | "
          "remove (per pod) | conmon RSS KiB | conmon PSS KiB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        rss, pss = row["rss"], row["pss"]
        assert isinstance(rss, list) and isinstance(pss, list)
        print(f"| {row['kind']} | {ms(row['sandbox'])} | {ms(row['create'])} | "  # type: ignore[arg-type]
              f"{ms(row['start'])} | {row['teardown'] * 1000:.1f} | "  # type: ignore[arg-type, operator]
              f"{statistics.median(rss):.0f} | {statistics.median(pss):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
