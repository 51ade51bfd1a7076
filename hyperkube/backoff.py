"""Restart delays for supervised servers, in-process (together.py) and as processes
(supervisor.py).

A delay starts at `initial` and doubles up to `cap`. A run that lasted `reset_after` seconds
or more counts as stable and starts the count again; the default is twice the cap, as
client-go's `flowcontrol.Backoff` forgets an entry (`hasExpired`: `maxDuration*2`,
staging/src/k8s.io/client-go/util/flowcontrol/backoff.go). No jitter: a few servers of one
program are no thundering herd, and fixed delays are what a user reads in the log.
"""

from __future__ import annotations


class Backoff:
    """Delays before each restart of one server: `initial`, doubling to `cap`."""

    __slots__ = ("cap", "factor", "failures", "initial", "reset_after")

    def __init__(self, initial: float = 1.0, cap: float = 30.0, *, factor: float = 2.0,
                 reset_after: float | None = None) -> None:
        if initial < 0 or cap < initial or factor < 1:
            msg = f"bad backoff: initial={initial} cap={cap} factor={factor}"
            raise ValueError(msg)
        self.initial, self.cap, self.factor = initial, cap, factor
        self.reset_after = 2 * cap if reset_after is None else reset_after
        self.failures = 0

    def __repr__(self) -> str:
        return (f"Backoff(initial={self.initial}, cap={self.cap}, factor={self.factor}, "
                f"reset_after={self.reset_after})")

    def delay(self, ran_for: float) -> float:
        """The delay before restarting a server whose run lasted `ran_for` seconds.

        Each call counts one more failure, after forgetting the earlier ones if that run was
        stable (lasted `reset_after` or more).
        """
        if ran_for >= self.reset_after:
            self.failures = 0
        step = min(self.cap, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return step

    def copy(self) -> Backoff:
        """A fresh policy with the same numbers (one for each supervised server)."""
        return Backoff(self.initial, self.cap, factor=self.factor, reset_after=self.reset_after)
