"""km.pyz controller-manager with km.pyz hollow-node and scheduler, driven by real kubectl:
an RC's pods made, scheduled and Running; kubectl scale rc; a Service's Endpoints;
kubectl delete rc (propagationPolicy Background) takes its pods with it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

WAIT = 30.0
POLL = 0.2  # how often the tests' waits (tests.support.wait) look

RC = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
      "spec": {"replicas": 3, "selector": {"app": "web"}, "template": {
          "metadata": {"labels": {"app": "web"}},
          "spec": {"containers": [{"name": "c", "image": "nginx",
                                   "ports": [{"name": "http", "containerPort": 8080}]}]}}}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"},
                    "ports": [{"port": 80, "targetPort": "http"}]}}


@pytest.fixture
def api(km: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data", km=km, env=env) as server:
        yield server


@pytest.fixture
def cluster(km: Path, api: ApiServer, tmp_path: Path,
            env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two hollow nodes, the scheduler and the controller-manager, each logging to a file."""
    procs = []
    for name, args in (("hollow-node", ["--nodes", "2"]),
                       ("scheduler", ["--leader-elect=false", "--secure-port", "0"]),
                       ("controller-manager", ["--secure-port", "0"])):
        with (tmp_path / f"{name}.log").open("wb") as log:
            procs.append(subprocess.Popen([str(km), name, "--master", api.url, *args],
                                          env=env, stdout=subprocess.DEVNULL, stderr=log))
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def running_pods(kubectl: Kubectl) -> list[list[str]]:
    out = kubectl("get", "pods", "-l", "app=web", "--no-headers", "-o", "wide").stdout
    rows = [line.split() for line in out.strip().splitlines() if line.strip()]
    return [r for r in rows if r[2] == "Running" and r[6].startswith("hollow-")]


def test_rc_scale_endpoints_and_cascading_delete(
        api: ApiServer, cluster: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    kubectl = Kubectl(api, tmp_path / "kube-cache")
    kubectl("apply", "-f", "-", input=json.dumps(RC))
    kubectl("apply", "-f", "-", input=json.dumps(SERVICE))
    until(lambda: len(running_pods(kubectl)) == 3 and len(kubectl(
                 "get", "pods", "--no-headers").stdout.strip().splitlines()) == 3,
          "3 Running pods of the RC", WAIT, POLL)
    kubectl("scale", "rc", "web", "--replicas=5")
    until(lambda: len(running_pods(kubectl)) == 5, "5 Running pods", WAIT, POLL)

    def rc_ready() -> bool:
        row = kubectl("get", "rc", "web", "--no-headers").stdout.split()
        return row[1:4] == ["5", "5", "5"]

    until(rc_ready, "kubectl get rc to show 5 5 5", WAIT, POLL)

    def five_endpoints() -> list[str] | None:
        got = kubectl.json("get", "endpoints", "web")
        ips = [a["ip"] for s in got.get("subsets") or () for a in s.get("addresses") or ()]
        return ips if len(ips) == 5 else None

    ips = until(five_endpoints, "5 ready endpoints", WAIT, POLL)
    pod_ips = {r[5] for r in running_pods(kubectl)}
    assert set(ips) == pod_ips
    assert ":8080" in kubectl("get", "ep", "web").stdout
    events = kubectl("get", "events", "--field-selector",
                     "involvedObject.kind=ReplicationController").stdout
    assert "SuccessfulCreate" in events and "Created pod: web-" in events
    kubectl("delete", "rc", "web", "--timeout=20s")
    until(lambda: kubectl("get", "pods", "--no-headers").stdout.strip() == "",
          "the RC's pods to go", WAIT, POLL)
    for proc in cluster:
        assert proc.poll() is None
