"""The kubelet's stop is bounded: a task stuck in a request on a dead link is cancelled."""

from __future__ import annotations

import asyncio

from servers.kubelet.app import _finish


async def test_finish_waits_for_tasks_that_end_and_cancels_one_that_hangs() -> None:
    ended = asyncio.ensure_future(asyncio.sleep(0.01))
    stuck = asyncio.ensure_future(asyncio.sleep(3600))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await _finish([ended, stuck], 0.05)
    assert loop.time() - start < 1
    assert ended.done() and not ended.cancelled()
    assert stuck.cancelled()


async def test_finish_of_nothing_returns_at_once() -> None:
    await _finish([], 10)
