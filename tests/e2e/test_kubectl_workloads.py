"""The real kubectl against the built km.pyz (HTTPS, RBAC): the workload APIs — create, get,
describe, scale, set image, rollout pause/resume/restart, apply of each kind, ``get all``,
``explain``, and ``autoscale`` refused honestly (no autoscaling/v2)."""

from __future__ import annotations

import json

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl, rows

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = base.api  # fixture: a km.pyz apiserver for this module (HTTPS, RBAC)
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test

MANIFESTS = [
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "wl-db"},
     "spec": {"serviceName": "wl-db", "selector": {"matchLabels": {"app": "wl-db"}},
              "template": {"metadata": {"labels": {"app": "wl-db"}},
                           "spec": {"containers": [{"name": "db", "image": "redis"}]}}}},
    {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "wl-agent"},
     "spec": {"selector": {"matchLabels": {"app": "wl-agent"}},
              "template": {"metadata": {"labels": {"app": "wl-agent"}},
                           "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}},
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "wl-rs"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "wl-rs"}},
              "template": {"metadata": {"labels": {"app": "wl-rs"}},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wl-svc"},
     "spec": {"selector": {"app": "wl"}, "ports": [{"name": "http", "port": 80,
                                                    "targetPort": 8080}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "wl-svc-abc", "labels": {"kubernetes.io/service-name": "wl-svc"}},
     "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.5"],
                                           "conditions": {"ready": True}}],
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
]


def manifest() -> str:
    """The manifests as one JSON stream (a v1 List would send kubectl to /openapi/v2)."""
    return "\n".join(json.dumps(m) for m in MANIFESTS)


def test_deployment_lifecycle_with_kubectl(kubectl: Kubectl) -> None:
    out = kubectl("create", "deployment", "wl-web", "--image=nginx", "--replicas=3").stdout
    assert out.strip() == "deployment.apps/wl-web created"
    try:
        table = rows(kubectl("get", "deploy", "wl-web", "-o", "wide").stdout)
        assert table[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                            "IMAGES", "SELECTOR"]
        assert table[1][:4] == ["wl-web", "0/3", "0", "0"]
        assert table[1][5:] == ["nginx", "nginx", "app=wl-web"]
        kubectl("scale", "deploy/wl-web", "--replicas=5")
        kubectl("set", "image", "deploy/wl-web", "nginx=nginx:1.27")
        kubectl("rollout", "pause", "deploy/wl-web")
        assert kubectl.json("get", "deploy", "wl-web")["spec"]["paused"] is True
        kubectl("rollout", "resume", "deploy/wl-web")
        kubectl("rollout", "restart", "deploy/wl-web")
        got = kubectl.json("get", "deploy", "wl-web")
        assert got["spec"]["replicas"] == 5 and "paused" not in got["spec"]
        assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
        assert "kubectl.kubernetes.io/restartedAt" in got["spec"]["template"]["metadata"][
            "annotations"]
        assert got["metadata"]["generation"] == 6
        described = kubectl("describe", "deploy", "wl-web").stdout
        assert "Replicas:               5 desired" in described
        assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in described
        missing = kubectl("set", "image", "deploy/wl-web", "nope=x", check=False)
        assert 'unable to find container named "nope"' in missing.stderr
        refused = kubectl("autoscale", "deploy", "wl-web", "--max=3", check=False)
        assert refused.returncode == 1
        assert "the server could not find the requested resource" in refused.stderr
    finally:
        kubectl("delete", "deploy", "wl-web", "--ignore-not-found")


def test_jobs_and_cronjobs_with_kubectl(kubectl: Kubectl) -> None:
    kubectl("create", "job", "wl-pi", "--image=perl", "--", "perl", "-e", "1")
    kubectl("create", "cronjob", "wl-cj", "--image=busybox", "--schedule=*/5 * * * *",
            "--", "date")
    try:
        kubectl("create", "job", "wl-manual", "--from=cronjob/wl-cj")
        manual = kubectl.json("get", "job", "wl-manual")
        assert manual["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate":
                                                     "manual"}
        assert manual["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
        job = kubectl.json("get", "job", "wl-pi")
        uid = job["metadata"]["uid"]
        assert job["spec"]["selector"] == {
            "matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        assert (job["spec"]["backoffLimit"], job["spec"]["completionMode"]) == (6, "NonIndexed")
        table = rows(kubectl("get", "jobs").stdout)
        assert table[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
        assert ["wl-pi", "Running", "0/1"] in [r[:3] for r in table[1:]]
        table = rows(kubectl("get", "cj").stdout)
        assert table[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST",
                            "SCHEDULE", "AGE"]
        assert table[1][:2] == ["wl-cj", "*/5"]
        assert "Completion Mode:  NonIndexed" in kubectl("describe", "job", "wl-pi").stdout
    finally:
        kubectl("delete", "job", "wl-pi", "wl-manual", "--ignore-not-found")
        kubectl("delete", "cronjob", "wl-cj", "--ignore-not-found")


def test_apply_each_kind_get_all_and_explain(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=manifest())
    kubectl("create", "pdb", "wl-pdb", "--selector=app=wl-db", "--min-available=50%")
    kubectl("create", "sa", "wl-robot")
    try:
        again = kubectl("apply", "-f", "-", input=manifest()).stdout
        assert "statefulset.apps/wl-db unchanged" in again
        kubectl("scale", "sts/wl-db", "--replicas=3")
        kubectl("scale", "rs/wl-rs", "--replicas=4")
        everything = kubectl("get", "all").stdout
        for name in ("daemonset.apps/wl-agent", "replicaset.apps/wl-rs",
                     "statefulset.apps/wl-db", "service/wl-svc"):
            assert name in everything, everything
        table = rows(kubectl("get", "sts,rs").stdout)
        assert ["statefulset.apps/wl-db", "0/3"] in [r[:2] for r in table]
        assert ["replicaset.apps/wl-rs", "4", "0", "0"] in [r[:4] for r in table]
        pdb = rows(kubectl("get", "pdb", "wl-pdb").stdout)
        assert pdb[1][:4] == ["wl-pdb", "50%", "N/A", "0"]
        assert rows(kubectl("get", "sa", "wl-robot").stdout)[1][:2] == ["wl-robot", "0"]
        assert "Endpoints:                10.1.0.5:8080" in kubectl("describe", "svc",
                                                                   "wl-svc").stdout
        refused = kubectl("apply", "-f", "-", check=False, input=json.dumps(
            {**MANIFESTS[0], "metadata": {"name": "wl-pv"}, "spec": {
                **MANIFESTS[0]["spec"], "volumeClaimTemplates": [{"metadata": {"name": "d"}}]}}))
        assert "spec.volumeClaimTemplates: Forbidden: km has no persistent volumes" in \
            refused.stderr
        explained = kubectl("explain", "deployment.spec.strategy.rollingUpdate").stdout
        assert "maxSurge" in explained and "maxUnavailable" in explained
        assert "concurrencyPolicy" in kubectl("explain", "cronjob.spec").stdout
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", input=manifest())
        kubectl("delete", "pdb", "wl-pdb", "--ignore-not-found")
        kubectl("delete", "sa", "wl-robot", "--ignore-not-found")


def test_drain_evicts_through_the_disruption_budget(kubectl: Kubectl) -> None:
    """kubectl drain posts pods/eviction: 429 while the budget allows nothing (drain keeps
    retrying until its timeout), then a graceful delete once it allows one."""
    kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "wl-node"}}))
    ready = json.dumps({"status": {"phase": "Running",
                                   "conditions": [{"type": "Ready", "status": "True"}]}})
    try:
        for name in ("wl-a", "wl-b"):
            kubectl("apply", "-f", "-", input=json.dumps(
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": name, "labels": {"app": "wl-drain"}},
                 "spec": {"nodeName": "wl-node",
                          "containers": [{"name": "c", "image": "busybox"}]}}))
            kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p", ready)
        kubectl("create", "pdb", "wl-drain", "--selector=app=wl-drain", "--min-available=2")
        status = {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 2,
                  "desiredHealthy": 2, "expectedPods": 2}
        kubectl("patch", "pdb", "wl-drain", "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": status}))
        blocked = kubectl("drain", "wl-node", "--force", "--timeout=2s", "-v=6", check=False)
        assert blocked.returncode != 0
        assert "/pods/wl-a/eviction 429 Too Many Requests" in blocked.stderr
        kubectl("patch", "pdb", "wl-drain", "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": {"disruptionsAllowed": 1}}))
        kubectl("drain", "wl-node", "--force", "--timeout=3s", check=False)
        pods = {p["metadata"]["name"]: p for p in kubectl.json(
            "get", "pods", "-l", "app=wl-drain")["items"]}
        evicted = [n for n, p in pods.items() if p["metadata"].get("deletionTimestamp")]
        assert len(evicted) == 1, pods  # one eviction allowed: a graceful delete, the other 429
        budget = kubectl.json("get", "pdb", "wl-drain")["status"]
        assert budget["disruptionsAllowed"] == 0 and list(budget["disruptedPods"]) == evicted
    finally:
        kubectl("delete", "pod", "wl-a", "wl-b", "--ignore-not-found", "--grace-period=0",
                "--force")
        kubectl("delete", "pdb", "wl-drain", "--ignore-not-found")
        kubectl("delete", "node", "wl-node", "--ignore-not-found")
