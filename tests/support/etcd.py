"""A real etcd for tests: free loopback ports, a temp data dir, bounded start, clean stop.

    with EtcdServer() as etcd:
        store = await open_storage("etcd", data_dir="", etcd_servers=[etcd.endpoint])

Uses the Debian ``etcd-server`` binary (``/usr/bin/etcd``, 3.4.23; ``make`` installs it with
``apt-get install -y etcd-server``). A missing binary raises ``EtcdNotFound`` with that hint;
fixtures turn it into a failure, never a skip. Everything listens on 127.0.0.1 only, and
``stop()`` ends only the process this object started (SIGTERM, then SIGKILL after a timeout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from tests.support.ports import LOOPBACK, free_ports

__all__ = ["ETCD_BINARY", "EtcdCluster", "EtcdNotFound", "EtcdServer", "EtcdStartError"]

ETCD_BINARY = "/usr/bin/etcd"
INSTALL_HINT = "install it with: apt-get install -y etcd-server"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class EtcdNotFound(RuntimeError):
    """The etcd binary is not installed."""


class EtcdStartError(RuntimeError):
    """etcd did not become healthy in time (the message carries its log tail)."""


def find_binary(binary: str | None = None) -> str:
    """The etcd binary to run: the one given, else /usr/bin/etcd, else etcd on the PATH."""
    candidates = [binary] if binary else [ETCD_BINARY, shutil.which("etcd")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    msg = f"etcd binary not found (looked for {binary or ETCD_BINARY} and on PATH); {INSTALL_HINT}"
    if binary:
        msg = f"etcd binary {binary} not found or not executable; {INSTALL_HINT}"
    raise EtcdNotFound(msg)


class EtcdServer:
    """One single-member etcd cluster on loopback, started and stopped by this object."""

    def __init__(self, binary: str | None = None, name: str = "km-test") -> None:
        self.binary = find_binary(binary)
        self.name = name
        self.client_port = 0
        self.peer_port = 0
        self._tmp: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start etcd and wait until /health says true (retrying once on a port race)."""
        self._tmp = tempfile.mkdtemp(prefix="km-etcd-")
        for attempt in range(2):
            self._spawn()
            try:
                self._wait_healthy()
                return
            except EtcdStartError:
                self.stop(keep_tmp=True)
                if attempt == 1:
                    self._cleanup_tmp()
                    raise

    def stop(self, *, keep_tmp: bool = False) -> None:
        """Terminate our etcd (SIGKILL if it does not exit in time) and remove its data."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if not keep_tmp:
            self._cleanup_tmp()

    def __enter__(self) -> EtcdServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def peer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.peer_port}"

    def kill(self) -> None:
        """SIGKILL this member (a crash, for fault tests); its data stays for stop()."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(STOP_TIMEOUT)

    def _spawn(self, initial_cluster: str | None = None) -> None:
        assert self._tmp is not None
        if initial_cluster is None:  # a cluster of one: fresh ports on every try
            self.client_port, self.peer_port = free_ports(2)
        client = self.endpoint
        peer = self.peer_url
        data = Path(self._tmp) / f"data-{self.client_port}"
        argv = [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={initial_cluster or f'{self.name}={peer}'}",
            "--initial-cluster-state=new",
            "--log-level=warn",
        ]
        with open(self._log_path(), "ab") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise EtcdStartError(f"etcd exited early:\n{self._log_tail()}")
            if self._healthy():
                return
            time.sleep(0.05)
        msg = f"etcd not healthy after {START_TIMEOUT:.0f}s:\n{self._log_tail()}"
        raise EtcdStartError(msg)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/health", timeout=1) as resp:
                return bool(json.load(resp).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _log_path(self) -> Path:
        assert self._tmp is not None
        return Path(self._tmp) / "etcd.log"

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self._log_path().read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class EtcdCluster:
    """Three (or ``size``) etcd members on loopback forming one cluster, for fault tests:
    ``kill(i)`` crashes one member; the rest keep a quorum."""

    def __init__(self, size: int = 3, binary: str | None = None) -> None:
        self.members = [EtcdServer(binary, name=f"km-test-{i}") for i in range(size)]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self) -> None:
        """Start every member at once (a new cluster waits for its peers), then wait until
        each says it is healthy."""
        ports = free_ports(2 * len(self.members))
        for i, member in enumerate(self.members):
            member._tmp = tempfile.mkdtemp(prefix="km-etcd-")
            member.client_port, member.peer_port = ports[2 * i], ports[2 * i + 1]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        try:
            for member in self.members:
                member._spawn(initial)
            for member in self.members:
                member._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def kill(self, index: int) -> None:
        self.members[index].kill()

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def __enter__(self) -> EtcdCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
