"""The real kubectl against the built km.pyz (HTTPS, RBAC): PriorityClasses (``kubectl create
priorityclass`` sends protobuf), pods given their priority, ``kubectl explain``, and
``kubectl get --raw /metrics``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl, rows

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = base.api  # fixture: a km.pyz apiserver for this module (HTTPS, RBAC)
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test


def test_priority_classes_with_kubectl(kubectl: Kubectl) -> None:
    out = kubectl("create", "priorityclass", "e2e-high", "--value=1000",
                  "--description=for the test", "--preemption-policy=Never").stdout
    assert out.strip() == "priorityclass.scheduling.k8s.io/e2e-high created"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e2e-prio"},
           "spec": {"priorityClassName": "e2e-high",
                    "containers": [{"name": "c", "image": "nginx"}]}}
    try:
        table = rows(kubectl("get", "pc").stdout)
        assert table[0] == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
        by_name = {row[0]: row for row in table[1:]}
        assert by_name["e2e-high"][1:3] == ["1000", "false"]
        assert by_name["e2e-high"][4] == "Never"
        assert by_name["system-node-critical"][1] == "2000001000"
        kubectl("apply", "-f", "-", input=json.dumps(pod))
        made = kubectl.json("get", "pod", "e2e-prio")
        assert (made["spec"]["priority"], made["spec"]["preemptionPolicy"]) == (1000, "Never")
        refused = kubectl("create", "priorityclass", "e2e-too-high", "--value=1000000001",
                          check=False)
        assert refused.returncode == 1
        assert "maximum allowed value of a user defined priority is 1000000000" in \
            refused.stderr
        missing = kubectl("run", "e2e-none", "--image=nginx",
                          '--overrides={"spec":{"priorityClassName":"nope"}}', check=False)
        assert "no PriorityClass with name nope was found" in missing.stderr
        described = kubectl("describe", "priorityclass", "e2e-high").stdout
        assert "Value:" in described and "1000" in described
        assert "for the test" in described
        explained = kubectl("explain", "priorityclass.preemptionPolicy").stdout
        assert "PreemptLowerPriority" in explained
    finally:
        kubectl("delete", "pod", "e2e-prio", "--ignore-not-found", "--wait=false")
        kubectl("delete", "priorityclass", "e2e-high", "--ignore-not-found")


def test_get_raw_metrics(kubectl: Kubectl) -> None:
    kubectl("get", "namespaces")
    text = kubectl("get", "--raw", "/metrics").stdout
    lines = [line for line in text.splitlines() if line.startswith("apiserver_request_total{")]
    assert any('resource="namespaces"' in line and 'verb="LIST"' in line and
               'code="200"' in line for line in lines), lines[:10]
    assert "etcd_request_duration_seconds_bucket{" in text


def test_what_the_scheduler_identity_may_do(kubectl: Kubectl, certs: Path) -> None:
    """Its bootstrap role: read priority classes, review tokens (delegated authentication of
    its own /metrics); not read the apiserver's /metrics (system:monitoring's)."""
    sched = [*kubectl.base[:1], "--kubeconfig", str(certs / "scheduler.kubeconfig"),
             *kubectl.base[3:]]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*sched, *args], capture_output=True, text=True, timeout=60,
                              input=stdin)

    assert run("get", "priorityclasses", "-o", "name").returncode == 0
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
              "spec": {"token": "not-a-token"}}
    # --validate=false: for a kind with no PATCH path kubectl's validation falls back to
    # /openapi/v2, which km does not serve
    done = run("create", "--validate=false", "-o", "json", "-f", "-", stdin=json.dumps(review))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["error"] == "invalid bearer token"
    metrics = run("get", "--raw", "/metrics")
    assert metrics.returncode == 1
    assert "Forbidden" in metrics.stderr or "forbidden" in metrics.stderr


def test_apply_a_priorityclass_twice(kubectl: Kubectl) -> None:
    manifest = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "e2e-applied"}, "value": 50, "description": "one"}
    try:
        out = kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout
        assert out.strip() == "priorityclass.scheduling.k8s.io/e2e-applied created"
        manifest["description"] = "two"
        out = kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout
        assert out.strip() == "priorityclass.scheduling.k8s.io/e2e-applied configured"
        assert kubectl.json("get", "pc", "e2e-applied")["description"] == "two"
        manifest["value"] = 51
        refused = kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
        assert refused.returncode == 1
        assert "value: Forbidden: may not be changed in an update." in refused.stderr
    finally:
        kubectl("delete", "pc", "e2e-applied", "--ignore-not-found")
