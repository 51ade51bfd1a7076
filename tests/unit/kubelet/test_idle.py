"""The stream idle timer (servers/kubelet/idle.py) on a real event loop, in milliseconds."""

from __future__ import annotations

import asyncio
import itertools

from servers.kubelet.idle import IdleTimer

TIMEOUT = 0.05


async def test_an_untouched_timer_fires_once_after_the_timeout() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    timer = IdleTimer(TIMEOUT, lambda: calls.append(loop.time()))
    await asyncio.sleep(TIMEOUT * 4)
    assert len(calls) == 1 and calls[0] - start >= TIMEOUT * 0.99 and timer.fired


async def test_touches_put_it_off_until_they_stop() -> None:
    loop = asyncio.get_running_loop()
    for _ in range(20):
        calls: list[float] = []
        timer = IdleTimer(TIMEOUT, lambda into=calls: into.append(loop.time()))
        touches = [timer.last]
        for _ in range(12):  # 3 timeouts' worth of traffic, never a timeout's worth of silence
            await asyncio.sleep(TIMEOUT / 4)
            timer.touch()
            touches.append(timer.last)
        # A stalled process (a loaded machine, a long GC) can leave a timeout's worth of
        # silence between two touches, and then the timer rightly fires: try again. A timer
        # that fired without such a gap is wrong.
        if max(b - a for a, b in itertools.pairwise(touches)) < TIMEOUT:
            break
        timer.cancel()
    else:
        raise AssertionError("20 tries, each stalled for a timeout: cannot judge")
    assert not calls
    last = timer.last
    await asyncio.sleep(TIMEOUT * 3)
    assert len(calls) == 1 and calls[0] - last >= TIMEOUT * 0.99


async def test_zero_never_fires_and_cancel_stops_it() -> None:
    calls: list[str] = []
    never = IdleTimer(0, lambda: calls.append("zero"))
    never.touch()
    stopped = IdleTimer(TIMEOUT, lambda: calls.append("cancelled"))
    stopped.cancel()
    await asyncio.sleep(TIMEOUT * 3)
    assert calls == [] and not never.fired and not stopped.fired


async def test_an_awaitable_it_returns_is_run() -> None:
    closed = asyncio.Event()

    async def close() -> None:
        closed.set()

    IdleTimer(TIMEOUT, close)
    await asyncio.wait_for(closed.wait(), 1)
