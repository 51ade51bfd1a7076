"""``kube-proxy`` (a link to the built km.pyz) against a km.pyz apiserver, driven by kubectl.

Userspace mode on loopback: the apiserver's service range is 127.96.0.0/16, the endpoint is a
process on 127.0.10.1, and a selector-less Service with a hand-written EndpointSlice (kubectl
apply) routes to it; bad flags are one line.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import run
from tests.e2e.test_kubectl import Kubectl
from tests.integration.proxy.lab import ECHO, NOT_YET, POLL, WAIT, greet
from tests.support.apiserver import start_apiserver
from tests.support.ports import free_port
from tests.support.wait import until

MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  ports: [{{name: http, port: 80, targetPort: {port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{{name: http, port: {port}, protocol: TCP}}]
endpoints: [{{addresses: [127.0.10.1], conditions: {{ready: true}}}}]
"""


@pytest.fixture
def echo() -> Iterator[int]:
    port = free_port("127.0.10.1")
    proc = subprocess.Popen([sys.executable, str(ECHO), "ep1", "127.0.10.1", str(port)],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield port
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_kube_proxy_link_routes_a_cluster_ip(km: Path, tmp_path: Path, env: dict[str, str],
                                            echo: int) -> None:
    link = tmp_path / "kube-proxy"
    link.symlink_to(km)
    with start_apiserver(tmp_path / "data", km=km, extra_args=[
            "--service-cluster-ip-range", "127.96.0.0/16"]) as api:
        kubectl = Kubectl(api, tmp_path / "kubectl-cache")
        kubectl("apply", "-f", "-", input=MANIFEST.format(port=echo))
        vip = kubectl.json("get", "service", "web")["spec"]["clusterIP"]
        assert vip.startswith("127.96.")
        log = tmp_path / "proxy.log"
        with log.open("wb") as out:
            proxy = subprocess.Popen(
                [str(link), "--master", api.url, "--proxy-mode", "userspace",
                 "--healthz-bind-address", "0", "--metrics-bind-address", "0"],
                stdout=out, stderr=out, env=env)
        try:
            assert until(lambda: greet(vip, 80), f"{vip}:80", WAIT, POLL, retry_on=NOT_YET) == "ep1"
        finally:
            proxy.terminate()
            code = proxy.wait(15)
        assert code == 0, log.read_text()


def test_bad_flags_are_one_line(km: Path, env: dict[str, str]) -> None:
    done = run([km, "proxy", "--master", "http://127.0.0.1:1", "--proxy-mode", "userspace",
                "--healthz-bind-address", "nowhere"], env)
    assert done.code == 1
    assert done.err.strip() == ("km proxy: error: --healthz-bind-address: 'nowhere' is not "
                                "IP:PORT"), done.err
