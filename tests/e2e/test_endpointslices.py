"""km.pyz controller-manager with km.pyz hollow nodes and scheduler, driven by the real
kubectl: a Deployment exposed with ``kubectl expose`` gets EndpointSlices with its pods'
(fake) addresses, ``kubectl describe service`` shows them, scaling to 0 empties them; a
selector-less Service with hand-written Endpoints gets a mirrored slice, through which
``km proxy`` (userspace mode, on loopback) routes its cluster IP."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_controller_manager import POLL, WAIT, api, cluster
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_proxy import echo
from tests.integration.proxy import lab
from tests.integration.proxy.lab import greet
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

__all__ = ["api", "cluster", "echo"]  # fixtures

EXTERNAL = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
     "spec": {"ports": [{"name": "db", "port": 5432}]}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext"},
     "subsets": [{"addresses": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}],
                  "ports": [{"name": "db", "port": 5432}]}]},
]


def slice_ips(kubectl: Kubectl, service: str) -> list[str]:
    got = kubectl.json("get", "endpointslices", "-l", f"kubernetes.io/service-name={service}")
    return sorted(e["addresses"][0] for s in got["items"] for e in s.get("endpoints") or ()
                  if e.get("conditions", {}).get("ready"))


def pod_ips(kubectl: Kubectl) -> list[str]:
    got = kubectl.json("get", "pods", "-l", "app=web")
    return sorted(p["status"]["podIP"] for p in got["items"]
                  if p.get("status", {}).get("podIP"))


def test_expose_deployment_slices_describe_and_mirroring(
        api: ApiServer, cluster: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    kubectl = Kubectl(api, tmp_path / "kube-cache")
    kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=8080")
    kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")

    def three() -> list[str] | None:
        ips = slice_ips(kubectl, "web")
        return ips if len(ips) == 3 and ips == pod_ips(kubectl) else None

    ips = until(three, "3 ready endpoints in the slices", WAIT, POLL)
    table = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web").stdout
    assert "IPv4" in table and "8080" in table and ips[0] in table, table
    (item,) = kubectl.json("get", "endpointslices", "-l",
                           "kubernetes.io/service-name=web")["items"]
    assert item["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslice-controller.k8s.io"
    assert all(e["targetRef"]["kind"] == "Pod" and e["nodeName"].startswith("hollow-")
               for e in item["endpoints"])
    described = kubectl("describe", "service", "web").stdout
    shown = next(line for line in described.splitlines() if line.startswith("Endpoints:"))
    assert sorted(shown.split()[1].split(",")) == [f"{ip}:8080" for ip in ips], described

    kubectl("scale", "deployment", "web", "--replicas=0")
    until(lambda: slice_ips(kubectl, "web") == [], "the slices to empty", WAIT, POLL)
    described = kubectl("describe", "service", "web").stdout
    # The placeholder slice is there, with nothing ready: kubectl prints an empty list
    # (it says <none> only when there is no slice at all), as against kube.
    shown = next(line for line in described.splitlines() if line.startswith("Endpoints:"))
    assert shown.split() == ["Endpoints:"], described

    kubectl("apply", "-f", "-", input="\n".join(json.dumps(m) for m in EXTERNAL))
    until(lambda: slice_ips(kubectl, "ext") == ["192.0.2.10", "192.0.2.11"],
          "the mirrored slice", WAIT, POLL)
    (mirrored,) = kubectl.json("get", "endpointslices", "-l",
                               "kubernetes.io/service-name=ext")["items"]
    assert mirrored["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslicemirroring-controller.k8s.io"
    assert "192.0.2.10:5432" in kubectl("describe", "service", "ext").stdout
    for proc in cluster:
        assert proc.poll() is None


def test_proxy_routes_a_selector_less_service_through_its_mirrored_slice(
        km: Path, tmp_path: Path, env: dict[str, str], echo: int) -> None:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    manifests = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
         "spec": {"ports": [{"name": "tcp", "port": 80, "targetPort": echo}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "echo"},
         "subsets": [{"addresses": [{"ip": "127.0.10.1"}],
                      "ports": [{"name": "tcp", "port": echo}]}]}]
    with start_apiserver(tmp_path / "data", km=km, env=env, extra_args=[
            "--service-cluster-ip-range", "127.96.0.0/16"]) as server:
        kubectl = Kubectl(server, tmp_path / "kube-cache")
        kubectl("apply", "-f", "-", input="\n".join(json.dumps(m) for m in manifests))
        vip = kubectl.json("get", "service", "echo")["spec"]["clusterIP"]
        assert vip.startswith("127.96.")
        procs = []
        for name, args in (
                ("controller-manager", ["--controllers", "endpointslicemirroring",
                                        "--leader-elect=false", "--secure-port", "0"]),
                ("proxy", ["--proxy-mode", "userspace", "--healthz-bind-address", "0",
                           "--metrics-bind-address", "0"])):
            with (tmp_path / f"{name}.log").open("wb") as log:
                procs.append(subprocess.Popen([str(km), name, "--master", server.url, *args],
                                              env=env, stdout=subprocess.DEVNULL, stderr=log))
        try:
            until(lambda: slice_ips(kubectl, "echo") == ["127.0.10.1"],
                  "the mirrored slice", WAIT, POLL)
            assert until(lambda: greet(vip, 80), f"{vip}:80", lab.WAIT, lab.POLL,
                         retry_on=lab.NOT_YET) == "ep1"
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(15) for proc in procs]
        assert codes == [0, 0], [(tmp_path / f"{n}.log").read_text()[-2000:]
                                 for n in ("controller-manager", "proxy")]
