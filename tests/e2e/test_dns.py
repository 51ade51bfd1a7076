"""``km.pyz dns`` against a ``km.pyz`` apiserver, Services made by the real kubectl.

Questions are asked from the test with dnspython, as ``dig @127.0.0.1 -p PORT`` would, over
UDP and TCP on loopback; names outside the cluster are refused (``--upstream none``): this
test sends nothing beyond the loopback interface.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from tests.e2e.test_kubectl import Kubectl
from tests.integration.dns.conftest import DnsServer
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

WAIT, POLL = 10.0, 0.05  # how long km dns may take to follow the API, how often to ask

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: www.example.org}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
"""
HEADLESS_ENDPOINTS = """\
apiVersion: v1
kind: Endpoints
metadata: {name: db}
subsets:
- addresses: [{ip: 10.244.0.5, hostname: db-0}, {ip: 10.244.0.6, hostname: db-1}]
  ports: [{name: pg, port: 5432, protocol: TCP}]
"""


@pytest.fixture
def api(km: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data", km=km, env=env) as server:
        yield server


@pytest.fixture
def kubectl(api: ApiServer, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    return Kubectl(api, tmp_path / "kube-cache")


@pytest.fixture
def km_dns(km: Path, api: ApiServer) -> Iterator[DnsServer]:
    server = DnsServer(api, "--upstream", "none", "--metrics-port", "0", km=km)
    try:
        yield server
    finally:
        assert server.stop() == 0, "".join(server.log[-20:])


def answers(message: dns.message.Message) -> list[str]:
    return sorted(r.to_text() for rrset in message.answer for r in rrset)


def test_kubectl_services_resolve(kubectl: Kubectl, km_dns: DnsServer) -> None:
    # `kubectl create service ...` sends protobuf, which km's apiserver does not take (415):
    # the Services come from a manifest instead.
    kubectl("create", "-f", "-", input=SERVICES)
    ip = kubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
    web = "web.default.svc.cluster.local"
    until(lambda: answers(km_dns.ask(web)) == [ip], "web's ClusterIP", WAIT, POLL)
    assert answers(km_dns.ask(web, tcp=True)) == [ip]
    assert answers(km_dns.ask("_http._tcp." + web, "SRV")) == [f"0 100 80 {web}."]
    ext = "ext.default.svc.cluster.local"
    until(lambda: answers(km_dns.ask(ext)) == ["www.example.org."], "ext's CNAME", WAIT, POLL)
    kubectl("apply", "-f", "-", input=HEADLESS_ENDPOINTS)
    db = "db.default.svc.cluster.local"
    until(lambda: answers(km_dns.ask(db)) == ["10.244.0.5", "10.244.0.6"], "db", WAIT, POLL)
    assert answers(km_dns.ask("db-1." + db)) == ["10.244.0.6"]
    assert answers(km_dns.ask("6.0.244.10.in-addr.arpa", "PTR")) == [f"db-1.{db}."]

    kubectl("delete", "service", "web")
    until(lambda: km_dns.ask(web).rcode() == dns.rcode.NXDOMAIN, "web's NXDOMAIN", WAIT, POLL)
    assert km_dns.ask("www.example.org").rcode() == dns.rcode.REFUSED
    assert answers(km_dns.ask("dns-version.cluster.local", "TXT")) == ['"1.1.0"']
