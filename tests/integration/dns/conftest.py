"""A real apiserver subprocess, ``km dns`` from source against it, and a test upstream.

The upstream is a tiny DNS server this test starts on 127.0.0.2 (never the host's resolver):
it answers every A question with 192.0.2.1 (TEST-NET-1, a documentation address sent as
data only) so a forwarded name can be told from a cluster name.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdtypes.IN.A
import dns.rrset
import pytest

from tests.support.apiserver import ROOT, ApiServer, start_apiserver

SERVING = re.compile(r"serving DNS for \S+ on 127\.0\.0\.1:(\d+)")
UPSTREAM_HOST = "127.0.0.2"
UPSTREAM_ANSWER = "192.0.2.1"
START_TIMEOUT = 30.0


class Upstream:
    """A UDP DNS server on 127.0.0.2 in a thread: A → 192.0.2.1 for any name."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((UPSTREAM_HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.asked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(data)
            self.asked.append(query.question[0].name.to_text())
            reply = dns.message.make_response(query)
            reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A",
                                                    UPSTREAM_ANSWER))
            self.sock.sendto(reply.to_wire(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class DnsServer:
    """``km dns`` as a subprocess; ``port`` read from its log."""

    def __init__(self, api: ApiServer, *args: str, km: Path | None = None) -> None:
        cmd = [str(km)] if km else [sys.executable, "-m", "servers.km"]
        cmd += ["dns", "--master", api.url, "--bind-address", "127.0.0.1", "--port", "0",
                *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True)
        self.log: list[str] = []
        self.port = 0
        found = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(found,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("km dns did not start:\n" + "".join(self.log[-30:]))

    def _read(self, found: threading.Event) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            match = SERVING.search(line)
            if match and not found.is_set():
                self.port = int(match.group(1))
                found.set()

    def logged(self, text: str, timeout: float = 10.0) -> str:
        """The first log line holding ``text``, waiting for the server and the log reader."""
        deadline = time.monotonic() + timeout
        while True:
            line = next((x for x in list(self.log) if text in x), None)
            if line is not None or time.monotonic() > deadline:
                assert line is not None, f"no log line with {text!r}: {self.log[-10:]}"
                return line
            time.sleep(0.02)

    def ask(self, name: str, qtype: str = "A", *, tcp: bool = False,
            **kwargs: Any) -> dns.message.Message:
        query = dns.message.make_query(name, qtype, **kwargs)
        ask = dns.query.tcp if tcp else dns.query.udp
        return ask(query, "127.0.0.1", port=self.port, timeout=3)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


def api_call(api: ApiServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data") as server:
        yield server


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    try:
        yield server
    finally:
        server.close()
