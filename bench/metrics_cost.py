"""What /metrics and Priority admission add to each request, in microseconds of CPU.

    python bench/metrics_cost.py [--n 50000]

In-process, no network (an HTTP A/B on this shared machine swings by ±40 %): the metrics
middleware around a handler that answers at once (labels from the route, counter and
histogram children kept per label set), the storage timing wrapper around a storage that
answers at once, and Priority admission of a pod naming a class and of one naming none.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from servers.apiserver.admission import priority
from servers.apiserver.metrics import ApiserverMetrics, InstrumentedStorage


async def per_call(call: Callable[[], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n * 1e6


class _Instant:
    async def create(self, key: str, value: bytes) -> int:
        return 1

    async def get(self, key: str) -> None:
        raise KeyError(key)


async def main(n: int) -> None:
    metrics = ApiserverMetrics()
    request = make_mocked_request("POST", "/api/v1/namespaces/default/pods",
                                  match_info={"version": "v1", "rest": "namespaces/default/pods"})
    response = web.Response(status=201)

    async def handler(_: web.Request) -> web.StreamResponse:
        return response

    bare = await per_call(lambda: handler(request), n)
    wrapped = await per_call(lambda: metrics.middleware(request, handler), n)
    print(f"metrics middleware: {wrapped - bare:.2f} us per request")
    raw, timed = _Instant(), InstrumentedStorage(_Instant(), metrics)  # type: ignore[arg-type]
    key = "/registry/pods/default/p"
    plain = await per_call(lambda: raw.create(key, b"x"), n)
    measured = await per_call(lambda: timed.create(key, b"x"), n)
    print(f"storage timing: {measured - plain:.2f} us per storage call")
    classes = priority.PriorityClasses(_Instant(), None)  # type: ignore[arg-type]
    classes.classes["batch"] = {"metadata": {"name": "batch"}, "value": 5}
    for label, spec in (("a named class", {"priorityClassName": "batch"}), ("no class", {})):
        pods = [{"metadata": {"name": "p"}, "spec": dict(spec)} for _ in range(n)]
        start = time.perf_counter()
        for pod in pods:
            await priority.admit_pod_create(classes, pod)
        cost = (time.perf_counter() - start) / n * 1e6
        print(f"Priority admission, {label}: {cost:.2f} us per pod create")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000)
    asyncio.run(main(parser.parse_args().n))
