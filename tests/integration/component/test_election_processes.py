"""Two real processes stand for one Lease: SIGKILL the leader, the other leads within the
lease duration; SIGTERM the leader, the other leads at once (the Lease was released)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.apiserver import ROOT, ApiServer

LEASE_DURATION = 2.0  # elect.py's


class Lines:
    """Every line the processes print, with when it came, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []
        self.changed = threading.Condition()

    def add(self, line: str) -> None:
        with self.changed:
            self.seen.append((time.monotonic(), line))
            self.changed.notify_all()

    def wait(self, prefix: str, count: int = 1, timeout: float = 15.0) -> list[tuple[float, str]]:
        """The first ``count`` lines starting with ``prefix`` (waiting for them)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.matching(prefix)) >= count, timeout)
            found = self.matching(prefix)
        assert len(found) >= count, f"no {count} {prefix!r} lines in {self.seen}"
        return found[:count]

    def matching(self, prefix: str) -> list[tuple[float, str]]:
        return [(at, line) for at, line in self.seen if line.startswith(prefix)]


class Elect:
    """One ``elect.py`` process, its lines going to ``lines``."""

    def __init__(self, url: str, lease: str, identity: str, lines: Lines) -> None:
        self.identity = identity
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.component.elect", url, lease, identity],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self.reader.start()

    def _read(self, lines: Lines) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            lines.add(line.strip())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def pair(shared_apiserver: ApiServer) -> Iterator[tuple[dict[str, Elect], Lines]]:
    lease = f"procs-{uuid.uuid4().hex[:8]}"
    lines = Lines()
    procs = {name: Elect(shared_apiserver.url, lease, name, lines) for name in ("p1", "p2")}
    try:
        lines.wait("standing", 2)
        yield procs, lines
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.mark.parametrize(("sig", "within"), [
    (signal.SIGKILL, LEASE_DURATION + 2.0),  # lease expiry, a jittered retry, slack
    # released: the next try (0.4-0.48 s) takes it; still less than an expiry could take
    # (a lease duration less one retry after the last renewal the other saw)
    (signal.SIGTERM, LEASE_DURATION * 0.75),
])
def test_the_other_process_takes_over(pair: tuple[dict[str, Elect], Lines],
                                      sig: signal.Signals, within: float) -> None:
    procs, lines = pair
    [(_, line)] = lines.wait("leading")
    leader = procs[line.split()[1]]
    other = next(p for p in procs.values() if p is not leader)
    time.sleep(1.2)  # several renewals and tries: still exactly one leads
    assert len(lines.matching("leading")) == 1
    killed = time.monotonic()
    leader.proc.send_signal(sig)
    at, line = lines.wait("leading", 2)[1]
    assert line == f"leading {other.identity}"
    assert at - killed < within
    if sig == signal.SIGTERM:
        assert leader.proc.wait(5) == 0
