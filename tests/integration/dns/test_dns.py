"""``km dns`` from source against a real apiserver: UDP and TCP on loopback, following changes."""

from __future__ import annotations

import urllib.request
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest

from tests.integration.dns.conftest import (
    UPSTREAM_ANSWER,
    UPSTREAM_HOST,
    DnsServer,
    Upstream,
    api_call,
)
from tests.support.apiserver import ApiServer
from tests.support.ports import free_port
from tests.support.wait import until

SERVICES = "/api/v1/namespaces/default/services"
ENDPOINTS = "/api/v1/namespaces/default/endpoints"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
WAIT, POLL = 10.0, 0.05  # how long km dns may take to follow the API, how often to ask


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}], **spec}}


def addresses(message: dns.message.Message) -> list[str]:
    return sorted(r.to_text() for rrset in message.answer for r in rrset)


@pytest.fixture
def km_dns(api: ApiServer, upstream: Upstream) -> Any:
    started: list[DnsServer] = []

    def start(*args: str) -> DnsServer:
        server = DnsServer(api, "--upstream", f"{UPSTREAM_HOST}:{upstream.port}", *args)
        started.append(server)
        return server
    yield start
    for server in started:
        assert server.stop() == 0, "".join(server.log[-20:])


def test_service_made_before_start_over_udp_and_tcp(api: ApiServer, km_dns: Any) -> None:
    cluster_ip = api_call(api, "POST", SERVICES, service("first"))["spec"]["clusterIP"]
    server = km_dns("--metrics-port", "0")
    for tcp in (False, True):
        reply = server.ask("first.default.svc.cluster.local", tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
        assert addresses(reply) == [cluster_ip]
    version = server.ask("dns-version.cluster.local", "TXT")
    assert addresses(version) == ['"1.1.0"']


def test_follows_services_and_endpoints(api: ApiServer, km_dns: Any) -> None:
    server = km_dns("--metrics-port", "0")
    name = "web.default.svc.cluster.local"
    assert server.ask(name).rcode() == dns.rcode.NXDOMAIN
    created = api_call(api, "POST", SERVICES, service("web"))
    ip = created["spec"]["clusterIP"]
    until(lambda: addresses(server.ask(name)) == [ip], "web's ClusterIP", WAIT, POLL)
    srv = server.ask("_http._tcp." + name, "SRV")
    assert addresses(srv) == [f"0 100 80 {name}."]
    ptr = server.ask(".".join(reversed(ip.split("."))) + ".in-addr.arpa", "PTR")
    assert addresses(ptr) == [name + "."]

    # A selector-less headless Service with Endpoints written by hand (StatefulSet style).
    api_call(api, "POST", SERVICES, service("db", clusterIP="None"))
    api_call(api, "POST", ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db"},
        "subsets": [{"addresses": [{"ip": "10.244.0.5", "hostname": "db-0"}],
                     "notReadyAddresses": [{"ip": "10.244.0.6", "hostname": "db-1"}],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
    db = "db.default.svc.cluster.local"
    until(lambda: addresses(server.ask(db)) == ["10.244.0.5"], "db's ready endpoint", WAIT, POLL)
    assert addresses(server.ask("db-0." + db)) == ["10.244.0.5"]
    assert server.ask("db-1." + db).rcode() == dns.rcode.NXDOMAIN

    api_call(api, "DELETE", SERVICES + "/web")
    until(lambda: server.ask(name).rcode() == dns.rcode.NXDOMAIN, "web's deletion", WAIT, POLL)


def test_endpoint_slices_are_preferred(api: ApiServer, km_dns: Any) -> None:
    server = km_dns("--metrics-port", "0")
    api_call(api, "POST", SERVICES, service("sliced", clusterIP="None"))
    api_call(api, "POST", ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "sliced"},
        "subsets": [{"addresses": [{"ip": "10.244.1.9"}]}]})
    name = "sliced.default.svc.cluster.local"
    until(lambda: addresses(server.ask(name)) == ["10.244.1.9"], "the Endpoints", WAIT, POLL)
    api_call(api, "POST", SLICES, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "sliced-1", "labels": {"kubernetes.io/service-name": "sliced"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.1.5"], "hostname": "p0",
                       "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]})
    until(lambda: addresses(server.ask(name)) == ["10.244.1.5"], "the slice", WAIT, POLL)
    assert addresses(server.ask("p0." + name)) == ["10.244.1.5"]


def test_big_answer_truncated_over_udp_whole_over_tcp(api: ApiServer, km_dns: Any) -> None:
    server = km_dns("--metrics-port", "0")
    api_call(api, "POST", SERVICES, service("big", clusterIP="None"))
    ips = [f"10.244.2.{i}" for i in range(1, 81)]
    api_call(api, "POST", ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "big"},
        "subsets": [{"addresses": [{"ip": ip} for ip in ips]}]})
    name = "big.default.svc.cluster.local"
    until(lambda: server.ask(name, tcp=True).answer != [], "big's endpoints", WAIT, POLL)
    udp = server.ask(name)
    assert udp.flags & dns.flags.TC
    tcp = server.ask(name, tcp=True)
    assert not tcp.flags & dns.flags.TC and addresses(tcp) == sorted(ips)


def test_other_names_go_upstream(km_dns: Any, upstream: Upstream) -> None:
    server = km_dns("--metrics-port", "0")
    reply = server.ask("www.example.org")
    assert addresses(reply) == [UPSTREAM_ANSWER]
    assert upstream.asked == ["www.example.org."]


def test_external_name_target_resolved_upstream(api: ApiServer, km_dns: Any,
                                                 upstream: Upstream) -> None:
    server = km_dns("--metrics-port", "0")
    api_call(api, "POST", SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "www.example.org"}})
    name = "ext.default.svc.cluster.local"
    until(lambda: server.ask(name).answer != [], "ext's CNAME", WAIT, POLL)
    reply = server.ask(name)
    assert [rrset.to_text() for rrset in reply.answer] == [
        f"{name}. 30 IN CNAME www.example.org.", f"www.example.org. 60 IN A {UPSTREAM_ANSWER}"]
    assert "www.example.org." in upstream.asked


def test_one_tcp_connection_carries_several_queries(km_dns: Any) -> None:
    import socket
    import struct

    server = km_dns("--metrics-port", "0")
    names = ["dns-version.cluster.local", "nope.default.svc.cluster.local"]
    queries = [dns.message.make_query(name, "TXT") for name in names]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w
                              for w in (q.to_wire() for q in queries)))
        replies = []
        for _ in queries:
            (length,) = struct.unpack("!H", _read(sock, 2))
            replies.append(dns.message.from_wire(_read(sock, length)))
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [r.rcode() for r in replies] == [dns.rcode.NOERROR, dns.rcode.NXDOMAIN]


def _read(sock: Any, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_upstream_none_refuses_other_names(api: ApiServer) -> None:
    server = DnsServer(api, "--upstream", "none", "--metrics-port", "0")
    try:
        assert server.ask("www.example.org").rcode() == dns.rcode.REFUSED
        assert server.ask("nope.default.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    finally:
        assert server.stop() == 0


def test_metrics_and_healthz(km_dns: Any) -> None:
    port = free_port()
    server = km_dns("--metrics-port", str(port))
    # the DNS listener says it serves before the metrics listener is up
    server.logged(f"serving /healthz and /metrics on http://127.0.0.1:{port}")
    server.ask("dns-version.cluster.local", "TXT")
    server.ask("dns-version.cluster.local", "TXT", tcp=True)
    server.ask("nope.default.svc.cluster.local")
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
        assert response.read() == b"ok"
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        text = response.read().decode()
    assert f'server="dns://:{server.port}"' in text
    assert 'rcode="NXDOMAIN"' in text and 'rcode="NOERROR"' in text
    assert 'proto="tcp"' in text and 'proto="udp"' in text and 'type="TXT"' in text
    assert "coredns_dns_request_duration_seconds_bucket" in text


def test_bad_upstream_is_one_line_and_exit_1(api: ApiServer) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "servers.km", "dns", "--master", api.url,
                           "--upstream", "dns.example"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        'km dns: error: invalid --upstream server "dns.example": not an IP address']
