"""Logging helpers of the hollow node."""

from __future__ import annotations

import logging
import time

__all__ = ["Throttled"]


class Throttled:
    """A logger that says a repeated warning at most once per ``every`` seconds.

    Thousands of nodes fail together when the apiserver goes away; one line says so.
    """

    def __init__(self, log: logging.Logger, every: float = 10.0) -> None:
        self.log, self.every = log, every
        self._last = 0.0
        self._skipped = 0

    def warning(self, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self._skipped += 1
            self.log.debug(text, *args)
            return
        if self._skipped:
            text += f" (and {self._skipped} more like it)"
        self._last, self._skipped = now, 0
        self.log.warning(text, *args)
