"""The keyed work queue: dedupe, one worker per key, per-key backoff, shutdown, workers."""

from __future__ import annotations

import asyncio

import pytest

from servers.client.workqueue import BASE_DELAY, MAX_DELAY, WorkQueue, run_workers


class Counts:
    def __init__(self) -> None:
        self.adds = self.retries = 0
        self.depths: list[int] = []

    def added(self) -> None:
        self.adds += 1

    def depth(self, value: int) -> None:
        self.depths.append(value)

    def retried(self) -> None:
        self.retries += 1


async def test_a_waiting_key_is_queued_once() -> None:
    queue = WorkQueue("q")
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]


async def test_a_key_in_processing_is_not_handed_out_again_until_done() -> None:
    queue = WorkQueue("q")
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # dirty, but not in line while a worker holds it
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.done("a")
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_done_without_a_new_add_does_not_requeue() -> None:
    queue = WorkQueue("q")
    queue.add("a")
    await queue.get()
    queue.done("a")
    assert len(queue) == 0


async def test_backoff_doubles_from_5ms_to_1000s_and_forget_resets_it() -> None:
    queue = WorkQueue("q")
    assert queue.when("k") == BASE_DELAY
    delays = []
    for _ in range(20):
        delays.append(queue.when("k"))
        queue.add_rate_limited("k")
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert queue.num_requeues("k") == 20
    for _ in range(60):
        queue.add_rate_limited("k")
    assert queue.when("k") == MAX_DELAY
    queue.forget("k")
    assert queue.when("k") == BASE_DELAY and queue.num_requeues("k") == 0
    queue.shut_down()


async def test_add_rate_limited_comes_back_after_the_delay() -> None:
    counts = Counts()
    queue = WorkQueue("q", base_delay=0.02, metrics=counts)
    queue.add_rate_limited("k")
    assert len(queue) == 0
    assert await asyncio.wait_for(queue.get(), 1) == "k"
    assert counts.retries == 1 and counts.adds == 1


async def test_add_after_keeps_the_earliest_time() -> None:
    queue = WorkQueue("q")
    queue.add_after("k", 100)
    queue.add_after("k", 0.01)
    queue.add_after("k", 50)
    assert await asyncio.wait_for(queue.get(), 1) == "k"


async def test_shut_down_wakes_getters_and_refuses_keys() -> None:
    queue = WorkQueue("q")
    getters = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.add_after("late", 0.01)
    queue.shut_down()
    assert await asyncio.gather(*getters) == [None, None, None]
    queue.add("x")
    await asyncio.sleep(0.02)
    assert await queue.get() is None


async def test_depth_metric_follows_the_line() -> None:
    counts = Counts()
    queue = WorkQueue("q", metrics=counts)
    queue.add("a")
    queue.add("b")
    await queue.get()
    assert counts.depths == [1, 2, 1] and counts.adds == 2


async def test_workers_never_sync_one_key_twice_at_once_and_retry_failures() -> None:
    queue = WorkQueue("q", base_delay=0.001)
    running: set[str] = set()
    seen: list[str] = []
    failed: set[str] = set()
    stop = asyncio.Event()

    async def sync(key: str) -> None:
        assert key not in running, "one key handed to two workers"
        running.add(key)
        try:
            await asyncio.sleep(0.005)
            queue.add(key if len(seen) < 30 else "other")  # an event arriving mid-sync
            seen.append(key)
            if key == "bad" and key not in failed:
                failed.add(key)
                msg = "boom"
                raise RuntimeError(msg)
        finally:
            running.discard(key)

    task = asyncio.ensure_future(run_workers(queue, sync, 4, stop))
    for key in ("a", "b", "bad", "a", "b"):
        queue.add(key)
    for _ in range(200):
        if len(seen) >= 40:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert {"a", "b", "bad"} <= set(seen)
    assert seen.count("bad") >= 2  # retried after the failure
    assert queue.num_requeues("bad") == 0  # forgotten after the later success


@pytest.mark.parametrize("workers", [1, 3])
async def test_run_workers_returns_on_stop_with_an_idle_queue(workers: int) -> None:
    queue = WorkQueue("q")
    stop = asyncio.Event()
    task = asyncio.ensure_future(run_workers(queue, lambda key: asyncio.sleep(0), workers,
                                             stop))
    await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert queue.shutting_down
