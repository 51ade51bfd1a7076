"""Helpers for km proxy's integration tests: the API, the proxy process, endpoints, probes.

Every address these helpers send to is given by the test: loopback, or addresses inside the
network namespaces the nftables tests made (see conftest.py). Every process started here is
stopped by its owner.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
ECHO = Path(__file__).with_name("echo.py")
# How the tests wait (tests.support.wait) for the proxy to follow the API: bounded, and an
# OSError (refused, reset, timed out) while its rules are not in yet counts as "not yet".
WAIT, POLL, NOT_YET = 15.0, 0.05, (OSError,)


class Api:
    """JSON over the apiserver's plain loopback port."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def service(self, name: str, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        """A selector-less Service (endpoints come from the slices the test writes)."""
        return self.call("POST", "/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": ports, **spec}})

    def slice(self, service: str, addresses: Sequence[tuple[str, bool]],
              ports: list[dict[str, Any]], name: str = "") -> dict[str, Any]:
        """Create or replace the EndpointSlice ``name`` of ``service`` (address, ready)."""
        name = name or f"{service}-manual"
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv4", "ports": ports,
                "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}}
                              for ip, ready in addresses]}
        path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
        try:
            current = self.call("GET", f"{path}/{name}")
        except urllib.error.HTTPError:
            return self.call("POST", path, body)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.call("PUT", f"{path}/{name}", body)


class Proxy:
    """``km proxy`` as a subprocess, its log in a file."""

    def __init__(self, url: str, log: Path, args: Sequence[str]) -> None:
        self.argv = [sys.executable, "-m", "servers.km", "proxy", "--master", url,
                     "--min-sync-period", "0", *args]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proxy:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=out, stderr=out,
                                         env={**os.environ, "PYTHONPATH": str(ROOT)})
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def greet(ip: str, port: int, timeout: float = 2.0, source: str = "") -> str:
    """Connect, read the endpoint's name line, close."""
    with socket.create_connection((ip, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as conn:
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(100)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()


def ask_udp(sock: socket.socket, ip: str, port: int, payload: bytes = b"hi") -> str:
    """One datagram and its answer's sender name."""
    sock.sendto(payload, (ip, port))
    data, _ = sock.recvfrom(1000)
    return data.decode().split(":", 1)[0]


def names(ip: str, port: int, count: int) -> list[str]:
    return [greet(ip, port) for _ in range(count)]
