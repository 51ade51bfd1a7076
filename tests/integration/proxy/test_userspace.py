"""km proxy in userspace mode against a real apiserver, on loopback addresses only.

The apiserver gives Services a loopback range (127.96.0.0/16, a single host without root);
the proxy listens on each clusterIP:port and on the NodePorts at 127.0.0.1, and relays to
endpoint processes on 127.0.10.x.
"""

from __future__ import annotations

import collections
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy.lab import ECHO, NOT_YET, POLL, WAIT, Api, Proxy, ask_udp, greet, names
from tests.support.apiserver import start_apiserver
from tests.support.ports import free_port
from tests.support.wait import until

TCP = [{"name": "http", "port": 80, "protocol": "TCP"}]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with start_apiserver(tmp_path / "data", extra_args=[
            "--service-cluster-ip-range", "127.96.0.0/16"]) as server:
        yield Api(server.url)


@pytest.fixture
def proxy(api: Api, tmp_path: Path) -> Iterator[Proxy]:
    proc = Proxy(api.url, tmp_path / "proxy.log", [
        "--hostname-override", "node-u", "--proxy-mode", "userspace",
        "--nodeport-addresses", "127.0.0.1/32", "--healthz-bind-address", "127.0.0.1:0",
        "--metrics-bind-address", "127.0.0.1:0"]).start()
    try:
        yield proc
    finally:
        proc.stop()
        print(proc.text()[-3000:])


@pytest.fixture
def endpoints() -> Iterator[tuple[int, dict[str, subprocess.Popen[bytes]]]]:
    """Three echo processes on 127.0.10.1-3, one free port."""
    port = free_port("127.0.10.1")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for i in range(1, 4):
            proc = subprocess.Popen([sys.executable, str(ECHO), f"ep{i}", f"127.0.10.{i}",
                                     str(port)], stdout=subprocess.PIPE)
            procs[f"127.0.10.{i}"] = proc
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield port, procs
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


def _refused_at_once(ip: str, port: int) -> bool:
    started = time.monotonic()
    try:
        greet(ip, port, timeout=3.0)
    except ConnectionRefusedError:
        return time.monotonic() - started < 1.0
    except OSError:
        return False
    return False


def _served(proxy: Proxy, what: str) -> int:
    found = re.search(rf"serving {what} on 127\.0\.0\.1:(\d+)", proxy.text())
    return int(found.group(1)) if found else 0


def test_round_robin_readiness_zero_node_port_udp_affinity_and_health(
        api: Api, proxy: Proxy, endpoints: tuple[int, dict[str, subprocess.Popen[bytes]]]
        ) -> None:
    port, _ = endpoints
    ips = ["127.0.10.1", "127.0.10.2", "127.0.10.3"]
    slice_ports = [{"name": "http", "port": port, "protocol": "TCP"}]
    svc = api.service("web", TCP, type="NodePort")
    vip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    assert vip.startswith("127.96.")
    api.slice("web", [(ip, True) for ip in ips], slice_ports)
    until(lambda: greet(vip, 80), "the clusterIP", WAIT, POLL, retry_on=NOT_YET)
    counts = collections.Counter(names(vip, 80, 30))
    assert counts == {"ep1": 10, "ep2": 10, "ep3": 10}  # round-robin
    assert set(names("127.0.0.1", node_port, 6)) == {"ep1", "ep2", "ep3"}
    api.slice("web", [(ips[0], True), (ips[1], True), (ips[2], False)], slice_ports)
    until(lambda: "ep3" not in names(vip, 80, 6), "ep3 to leave", WAIT, POLL, retry_on=NOT_YET)
    assert "ep3" not in names(vip, 80, 20)
    api.slice("web", [], slice_ports)
    until(lambda: _refused_at_once(vip, 80), "a refusal", WAIT, POLL, retry_on=NOT_YET)
    assert _refused_at_once("127.0.0.1", node_port)
    sticky = api.service("sticky", TCP, sessionAffinity="ClientIP")
    api.slice("sticky", [(ip, True) for ip in ips], slice_ports)
    until(lambda: greet(sticky["spec"]["clusterIP"], 80),
          "the sticky service", WAIT, POLL, retry_on=NOT_YET)
    assert len(set(names(sticky["spec"]["clusterIP"], 80, 12))) == 1
    # a Service naming another proxy is left to it (kube's service-proxy-name label)
    other = api.call("POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "theirs", "labels": {"service.kubernetes.io/service-proxy-name": "x"}},
        "spec": {"ports": TCP}})
    api.slice("theirs", [(ips[0], True)], slice_ports)
    dns = api.service("dns", [{"name": "dns", "port": 53, "protocol": "UDP"}])
    api.slice("dns", [(ips[1], True)], [{"name": "dns", "port": port, "protocol": "UDP"}])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        assert until(lambda: ask_udp(sock, dns["spec"]["clusterIP"], 53),
                     "udp", WAIT, POLL, retry_on=NOT_YET) == "ep2"
    assert _refused_at_once(other["spec"]["clusterIP"], 80)  # synced with dns, never served
    health = json.loads(urllib.request.urlopen(
        f"http://127.0.0.1:{_served(proxy, 'healthz')}/healthz", timeout=5).read())
    assert health["nodeEligible"] is True
    metrics = urllib.request.urlopen(
        f"http://127.0.0.1:{_served(proxy, 'metrics')}/metrics", timeout=5).read()
    assert b"kubeproxy_sync_proxy_rules_duration_seconds_count" in metrics


def test_refusing_endpoint_is_skipped_and_kill_9_then_restart_serves_again(
        api: Api, proxy: Proxy, endpoints: tuple[int, dict[str, subprocess.Popen[bytes]]]
        ) -> None:
    port, procs = endpoints
    svc = api.service("web", TCP)
    vip = svc["spec"]["clusterIP"]
    api.slice("web", [(ip, True) for ip in procs], [{"name": "http", "port": port,
                                                     "protocol": "TCP"}])
    until(lambda: greet(vip, 80), "the clusterIP", WAIT, POLL, retry_on=NOT_YET)
    procs["127.0.10.2"].kill()  # still listed ready, but it refuses now
    procs["127.0.10.2"].wait(10)
    assert set(names(vip, 80, 12)) == {"ep1", "ep3"}  # every connection still served
    conn = socket.create_connection((vip, 80), timeout=5)
    try:
        assert conn.recv(100).strip() in (b"ep1", b"ep3")
        conn.sendall(b"ping")
        assert conn.recv(100) == b"ping"
    finally:
        conn.close()
    proxy.kill()
    until(lambda: _refused_at_once(vip, 80),
          "the listener to go with the proxy", WAIT, POLL, retry_on=NOT_YET)
    proxy.start()
    until(lambda: greet(vip, 80), "the restarted proxy", WAIT, POLL, retry_on=NOT_YET)
    assert set(names(vip, 80, 6)) == {"ep1", "ep3"}
