"""The keyed work queue: dedupe while waiting, one worker per key, dirty keys come back."""

from __future__ import annotations

import asyncio

from servers.hollow_node.queue import WorkQueue


async def test_a_waiting_key_is_queued_once() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add("b")
    queue.add("a")
    assert len(queue) == 2
    assert [await queue.get(), await queue.get()] == ["a", "b"]


async def test_a_key_added_while_processed_comes_back_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")                       # dirty, but not handed to a second worker
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.done(key)
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_retry_backs_off_per_key_and_forget_resets() -> None:
    queue = WorkQueue(initial=0.001, cap=0.004)
    queue.add("a")
    key = await queue.get()
    queue.done(key)
    assert queue.retry(key) == 0.001
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.done("a")
    assert queue.retry("a") == 0.002
    assert queue.retry("a") == 0.004
    assert queue.retry("a") == 0.004     # capped
    queue.forget("a")
    assert queue.retry("a") == 0.001
    queue.close()
