"""km.pyz controller-manager (deployment and replicaset controllers) with km.pyz hollow-node
and scheduler, driven by real kubectl 1.32: create deployment (0/3 -> 3/3), rollout status,
set image (revision 2, the old RS at 0), rollout undo (revision 1's template as revision 3),
rollout restart, pause/resume, scale, Recreate, and ProgressDeadlineExceeded for pods that
cannot be scheduled."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_controller_manager import POLL, WAIT, api, cluster
from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer
from tests.support.wait import until

__all__ = ["api", "cluster"]  # fixtures shared with test_controller_manager
REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture
def kubectl(api: ApiServer, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    return Kubectl(api, tmp_path / "kube-cache")


def replicasets(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    items = kubectl.json("get", "rs", "-l", f"app={app}")["items"]
    return sorted(items, key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))


def rollout_status(kubectl: Kubectl, name: str) -> str:
    out = kubectl("rollout", "status", f"deploy/{name}", "--timeout=30s", timeout=40).stdout
    assert out.rstrip().endswith(f'deployment "{name}" successfully rolled out'), out
    return out


def image(rs: dict[str, Any]) -> str:
    return str(rs["spec"]["template"]["spec"]["containers"][0]["image"])


def test_rollout_set_image_undo_restart_pause_scale(
        cluster: list[subprocess.Popen[bytes]], kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    first = kubectl("get", "deploy", "web", "--no-headers").stdout.split()
    assert first[0] == "web" and first[1].endswith("/3")
    rollout_status(kubectl, "web")
    assert kubectl("get", "deploy", "web", "--no-headers").stdout.split()[1:4] == \
        ["3/3", "3", "3"]
    (rs1,) = replicasets(kubectl, "web")
    h = rs1["metadata"]["labels"]["pod-template-hash"]
    pods = kubectl.json("get", "pods", "-l", "app=web")["items"]
    assert len(pods) == 3
    assert all(p["metadata"]["name"].startswith(f"web-{h}-") and p["spec"]["nodeName"]
               for p in pods)

    kubectl("set", "image", "deploy/web", "nginx=nginx:1.27")
    rollout_status(kubectl, "web")
    old, new = replicasets(kubectl, "web")
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 3)
    assert new["metadata"]["annotations"][REVISION] == "2" and image(new) == "nginx:1.27"
    events = kubectl("get", "events", "--field-selector", "reason=ScalingReplicaSet").stdout
    assert f"Scaled up replica set web-{h} from 0 to 3" in events

    assert "rolled back" in kubectl("rollout", "undo", "deploy/web").stdout
    rollout_status(kubectl, "web")
    rs2, reused = replicasets(kubectl, "web")  # by revision: 2, then 3
    assert reused["metadata"]["name"] == f"web-{h}" and image(reused) == "nginx"
    assert reused["metadata"]["annotations"][REVISION] == "3"
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] \
        == "1"
    assert rs2["spec"]["replicas"] == 0
    history = kubectl("rollout", "history", "deploy/web").stdout
    assert [line.split()[0] for line in history.strip().splitlines()[2:]] == ["2", "3"]

    assert "restarted" in kubectl("rollout", "restart", "deploy/web").stdout
    rollout_status(kubectl, "web")
    assert len(replicasets(kubectl, "web")) == 3

    kubectl("rollout", "pause", "deploy/web")
    kubectl("set", "image", "deploy/web", "nginx=nginx:1.28")
    until(lambda: any(
        c["reason"] == "DeploymentPaused" for c in kubectl.json("get", "deploy", "web")
        ["status"]["conditions"]), "the Paused condition", WAIT, POLL)
    assert len(replicasets(kubectl, "web")) == 3  # paused: no new RS
    kubectl("rollout", "resume", "deploy/web")
    rollout_status(kubectl, "web")
    assert image(replicasets(kubectl, "web")[-1]) == "nginx:1.28"

    kubectl("scale", "deploy/web", "--replicas=5")
    rollout_status(kubectl, "web")
    until(lambda: kubectl("get", "deploy", "web", "--no-headers").stdout.split()[1]
             == "5/5", "5/5", WAIT, POLL)
    describe = kubectl("describe", "deploy", "web").stdout
    assert "5 desired | 5 updated | 5 total | 5 available | 0 unavailable" in describe
    kubectl("delete", "deploy", "web", "--timeout=20s")
    until(lambda: kubectl(
        "get", "rs,pods", "-l", "app=web", "--no-headers").stdout.strip() == "",
        "the RSs and pods to go", WAIT, POLL)


RECREATE = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "db"},
            "spec": {"replicas": 2, "strategy": {"type": "Recreate"},
                     "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                         "containers": [{"name": "db", "image": "db:1"}]}}}}
STUCK = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stuck"},
         "spec": {"replicas": 1, "progressDeadlineSeconds": 2,
                  "selector": {"matchLabels": {"app": "stuck"}},
                  "template": {"metadata": {"labels": {"app": "stuck"}}, "spec": {
                      "nodeSelector": {"disk": "none-has-this"},
                      "containers": [{"name": "c", "image": "x"}]}}}}


def test_recreate_and_progress_deadline_exceeded(
        cluster: list[subprocess.Popen[bytes]], kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(RECREATE))
    kubectl("apply", "-f", "-", input=json.dumps(STUCK))
    rollout_status(kubectl, "db")
    kubectl("set", "image", "deploy/db", "db=db:2")
    rollout_status(kubectl, "db")
    old, new = replicasets(kubectl, "db")
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 2
    events = kubectl("get", "events", "--field-selector", "reason=ScalingReplicaSet").stdout
    assert f"Scaled down replica set {old['metadata']['name']} from 2 to 0" in events

    done = kubectl("rollout", "status", "deploy/stuck", "--timeout=30s", check=False,
                   timeout=40)
    assert done.returncode == 1
    assert 'deployment "stuck" exceeded its progress deadline' in done.stderr
    cond = next(c for c in kubectl.json("get", "deploy", "stuck")["status"]["conditions"]
                if c["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert kubectl("get", "pods", "-l", "app=stuck", "--no-headers").stdout.split()[2] == \
        "Pending"
