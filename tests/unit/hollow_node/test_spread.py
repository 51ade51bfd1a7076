"""Spread: names at evenly spaced slots of the period, bounded in flight, quick retries."""

from __future__ import annotations

import asyncio

import pytest

from servers.hollow_node.spread import Spread


async def test_slots_are_spread_evenly_over_the_period() -> None:
    async def nothing(name: str) -> bool:
        return True

    spread = Spread(10.0, nothing, slots=4)
    spread._epoch = epoch = 1000.0   # exact in binary, so the sums below are too
    dues = [spread._next_due(slot, epoch) - epoch for slot in range(4)]
    assert dues == [10.0, 2.5, 5.0, 7.5]
    assert spread._next_due(1, epoch + 2.5) - epoch == 12.5   # strictly after
    assert spread._next_due(1, epoch + 2.4) - epoch == 2.5


async def test_each_name_runs_once_per_period_with_bounded_concurrency() -> None:
    runs: dict[str, int] = {}
    in_flight = peak = 0

    async def action(name: str) -> bool:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        runs[name] = runs.get(name, 0) + 1
        in_flight -= 1
        return True

    spread = Spread(0.1, action, slots=20, concurrency=3)
    for i in range(20):
        spread.add(f"n{i}", i)
    stop = asyncio.Event()
    task = asyncio.ensure_future(spread.run(stop))
    for _ in range(200):             # a loaded machine may need longer than one period
        if len(runs) == 20:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert peak <= 3
    assert set(runs) == {f"n{i}" for i in range(20)}
    assert spread.stats.done == sum(runs.values())


async def test_a_failure_is_retried_before_the_next_period() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky(name: str) -> bool:
        calls.append(loop.time())
        return len(calls) > 1

    spread = Spread(5.0, flaky, slots=1, retry=0.02)
    spread._epoch = loop.time() - 5.0 + 0.01   # slot 0 is due in 10 ms
    spread.add("n", 0)
    stop = asyncio.Event()
    task = asyncio.ensure_future(spread.run(stop))
    for _ in range(100):
        if len(calls) >= 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert len(calls) == 2 and calls[1] - calls[0] < 1.0
    assert (spread.stats.failed, spread.stats.done) == (1, 1)


async def test_an_unexpected_error_ends_run() -> None:
    async def broken(name: str) -> bool:
        raise RuntimeError("bug")

    spread = Spread(0.05, broken, slots=1)
    spread.add("n", 0)
    with pytest.raises(RuntimeError, match="bug"):
        await asyncio.wait_for(spread.run(asyncio.Event()), 1)
