"""Run a real `km apiserver` as a subprocess on loopback, for integration and e2e tests.

    with start_apiserver(tmp_path / "data") as api:
        ... api.url ...             # http://127.0.0.1:PORT
        api.kill(); api.restart()   # kill -9, then start again on the same port and data

    with start_apiserver(data, secure=True, extra_args=["--tls-cert-file", ...]) as api:
        ... api.url ...             # https://127.0.0.1:PORT (--secure-port; no plain port)

The server picks a free port (--port 0, or --secure-port 0) and says which in its log; the
helper reads it from there. By default it runs from the source tree (`python -m servers.km`);
pass `km=` to run a built km.pyz instead. Every process it starts, it stops.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"serving on ((https?)://127\.0\.0\.1:(\d+))")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class ApiServer:
    def __init__(
        self,
        data_dir: Path,
        *,
        km: Path | None,
        extra_args: Sequence[str],
        env: dict[str, str] | None,
        secure: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.secure = secure
        self.km = km
        self.extra_args = list(extra_args)
        self.env = env
        self.port = 0
        self.url = ""
        #: A kubeconfig that gets in (set by tests that lock the door), for kubectl.
        self.kubeconfig: Path | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self._reader: threading.Thread

    def start(self) -> None:
        cmd = [str(self.km)] if self.km else [sys.executable, "-m", "servers.km"]
        cmd += [
            "apiserver",
            "--secure-port" if self.secure else "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        found = threading.Event()
        self._reader = threading.Thread(target=self._read_log, args=(self.proc, found),
                                        daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("apiserver did not start:\n" + "".join(self.log[-30:]))

    def logged(self, text: str, timeout: float = 10.0) -> str:
        """The newest log line holding ``text``, waiting for the log reader to catch up (a
        response can arrive before the line the server wrote while making it)."""
        deadline = time.monotonic() + timeout
        while True:
            line = next((x for x in reversed(self.log) if text in x), None)
            if line is not None or time.monotonic() > deadline:
                assert line is not None, f"no log line with {text!r}"
                return line
            time.sleep(0.02)

    def _read_log(self, proc: subprocess.Popen[str], found: threading.Event) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.log.append(line)
            match = SERVING.search(line)
            scheme = "https" if self.secure else "http"
            if match and match.group(2) == scheme and not found.is_set():
                self.url, self.port = match.group(1), int(match.group(3))
                found.set()

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after a while); return its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reader.join(timeout=STOP_TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()
        return proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def start_apiserver(
    data_dir: Path,
    *,
    port: int = 0,
    km: Path | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    secure: bool = False,
) -> Iterator[ApiServer]:
    server = ApiServer(
        data_dir, km=km, extra_args=extra_args, env=env if env is not None else dict(os.environ),
        secure=secure,
    )
    server.port = port
    server.start()
    try:
        yield server
    finally:
        server.stop()
