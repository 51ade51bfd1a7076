"""One bounded poll for the tests: ask a probe until it answers, fail naming what was awaited.

    WAIT, POLL = 30.0, 0.2     # each test file its own bound and pace
    out = until(lambda: kubectl("get", "pod", "web").stdout, "pod web", WAIT, POLL)
    nodes = await eventually(bound, "6 bound pods", WAIT, POLL, detail=lambda: log[-5:])
    until(lambda: greet(vip, 80), "the clusterIP", WAIT, POLL, retry_on=(OSError,))

A probe's first truthy answer is returned. The probe is asked once more after the deadline,
so a machine too loaded to wake the loop in time still gets its last look, and then the test
fails with ``timed out waiting for WHAT after N s`` plus, when given, ``detail()`` (a log tail,
the last status) and the last error a ``retry_on`` exception carried. Each test file keeps its
own timeout and interval (a shorter timeout is a flaky test under CPU load), so pass them.

Not a sleep-until-deadline: it returns as soon as the probe answers. Not for waits of
another shape (an event to wait on, a stream to read until a text shows): those keep theirs.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, NoReturn

import pytest

TIMEOUT = 10.0
INTERVAL = 0.05

Detail = Callable[[], object] | None
Retry = tuple[type[BaseException], ...]


def until(probe: Callable[[], Any], what: str, timeout: float = TIMEOUT,
          interval: float = INTERVAL, *, detail: Detail = None, retry_on: Retry = ()) -> Any:
    """``probe()``'s first truthy answer, asked every ``interval`` s for ``timeout`` s.

    An exception of a ``retry_on`` type counts as a falsy answer (and is named on failure);
    any other propagates at once. Fails the test (``pytest.fail``) naming ``what``.
    """
    poll = _Poll(what, timeout, detail, retry_on)
    while not poll.over(found := poll.ask(probe)):
        time.sleep(interval)
    return found


async def eventually(probe: Callable[[], Any], what: str, timeout: float = TIMEOUT,
                     interval: float = INTERVAL, *, detail: Detail = None,
                     retry_on: Retry = ()) -> Any:
    """``until`` for a running event loop: the probe may be sync or return an awaitable,
    and the loop keeps running (``asyncio.sleep``) between two asks."""
    poll = _Poll(what, timeout, detail, retry_on)
    while not poll.over(found := await poll.ask_async(probe)):
        await asyncio.sleep(interval)
    return found


class _Poll:
    """One wait's bookkeeping: its deadline, the last error a probe raised, the failure."""

    def __init__(self, what: str, timeout: float, detail: Detail, retry_on: Retry) -> None:
        self.what, self.timeout, self.detail, self.retry_on = what, timeout, detail, retry_on
        self.deadline = time.monotonic() + timeout
        self.last: BaseException | None = None

    def ask(self, probe: Callable[[], Any]) -> Any:
        try:
            return probe()
        except self.retry_on as exc:
            self.last = exc
            return None

    async def ask_async(self, probe: Callable[[], Any]) -> Any:
        try:
            found = probe()
            return (await found) if inspect.isawaitable(found) else found
        except self.retry_on as exc:
            self.last = exc
            return None

    def over(self, found: Any) -> bool:
        """True for a truthy answer; fails the test once the deadline has passed."""
        if found:
            return True
        if time.monotonic() > self.deadline:
            self.fail()
        return False

    def fail(self) -> NoReturn:
        message = f"timed out waiting for {self.what} after {self.timeout:g} s"
        if self.detail is not None:
            message += f": {self.detail()}"
        if self.last is not None:
            message += f" (last error: {self.last!r})"
        pytest.fail(message)
