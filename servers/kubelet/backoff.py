"""CrashLoopBackOff: per-container restart delays, 10 s doubling to 5 min.

As client-go ``util/flowcontrol/backoff.go`` used by kube's ``pkg/kubelet/kuberuntime``: the
first restart is at once; each later one waits the current delay after the container
finished (doubling from 10 s, capped at 300 s); an entry not bumped for twice the cap
(10 min, a clean run that long) starts over.
"""

from __future__ import annotations

__all__ = ["CrashBackoff", "go_duration"]

INITIAL = 10.0
CAP = 300.0


class CrashBackoff:
    """Delays keyed by (pod uid, container name)."""

    def __init__(self, initial: float = INITIAL, cap: float = CAP) -> None:
        self.initial = initial
        self.cap = cap
        self._entries: dict[tuple[str, str], tuple[float, float]] = {}  # delay, last bump

    def _entry(self, key: tuple[str, str], now: float) -> tuple[float, float] | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] > 2 * self.cap:
            del self._entries[key]  # client-go's GC of stale entries: the run was clean
            return None
        return entry

    def waiting(self, key: tuple[str, str], finished_at: float, now: float) -> float:
        """Seconds left before the container may restart (0: restart now)."""
        entry = self._entry(key, now)
        if entry is None:
            return 0.0
        return max(0.0, finished_at + entry[0] - now)

    def delay(self, key: tuple[str, str], now: float) -> float:
        """The current delay of ``key`` (0 if it has none)."""
        entry = self._entry(key, now)
        return entry[0] if entry else 0.0

    def bump(self, key: tuple[str, str], now: float) -> None:
        """A restart happened: the next one waits longer."""
        entry = self._entry(key, now)
        delay = self.initial if entry is None else min(self.cap, entry[0] * 2)
        self._entries[key] = (delay, now)

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._entries if k[0] == uid]:
            del self._entries[key]


def go_duration(seconds: float) -> str:
    """Go's Duration.String() for whole seconds: ``10s``, ``1m20s``, ``5m0s``."""
    total = int(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
