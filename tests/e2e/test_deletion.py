"""Deletion as a kubectl user sees it, with the built km.pyz: ``kubectl delete
--cascade=foreground|orphan|background`` of RCs and ReplicaSets whose pods run on hollow
nodes, and ``kubectl delete ns`` (Terminating, creates refused, then gone)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_controller_manager import POLL, WAIT, api, cluster  # noqa: F401 (fixtures)
from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer
from tests.support.wait import until

Obj = dict[str, Any]


def workload(kind: str, name: str, replicas: int = 2) -> Obj:
    labels = {"app": name}
    selector: Obj = labels if kind == "ReplicationController" else {"matchLabels": labels}
    return {"apiVersion": "v1" if kind == "ReplicationController" else "apps/v1",
            "kind": kind, "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": selector, "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "nginx"}]}}}}


@pytest.fixture
def kubectl(api: ApiServer, tmp_path: Path,  # noqa: F811
            cluster: list[subprocess.Popen[bytes]]) -> Iterator[Kubectl]:  # noqa: F811
    yield Kubectl(api, tmp_path / "kube-cache")
    for proc in cluster:
        assert proc.poll() is None, "a server of the cluster exited"


def pods(kubectl: Kubectl, app: str, namespace: str = "default") -> list[Obj]:
    listed = kubectl.json("get", "pods", "-l", f"app={app}", "-n", namespace)
    return list(listed["items"])


def running(kubectl: Kubectl, app: str, count: int, namespace: str = "default") -> None:
    until(lambda: sum(
        p.get("status", {}).get("phase") == "Running" for p in pods(kubectl, app, namespace))
        == count, f"{count} Running pods of {app}", WAIT, POLL)


def test_delete_with_each_cascade(kubectl: Kubectl) -> None:
    for kind, name in (("ReplicationController", "fg"), ("ReplicaSet", "orph"),
                       ("ReplicationController", "bg")):
        kubectl("apply", "-f", "-", input=json.dumps(workload(kind, name)))
    for name in ("fg", "orph", "bg"):
        running(kubectl, name, 2)
    # Foreground: kubectl waits until the RC is gone, which is after its pods went.
    kubectl("delete", "rc", "fg", "--cascade=foreground", "--timeout=25s")
    assert pods(kubectl, "fg") == []
    # Orphan: the ReplicaSet goes, its pods stay without an ownerReference.
    out = kubectl("delete", "rs", "orph", "--cascade=orphan", "--timeout=25s").stdout
    assert 'replicaset.apps "orph" deleted' in out
    kept = pods(kubectl, "orph")
    assert len(kept) == 2 and not any(p["metadata"].get("ownerReferences") for p in kept)
    # Background (kubectl's default): the RC goes at once, the collector takes the pods.
    kubectl("delete", "rc", "bg", "--timeout=25s")
    until(lambda: pods(kubectl, "bg") == [], "the background RC's pods to go", WAIT, POLL)
    kubectl("delete", "pods", "-l", "app=orph", "--timeout=25s")


def test_delete_namespace_terminates_then_goes(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "x")
    kubectl("create", "configmap", "settings", "-n", "x", "--from-literal=a=b")
    spec = workload("ReplicationController", "web", 1)
    kubectl("apply", "-n", "x", "-f", "-", input=json.dumps(spec))
    running(kubectl, "web", 1, "x")
    until(lambda: kubectl(
        "get", "serviceaccount", "default", "-n", "x", check=False).returncode == 0,
        "the default ServiceAccount in x", WAIT, POLL)
    kubectl("delete", "namespace", "x", "--wait=false")
    row = kubectl("get", "namespace", "x", "--no-headers").stdout.split()
    assert row[:2] == ["x", "Terminating"]
    refused = kubectl("create", "configmap", "late", "-n", "x", check=False)
    assert refused.returncode != 0
    assert ('configmaps "late" is forbidden: unable to create new content in namespace x '
            "because it is being terminated") in refused.stderr
    until(lambda: kubectl(
        "get", "namespace", "x", check=False).returncode != 0, "namespace x to go", WAIT, POLL)
    gone = kubectl("get", "namespace", "x", check=False)
    assert 'namespaces "x" not found' in gone.stderr
