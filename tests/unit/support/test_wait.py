"""The tests' one poll (tests/support/wait.py): first truthy answer, bounded, failing by name."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.wait import eventually, until


def answers(*values: object) -> Callable[[], object]:
    """A probe that gives ``values`` in order, then the last one forever."""
    it: Iterator[object] = iter(values)
    last: list[object] = [None]

    def probe() -> object:
        last[0] = next(it, last[0])
        if isinstance(last[0], BaseException):
            raise last[0]
        return last[0]
    return probe


def test_until_returns_the_first_truthy_answer() -> None:
    assert until(answers(None, 0, "", [], "found", "later"), "x", 1.0, 0.001) == "found"


def test_until_fails_naming_what_the_detail_and_the_timeout() -> None:
    began = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        until(answers(False), "pod web", 0.05, 0.01, detail=lambda: "phase Pending")
    assert time.monotonic() - began >= 0.05
    assert str(failed.value) == "timed out waiting for pod web after 0.05 s: phase Pending"


def test_until_retries_only_the_named_errors_and_reports_the_last() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"\(last error: ConnectionRefusedError"):
        until(answers(ConnectionRefusedError(111, "refused")), "port", 0.02, 0.01,
              retry_on=(OSError,))
    assert until(answers(OSError("not yet"), 7), "port", 1.0, 0.001, retry_on=(OSError,)) == 7
    with pytest.raises(ValueError, match="bad"):
        until(answers(ValueError("bad")), "port", 1.0, 0.001, retry_on=(OSError,))


async def test_eventually_takes_sync_and_async_probes() -> None:
    sync = answers(None, {"ready": True})
    assert await eventually(sync, "sync", 1.0, 0.001) == {"ready": True}
    seen = answers(None, None, 3)

    async def probe() -> object:
        return seen()
    assert await eventually(probe, "async", 1.0, 0.001) == 3


async def test_eventually_fails_naming_what() -> None:
    async def never() -> bool:
        return False
    with pytest.raises(pytest.fail.Exception, match=r"^timed out waiting for lease after 0\.03 s$"):
        await eventually(never, "lease", 0.03, 0.01)
