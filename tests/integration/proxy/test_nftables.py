"""km proxy in nftables mode against a real apiserver, inside the test's own network namespace.

The kernel carries the traffic: connections from the test namespace to a clusterIP or a
NodePort reach endpoint processes in their own namespaces (see conftest.py for the network
and its safety). The proxy is a real subprocess; Services are selector-less and their
EndpointSlices are written by the test, as an endpoints controller would.
"""

from __future__ import annotations

import collections
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.proxy.nftables.ruleset import table_name
from tests.integration.proxy.conftest import CLUSTER_CIDR, ECHO_PORT, GATEWAY, NetLab
from tests.integration.proxy.lab import NOT_YET, POLL, WAIT, Api, Proxy, ask_udp, greet, names
from tests.support.wait import until

NODE = "node-a"
TCP = [{"name": "http", "port": 80, "protocol": "TCP"}]
SLICE_TCP = [{"name": "http", "port": ECHO_PORT, "protocol": "TCP"}]


@pytest.fixture
def proxy(api_in_netns: Api, tmp_path: Path) -> Iterator[Proxy]:
    proc = Proxy(api_in_netns.url, tmp_path / "proxy.log", [
        "--hostname-override", NODE, "--proxy-mode", "nftables",
        "--cluster-cidr", CLUSTER_CIDR, "--healthz-bind-address", "127.0.0.1:10256",
        "--metrics-bind-address", "127.0.0.1:10249"]).start()
    try:
        yield proc
    finally:
        proc.stop()
        print(proc.text()[-3000:])


def _ruleset() -> dict[str, list[dict[str, object]]]:
    out = subprocess.run(["nft", "-j", "list", "table", "ip", table_name(NODE)],
                         capture_output=True, check=True, timeout=10).stdout
    found: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for item in json.loads(out)["nftables"]:
        for kind, value in item.items():
            found[kind].append(value)
    return found


def _refused(ip: str, port: int) -> bool:
    started = time.monotonic()
    try:
        greet(ip, port, timeout=3.0)
    except ConnectionRefusedError:
        return time.monotonic() - started < 1.0  # at once, never a hang
    except OSError:
        return False
    return False


def test_cluster_ip_spreads_follows_readiness_refuses_at_zero_and_node_port(
        netlab: NetLab, api_in_netns: Api, proxy: Proxy) -> None:
    api = api_in_netns
    eps = [netlab.endpoint(f"ep{i}") for i in range(3)]
    svc = api.service("web", TCP, type="NodePort")
    vip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    api.slice("web", [(ip, True) for ip in eps], SLICE_TCP)
    until(lambda: greet(vip, 80), "the clusterIP", WAIT, POLL, retry_on=NOT_YET)
    assert set(names(vip, 80, 40)) == {"ep0", "ep1", "ep2"}  # random spread (p miss < 1e-6)
    # NodePort on the node's own (non-loopback) address
    assert set(names(GATEWAY, node_port, 40)) == {"ep0", "ep1", "ep2"}
    # an unready endpoint gets no new connections
    api.slice("web", [(eps[0], True), (eps[1], True), (eps[2], False)], SLICE_TCP)
    until(lambda: "ep2" not in names(vip, 80, 20), "ep2 to leave", WAIT, POLL, retry_on=NOT_YET)
    assert "ep2" not in names(vip, 80, 40)
    # scale to zero: refused at once, for the clusterIP and the NodePort
    api.slice("web", [], SLICE_TCP)
    until(lambda: _refused(vip, 80), "a refusal", WAIT, POLL, retry_on=NOT_YET)
    assert _refused(GATEWAY, node_port)
    health = json.loads(urllib.request.urlopen("http://127.0.0.1:10256/healthz", timeout=5)
                        .read())
    assert health["nodeEligible"] is True and health["lastUpdated"]
    metrics = urllib.request.urlopen("http://127.0.0.1:10249/metrics", timeout=5).read()
    assert b"kubeproxy_sync_proxy_rules_duration_seconds_count" in metrics


def test_session_affinity_and_udp_with_stale_flows_flushed(
        netlab: NetLab, api_in_netns: Api, proxy: Proxy) -> None:
    api = api_in_netns
    eps = [netlab.endpoint(f"ep{i}") for i in range(3)]
    sticky = api.service("sticky", TCP, sessionAffinity="ClientIP")
    api.slice("sticky", [(ip, True) for ip in eps], SLICE_TCP)
    vip = sticky["spec"]["clusterIP"]
    until(lambda: greet(vip, 80), "the sticky clusterIP", WAIT, POLL, retry_on=NOT_YET)
    assert len(set(names(vip, 80, 30))) == 1
    dns = api.service("dns", [{"name": "dns", "port": 53, "protocol": "UDP"}])
    udp_vip = dns["spec"]["clusterIP"]
    api.slice("dns", [(eps[0], True)], [{"name": "dns", "port": ECHO_PORT, "protocol": "UDP"}])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        assert until(lambda: ask_udp(sock, udp_vip, 53),
                     "udp", WAIT, POLL, retry_on=NOT_YET) == "ep0"
        # the endpoint goes; the same client flow (same source port) must move with it
        api.slice("dns", [(eps[1], True)], [{"name": "dns", "port": ECHO_PORT,
                                             "protocol": "UDP"}])
        until(lambda: _udp_answer(sock, udp_vip) == "ep1",
              "the flow to move", WAIT, POLL, retry_on=NOT_YET)


def _udp_answer(sock: socket.socket, ip: str) -> str:
    try:
        return ask_udp(sock, ip, 53)
    except TimeoutError:
        return ""


def test_kill_9_keeps_established_connections_and_restart_takes_the_table_over(
        netlab: NetLab, api_in_netns: Api, proxy: Proxy) -> None:
    api = api_in_netns
    eps = [netlab.endpoint(f"ep{i}") for i in range(2)]
    svc = api.service("web", TCP)
    vip = svc["spec"]["clusterIP"]
    api.slice("web", [(ip, True) for ip in eps], SLICE_TCP)
    until(lambda: greet(vip, 80), "the clusterIP", WAIT, POLL, retry_on=NOT_YET)
    conn = socket.create_connection((vip, 80), timeout=5)
    try:
        first = conn.recv(100)
        assert first.strip() in (b"ep0", b"ep1")
        proxy.kill()  # during traffic
        for i in range(20):
            conn.sendall(b"ping%d" % i)
            assert conn.recv(100) == b"ping%d" % i  # the kernel path carries on
        assert greet(vip, 80) in ("ep0", "ep1")  # rules stay while the proxy is away
        # change while it is down: ep0 leaves, a second service arrives
        api.slice("web", [(eps[1], True)], SLICE_TCP)
        other = api.service("other", TCP)
        api.slice("other", [(eps[0], True)], SLICE_TCP)
        proxy.start()
        until(lambda: greet(other["spec"]["clusterIP"], 80) == "ep0",
              "the restart", WAIT, POLL, retry_on=NOT_YET)
        assert set(names(vip, 80, 20)) == {"ep1"}
        conn.sendall(b"after")
        assert conn.recv(100) == b"after"
    finally:
        conn.close()
    rules = _ruleset()
    chains = [c["name"] for c in rules["chain"]]
    assert len(chains) == len(set(chains)), "duplicate chains after the takeover"
    assert not [c for c in chains if "10.244.0.10/8080" in c and "/web/" in c]
    service_ips = next(m for m in rules["map"] if m["name"] == "service-ips")
    assert len(service_ips["elem"]) == 2
    assert sum(1 for r in rules["rule"] if r["chain"] == "nat-output") == 1
    proxy.stop()
    cleanup = subprocess.run([*proxy.argv, "--hostname-override", NODE, "--proxy-mode",
                              "nftables", "--cleanup"], capture_output=True, timeout=60,
                             check=False)
    assert cleanup.returncode == 0, cleanup.stderr
    listed = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, check=True,
                            timeout=10).stdout
    assert table_name(NODE) not in listed.decode()
