"""Web view benchmark: the pods view with 1,000 pods on hollow nodes, in headless Chromium.

    python bench/ui.py [--km dist/km.pyz] [--replicas 1000] [--nodes 100] [--loads 3]

In one run on this machine:

1. a fresh apiserver on SQLite (plain HTTP on loopback, where every request is the loopback
   admin, so the page logs in with any token), ``km hollow-node --nodes NODES``,
   ``km scheduler`` and ``km controller-manager --controllers deployment,replicaset``, all as
   processes; a Deployment of REPLICAS created and waited for until every pod is Ready;
2. time to first render: Chromium opens ``/ui/#/pods`` LOADS times (fresh profile each time,
   so the page's modules come over the wire); from navigation start to the first frame that
   shows all REPLICAS rows (a script installed before the page polls every frame): median
   and each run; also the first run with the modules already cached (304s), and the
   overview's first render of all NODES nodes with their requested-of-allocatable bars;
3. event to screen during a rollout: with the pods view open, the Deployment's template is
   changed (``kubectl set image``'s strategic merge patch) and the rollout runs to complete
   (every old pod gone); the page records when each watch event reached its informer and when
   each frame's render started, ended and had been laid out and painted (a task queued from
   the frame); per event the time to the paint of the first frame rendered after it came:
   p50, p99, max; the events and frames counted; per frame the render's script time and the
   style, layout and paint after it.

Chromium gets the same offline flags as the tests (tests/ui/browser.py). Prints Markdown for
docs/benchmarks.md; other processes share the CPU (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.deployment import deployment, roll_out, wait_complete  # noqa: E402
from bench.support.hollow import hollow_cluster, wait_nodes  # noqa: E402
from servers.client.resources import DEPLOYMENTS  # noqa: E402
from servers.client.rest import Client  # noqa: E402
from tests.ui.browser import chromium  # noqa: E402

# Before the page's own scripts: log in (the plain port takes any token) and watch for the
# frame that first shows every row.
FIRST_RENDER = """
sessionStorage.setItem("km.token", "bench");
window.__kmFull = 0;
(function poll() {
  const body = document.querySelector("%s tbody");
  if (body && body.children.length >= %d) { window.__kmFull = performance.now(); return; }
  requestAnimationFrame(poll);
})();
"""


def first_render(url: str, rows: int, cached: bool, view: str = "pods") -> float:
    """Milliseconds from navigation start to all rows of the view's first table on screen
    (#pods, or #nodes for the overview), in a fresh browser."""
    table = "#pods" if view == "pods" else "#nodes"
    with chromium() as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": FIRST_RENDER % (table, rows)})
        if cached:  # one load to fill the cache, then the measured one
            driver.get(url + "#/" + view)
            wait(driver, "return window.__kmFull")
            driver.refresh()
        driver.get(url + "#/" + view)
        return float(wait(driver, "return window.__kmFull"))


def wait(driver: Any, script: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.execute_script(script)
        if found:
            return found
        time.sleep(0.05)
    raise SystemExit(f"timed out: {script}")


def event_to_screen(trace: list[list[Any]]) -> tuple[list[float], list[list[float]]]:
    """Per event, ms to the end of the painted frame whose render started after it came; and
    the frames as [render start, render end, painted]."""
    frames = sorted(entry[1:] for entry in trace if entry[0] == "frame")
    latencies: list[float] = []
    i = 0
    for t in sorted(entry[1] for entry in trace if entry[0] == "event"):
        while i < len(frames) and frames[i][0] < t:
            i += 1
        if i < len(frames):
            latencies.append(frames[i][2] - t)
    return latencies, frames


async def rollout(url: str, replicas: int) -> float:
    async with Client(url, request_timeout=60.0) as client:
        return await roll_out(client, replicas)


def during_rollout(api: str, replicas: int) -> dict[str, Any]:
    url = api + "/ui/"
    with chromium() as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": FIRST_RENDER % ("#pods", replicas)})
        driver.get(url + "#/pods")
        wait(driver, "return window.__kmFull")
        driver.execute_script("window.__kmTrace = []")
        seconds = asyncio.run(rollout(api, replicas))
        time.sleep(1.0)  # the last events' frames
        trace = driver.execute_script("return window.__kmTrace")
        rows = driver.execute_script("return document.querySelectorAll('#pods tbody tr').length")
    latencies, frames = event_to_screen(trace)
    return {"seconds": seconds, "latencies": latencies, "frames": len(frames), "rows": rows,
            "script": [end - start for start, end, _ in frames],
            "layout": [painted - end for _, end, painted in frames]}


async def create(url: str, replicas: int, nodes: int) -> float:
    async with Client(url, request_timeout=60.0) as client:
        await wait_nodes(client, nodes)
        started = time.monotonic()
        await client.create(DEPLOYMENTS, deployment(replicas), "default")
        return await wait_complete(client, replicas, 1) - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--km", type=Path, default=None, help="a built km.pyz (default: the source)")
    p.add_argument("--replicas", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--loads", type=int, default=3)
    opts = p.parse_args()
    with hollow_cluster(opts.km, opts.nodes, "deployment,replicaset") as api:
        made = asyncio.run(create(api, opts.replicas, opts.nodes))
        url = api + "/ui/"
        loads = [first_render(url, opts.replicas, cached=False) for _ in range(opts.loads)]
        cached = first_render(url, opts.replicas, cached=True)
        overview = first_render(url, opts.nodes, cached=False, view="overview")
        roll = during_rollout(api, opts.replicas)
    print_result(opts, made, loads, cached, overview, roll)
    return 0


def print_result(opts: argparse.Namespace, made: float, loads: list[float], cached: float,
                 overview: float, roll: dict[str, Any]) -> None:
    n = opts.replicas
    lat = roll["latencies"]
    print(f"Web view: the pods view with {n} pods on {opts.nodes} hollow nodes, headless "
          f"Chromium (load average {os.getloadavg()[0]:.1f}; the Deployment took "
          f"{made:.0f} s to be Ready)\n")
    print("| measure | value |\n|---|---|")
    print(f"| first render, all {n} rows (navigation start to the frame), median of "
          f"{len(loads)} | {statistics.median(loads):.0f} ms "
          f"({', '.join(f'{x:.0f}' for x in loads)}) |")
    print(f"| the same, modules cached (304s) | {cached:.0f} ms |")
    print(f"| the overview: {opts.nodes} nodes with their bars over {n} pods | "
          f"{overview:.0f} ms |")
    print(f"| rollout of {n} replicas to complete (API) | {roll['seconds']:.1f} s |")
    if lat:
        print(f"| event to screen during it, p50 / p99 / max | {percentile(lat, 0.5):.0f} / "
              f"{percentile(lat, 0.99):.0f} / {max(lat):.0f} ms |")
    print(f"| watch events / painted frames during it | {len(lat)} / {roll['frames']} |")
    if roll["script"]:
        print(f"| per frame: the render's script, p50 / max | "
              f"{statistics.median(roll['script']):.0f} / {max(roll['script']):.0f} ms |")
        print(f"| per frame: style, layout and paint after it, p50 / max | "
              f"{statistics.median(roll['layout']):.0f} / {max(roll['layout']):.0f} ms |")
    print(f"| rows at the end | {roll['rows']} |")


if __name__ == "__main__":
    sys.exit(main())
