"""km.pyz's statefulset, daemonset and disruption controllers with hollow nodes and the
scheduler, driven by real kubectl: a StatefulSet's ordered pods, partitioned rolling update
and scale down from the top; a DaemonSet following nodes (a second hollow-node process, a
taint removed) and skipping a tainted node; ``kubectl drain`` waiting on a PodDisruptionBudget
that allows nothing and finishing once it allows one."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

WAIT = 30.0
POLL = 0.1  # how often the tests' waits (tests.support.wait) look


class Cluster:
    """An apiserver with the scheduler, the controller-manager and hollow-node processes."""

    def __init__(self, km: Path, api: ApiServer, logs: Path, env: dict[str, str]) -> None:
        self.km, self.api, self.logs, self.env = km, api, logs, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kubectl = Kubectl(api, logs / "kube-cache")

    def start(self, name: str, server: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen([str(self.km), server, "--master", self.api.url, *args],
                                    env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pods(self, selector: str) -> dict[str, dict[str, Any]]:
        items = self.kubectl.json("get", "pods", "-l", selector)["items"]
        return {p["metadata"]["name"]: p for p in items}


@pytest.fixture
def cluster(km: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    with start_apiserver(tmp_path / "data", km=km, env=env) as api:
        made = Cluster(km, api, tmp_path, env)
        made.start("hollow-a", "hollow-node", "--nodes", "2", "--node-prefix", "a")
        made.start("scheduler", "scheduler", "--leader-elect=false", "--secure-port", "0")
        made.start("controller-manager", "controller-manager", "--leader-elect=false",
                   "--secure-port", "0")
        try:
            until(lambda: len(made.kubectl(
                "get", "nodes", "--no-headers").stdout.strip().splitlines()) == 2,
                "2 nodes", WAIT, POLL)
            yield made
        finally:
            for name in list(made.procs):
                made.stop(name)


def running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" \
        and not pod["metadata"].get("deletionTimestamp")


STS = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
       "spec": {"replicas": 3, "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "nodeSelector": {"tier": "web"},
                    "containers": [{"name": "c", "image": "nginx:1"}]}}}}


def test_statefulset_ordered_partitioned_update_and_scale_down(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    kubectl("apply", "-f", "-", input=json.dumps(STS))
    # No node has tier=web: web-0 stays Pending, and OrderedReady makes nothing after it.
    until(lambda: "web-0" in cluster.pods("app=web"), "web-0", WAIT, POLL)
    time.sleep(2.0)
    assert sorted(cluster.pods("app=web")) == ["web-0"]
    kubectl("label", "node", "a-0", "tier=web")
    seen: list[dict[str, str]] = []

    def three_running() -> bool:
        pods = cluster.pods("app=web")
        seen.append({n: (p.get("status") or {}).get("phase", "") for n, p in pods.items()})
        return len(pods) == 3 and all(running(p) for p in pods.values())

    until(three_running, "3 Running pods", WAIT, POLL)
    for state in seen:  # web-N+1 exists only once web-N is Running
        for i in (1, 2):
            if f"web-{i}" in state:
                assert state.get(f"web-{i - 1}") == "Running", seen
    web0 = cluster.pods("app=web")["web-0"]
    assert web0["spec"]["hostname"] == "web-0" and web0["spec"]["subdomain"] == "web"
    assert web0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"
    kubectl("rollout", "status", "sts/web", "--timeout=20s")
    kubectl("patch", "sts", "web", "-p",
            '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}')
    kubectl("set", "image", "sts/web", "c=nginx:2")
    done = kubectl("rollout", "status", "sts/web", "--timeout=30s").stdout
    assert "partitioned roll out complete: 1 new pods have been updated" in done

    def images() -> dict[str, str] | None:
        pods = cluster.pods("app=web")
        if len(pods) != 3 or not all(running(p) for p in pods.values()):
            return None
        return {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}

    assert until(images, "3 Running pods", WAIT, POLL) == {
        "web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2"}
    status = kubectl.json("get", "sts", "web")["status"]
    assert status["currentRevision"] != status["updateRevision"]
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    kubectl("scale", "sts", "web", "--replicas=1")
    states: list[set[str]] = []

    def only_web0() -> bool:
        names = set(cluster.pods("app=web"))
        states.append(names)
        return names == {"web-0"}

    until(only_web0, "scale down to web-0", WAIT, POLL)
    assert all("web-1" in s for s in states if "web-2" in s), states  # from the top


DS = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
      "spec": {"selector": {"matchLabels": {"app": "agent"}},
               "template": {"metadata": {"labels": {"app": "agent"}},
                            "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}}


def test_daemonset_follows_nodes_and_skips_a_tainted_one(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    kubectl("taint", "node", "a-1", "dedicated=db:NoSchedule")
    kubectl("apply", "-f", "-", input=json.dumps(DS))

    def on_nodes(wanted: set[str]) -> Callable[[], bool]:
        def check() -> bool:
            pods = cluster.pods("app=agent").values()
            nodes = [p["spec"].get("nodeName") for p in pods if running(p)]
            return sorted(nodes) == sorted(wanted) and len(list(pods)) == len(wanted)
        return check

    until(on_nodes({"a-0"}), "the daemon pod on a-0 only", WAIT, POLL)
    cluster.start("hollow-b", "hollow-node", "--nodes", "2", "--node-prefix", "b",
                  "--delete-nodes-on-exit")
    until(on_nodes({"a-0", "b-0", "b-1"}), "daemon pods on the new nodes", WAIT, POLL)
    kubectl("rollout", "status", "ds/agent", "--timeout=20s")
    row = kubectl("get", "ds", "agent", "--no-headers").stdout.split()
    assert row[1:6] == ["3", "3", "3", "3", "3"]  # desired current ready up-to-date available
    kubectl("set", "image", "ds/agent", "c=agent:2")
    done = kubectl("rollout", "status", "ds/agent", "--timeout=30s").stdout
    assert 'daemon set "agent" successfully rolled out' in done

    def updated() -> bool:
        pods = list(cluster.pods("app=agent").values())
        return len(pods) == 3 and all(
            running(p) and p["spec"]["containers"][0]["image"] == "agent:2" for p in pods)

    until(updated, "3 Running pods of agent:2", WAIT, POLL)
    kubectl("taint", "node", "a-1", "dedicated-")
    until(on_nodes({"a-0", "a-1", "b-0", "b-1"}), "a daemon pod on the untainted node", WAIT, POLL)
    cluster.stop("hollow-b")  # deletes its nodes

    def desired_two() -> bool:
        status = kubectl.json("get", "ds", "agent")["status"]
        return status["desiredNumberScheduled"] == 2

    until(desired_two, "2 desired once b's nodes are gone", WAIT, POLL)


DB = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
      "spec": {"replicas": 2, "serviceName": "db", "podManagementPolicy": "Parallel",
               "selector": {"matchLabels": {"app": "db"}},
               "template": {"metadata": {"labels": {"app": "db"}},
                            "spec": {"containers": [{"name": "c", "image": "db"}]}}}}
PDB = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
       "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}}


def test_drain_waits_on_a_budget_and_proceeds_once_it_allows(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    kubectl("apply", "-f", "-", input=json.dumps(DB))
    kubectl("apply", "-f", "-", input=json.dumps(PDB))
    until(lambda: sum(
        1 for p in cluster.pods("app=db").values() if running(p)) == 2,
        "2 Running db pods", WAIT, POLL)

    def budget(allowed: int) -> Callable[[], bool]:
        def check() -> bool:
            got = kubectl.json("get", "pdb", "db")
            status = got.get("status") or {}
            return (status.get("observedGeneration") == got["metadata"]["generation"]
                    and status.get("currentHealthy") == 2
                    and status.get("disruptionsAllowed") == allowed)
        return check

    until(budget(0), "the budget to allow nothing", WAIT, POLL)
    assert kubectl("get", "pdb", "db", "--no-headers").stdout.split()[3] == "0"
    node = cluster.pods("app=db")["db-0"]["spec"]["nodeName"]
    short = kubectl("drain", node, "--ignore-daemonsets", "--timeout=3s", check=False)
    assert short.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget" in short.stderr
    assert running(cluster.pods("app=db")["db-0"])
    drain = subprocess.Popen([*kubectl.base, "drain", node, "--ignore-daemonsets",
                              "--timeout=40s"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)
        assert drain.poll() is None  # still waiting on the budget
        kubectl("patch", "pdb", "db", "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
        out, err = drain.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            drain.kill()
    assert drain.returncode == 0, err
    assert f"node/{node} drained" in out and "evicted" in out

    def moved() -> bool:
        pod = cluster.pods("app=db").get("db-0")
        return bool(pod and running(pod) and pod["spec"]["nodeName"] != node)

    until(moved, "db-0 Running on the other node", WAIT, POLL)


def _revisioned(manifest: dict[str, Any], name: str, image: str) -> str:
    """``manifest`` named ``name`` running ``image``, its change-cause saying so."""
    body = json.loads(json.dumps(manifest))
    body["metadata"] = {"name": name, "annotations": {
        "kubernetes.io/change-cause": f"image {image}"}}
    if "replicas" in body["spec"]:
        body["spec"]["replicas"] = 2
    spec = body["spec"]["template"]["spec"]
    spec.pop("nodeSelector", None)
    spec["containers"][0]["image"] = image
    return json.dumps(body)


def _history(kubectl: Kubectl, ref: str) -> list[list[str]]:
    out = kubectl("rollout", "history", ref).stdout.strip().splitlines()
    assert out[1].split() == ["REVISION", "CHANGE-CAUSE"], out
    return [line.split(None, 1) for line in out[2:]]


def test_statefulset_and_daemonset_history_and_undo(cluster: Cluster) -> None:
    """Each template is a ControllerRevision: rollout history lists them with their
    change-cause, undo brings the old pods back and renumbers the old revision."""
    kubectl = cluster.kubectl
    for kind, ref, manifest, selector, images in (
            ("statefulset", "sts/hist", STS, "app=web", ("nginx:1", "nginx:2")),
            ("daemonset", "ds/hist", DS, "app=agent", ("agent:1", "agent:2"))):
        for image in images:
            kubectl("apply", "-f", "-", input=_revisioned(manifest, "hist", image))
            kubectl("rollout", "status", ref, "--timeout=30s", timeout=40)
        assert _history(kubectl, ref) == [["1", f"image {images[0]}"],
                                          ["2", f"image {images[1]}"]]
        rows = kubectl("get", "controllerrevisions", "-l", selector).stdout.splitlines()
        assert rows[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
        assert sorted(r.split()[1:3] for r in rows[1:]) == [
            [f"{kind}.apps/hist", "1"], [f"{kind}.apps/hist", "2"]]
        shown = kubectl("rollout", "history", ref, "--revision=1").stdout
        assert re.search(rf"Image:\s+{re.escape(images[0])}\n", shown), shown

        assert "rolled back" in kubectl("rollout", "undo", ref).stdout
        kubectl("rollout", "status", ref, "--timeout=30s", timeout=40)

        def old_images(selector: str = selector, image: str = images[0]) -> bool:
            pods = cluster.pods(selector)
            return len(pods) == 2 and all(
                running(p) and p["spec"]["containers"][0]["image"] == image
                for p in pods.values())

        until(old_images, f"{kind} pods back on {images[0]}", WAIT, POLL)
        assert _history(kubectl, ref) == [["2", f"image {images[1]}"],
                                          ["3", f"image {images[0]}"]]
        kubectl("delete", ref)
