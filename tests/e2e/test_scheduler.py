"""``km scheduler`` from the built km.pyz against a km.pyz apiserver, driven by real kubectl.

Nodes are created through the API by the test (no kubelet): pods land where nodeSelector,
affinity, taints and requests say; a pod that fits nowhere is explained in ``kubectl
describe`` (FailedScheduling, PodScheduled=False) and placed once the obstacle goes; a
cordoned node gets no new pods; a higher-priority pod preempts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

WAIT = 20.0
POLL = 0.1  # how often the tests' waits (tests.support.wait) look


class Schedulers:
    """``km scheduler`` processes of one test, each logging to a file; all stopped at the end."""

    def __init__(self, km: Path, api: ApiServer, tmp: Path, env: dict[str, str]) -> None:
        self.km, self.api, self.tmp, self.env = km, api, tmp, env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"scheduler-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(self.km), "scheduler", "--master", self.api.url, "--secure-port", "0",
                 "-v", "2", *args], stdout=subprocess.DEVNULL, stderr=out, env=self.env)
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    @staticmethod
    def log(proc: subprocess.Popen[bytes]) -> str:
        return Path(proc.log).read_text()  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KM_CACHE_DIR": str(tmp_path / "cache")}


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
def schedulers(km: Path, api: ApiServer, tmp_path: Path,
               env: dict[str, str]) -> Iterator[Schedulers]:
    made = Schedulers(km, api, tmp_path, env)
    try:
        yield made
    finally:
        made.stop_all()


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None,
         unschedulable: bool = False) -> dict[str, Any]:
    resources = {"cpu": cpu, "memory": memory, "pods": pods}
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": spec,
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, *, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox",
                 "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


def create(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl("create", "-f", "-", input="\n".join(json.dumps(obj) for obj in objs))


def node_of(kubectl: Kubectl, name: str) -> str:
    return kubectl("get", "pod", name, "-o", "jsonpath={.spec.nodeName}").stdout


def placed(kubectl: Kubectl, name: str, timeout: float = WAIT) -> str:
    return str(until(lambda: node_of(kubectl, name), f"pod {name} to be bound", timeout, POLL))


def pod_condition(kubectl: Kubectl, name: str, kind: str) -> dict[str, Any] | None:
    status = kubectl.json("get", "pod", name).get("status") or {}
    return next((c for c in status.get("conditions") or () if c["type"] == kind), None)


def describe(kubectl: Kubectl, name: str) -> str:
    return kubectl("describe", "pod", name).stdout


# -- where pods land ---------------------------------------------------------------------------

def test_pods_land_where_selectors_affinity_taints_and_requests_say(
        kubectl: Kubectl, schedulers: Schedulers) -> None:
    gpu_taint = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    create(kubectl,
           node("small", cpu="1"),
           node("ssd", labels={"disk": "ssd"}),
           node("gpu", cpu="8", labels={"zone": "b"}, taints=[gpu_taint]))
    schedulers.start("--leader-elect=false")
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["b"]}]}]}}}
    toleration = {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    create(kubectl,
           pod("wants-ssd", nodeSelector={"disk": "ssd"}),
           pod("wants-zone-b", affinity=affinity, tolerations=[toleration]),
           pod("big", cpu="3"))
    assert placed(kubectl, "wants-ssd") == "ssd"
    assert placed(kubectl, "wants-zone-b") == "gpu"
    assert placed(kubectl, "big") == "ssd"  # 3 cpu: not on small, and gpu is tainted
    events = until(lambda: "Successfully assigned" in (
        out := describe(kubectl, "wants-ssd")) and out,
        "the Scheduled event", WAIT, POLL)
    assert "Successfully assigned default/wants-ssd to ssd" in events
    assert "default-scheduler" in events


def test_pods_of_another_scheduler_are_left_alone(kubectl: Kubectl,
                                                  schedulers: Schedulers) -> None:
    create(kubectl, node("n1"))
    schedulers.start("--leader-elect=false")
    create(kubectl, pod("theirs", schedulerName="someone-else"), pod("ours"))
    placed(kubectl, "ours")
    time.sleep(1.0)
    assert node_of(kubectl, "theirs") == ""


def test_unschedulable_pod_is_explained_and_placed_when_a_node_fits(
        kubectl: Kubectl, schedulers: Schedulers) -> None:
    create(kubectl, node("small", cpu="1"))
    schedulers.start("--leader-elect=false")
    create(kubectl, pod("huge", cpu="16"))
    message = "0/1 nodes are available: 1 Insufficient cpu."
    out = until(lambda: message in (text := describe(kubectl, "huge")) and text,
                "FailedScheduling in describe", WAIT, POLL)
    assert "FailedScheduling" in out and "Warning" in out
    condition = until(lambda: pod_condition(kubectl, "huge", "PodScheduled"),
                      "the PodScheduled condition", WAIT, POLL)
    assert condition["status"] == "False"
    assert condition["reason"] == "Unschedulable"
    assert condition["message"].startswith(message)
    create(kubectl, node("roomy", cpu="32"))
    assert placed(kubectl, "huge") == "roomy"


def test_cordoned_node_gets_no_new_pods_until_uncordoned(kubectl: Kubectl,
                                                         schedulers: Schedulers) -> None:
    create(kubectl, node("a"), node("b"))
    kubectl("cordon", "a")
    schedulers.start("--leader-elect=false")
    create(kubectl, *(pod(f"p{i}") for i in range(4)))
    assert {placed(kubectl, f"p{i}") for i in range(4)} == {"b"}
    kubectl("cordon", "b")
    create(kubectl, pod("late"))
    until(lambda: "2 node(s) were unschedulable" in describe(
        kubectl, "late"),
        "the cordon message", WAIT, POLL)
    kubectl("uncordon", "a")
    assert placed(kubectl, "late") == "a"


# -- preemption ------------------------------------------------------------------------------

def test_a_high_priority_pod_preempts_a_low_priority_one(
        km: Path, api: ApiServer, kubectl: Kubectl, schedulers: Schedulers,
        env: dict[str, str], tmp_path: Path) -> None:
    high = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": "high"}, "value": 1000}
    create(kubectl, high)
    with (tmp_path / "hollow.log").open("wb") as log:
        hollow = subprocess.Popen([str(km), "hollow-node", "--master", api.url, "--nodes", "1",
                                   "--cpu", "1"],
                                  stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        until(lambda: kubectl("get", "nodes", "-o", "name").stdout, "the hollow node", WAIT, POLL)
        schedulers.start("--leader-elect=false")
        create(kubectl, pod("low", cpu="800m"))
        where = placed(kubectl, "low")
        create(kubectl, pod("important", cpu="800m", priorityClassName="high"))
        assert placed(kubectl, "important", timeout=40) == where
        events = kubectl.json("get", "events", "--field-selector",
                              "reason=Preempted,involvedObject.name=low")["items"]
        uid = kubectl("get", "pod", "important", "-o", "jsonpath={.metadata.uid}").stdout
        assert [e["message"] for e in events] == [f"Preempted by pod {uid} on node {where}"]
        assert kubectl("get", "pod", "low", check=False).returncode != 0  # gone
    finally:
        hollow.send_signal(signal.SIGTERM)
        try:
            hollow.wait(timeout=15)
        except subprocess.TimeoutExpired:
            hollow.kill()
            hollow.wait()


def test_pods_spread_over_hollow_nodes_and_run(km: Path, api: ApiServer, kubectl: Kubectl,
                                               schedulers: Schedulers, env: dict[str, str],
                                               tmp_path: Path) -> None:
    with (tmp_path / "hollow.log").open("wb") as log:
        hollow = subprocess.Popen([str(km), "hollow-node", "--master", api.url, "--nodes", "5"],
                                  stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        until(lambda: len(
            kubectl("get", "nodes", "-o", "name").stdout.split()) == 5,
            "5 hollow nodes", WAIT, POLL)
        schedulers.start("--leader-elect=false")
        create(kubectl, *(pod(f"w{i}") for i in range(25)))

        def running() -> list[dict[str, Any]] | None:
            items = kubectl.json("get", "pods")["items"]
            ok = len(items) == 25 and all(
                (p.get("status") or {}).get("phase") == "Running" for p in items)
            return items if ok else None

        items = until(running, "25 pods Running", 40, POLL)
        per_node: dict[str, int] = {}
        for item in items:
            per_node[item["spec"]["nodeName"]] = per_node.get(item["spec"]["nodeName"], 0) + 1
        # Every node gets some; on 32-cpu hollow nodes 100m pods score alike (kube's integer
        # LeastAllocated), so ties are broken at random and the split is not exact.
        assert len(per_node) == 5
        assert max(per_node.values()) - min(per_node.values()) <= 3
    finally:
        hollow.send_signal(signal.SIGTERM)
        try:
            hollow.wait(timeout=15)
        except subprocess.TimeoutExpired:
            hollow.kill()
            hollow.wait()


# -- flags and configuration -----------------------------------------------------------------

@pytest.mark.parametrize(("args", "error"), [
    ([], "no --kubeconfig or --master given"),
    (["--master", "http://127.0.0.1:1", "--leader-elect-lease-duration", "1s"],
     "--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline"),
    (["--master", "http://127.0.0.1:1", "--config", "/nonexistent/config.yaml"],
     "/nonexistent/config.yaml"),
])
def test_bad_flags_are_one_line_and_exit_1(km: Path, env: dict[str, str], args: list[str],
                                           error: str) -> None:
    done = subprocess.run([str(km), "scheduler", "--secure-port", "0", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("km scheduler: error: ")
    assert error in lines[0]


def test_config_profiles_choose_the_pods(kubectl: Kubectl, schedulers: Schedulers,
                                         tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("apiVersion: kubescheduler.config.k8s.io/v1\n"
                      "kind: KubeSchedulerConfiguration\n"
                      "profiles:\n- schedulerName: packer\n  pluginConfig:\n"
                      "  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n"
                      "        type: MostAllocated\n")
    create(kubectl, node("n1"), node("n2"))
    schedulers.start("--leader-elect=false", "--config", str(config))
    create(kubectl, *(pod(f"packed{i}", schedulerName="packer") for i in range(3)),
           pod("default-one"))
    assert len({placed(kubectl, f"packed{i}") for i in range(3)}) == 1  # MostAllocated packs
    assert node_of(kubectl, "default-one") == ""


def test_kube_scheduler_alias_runs_the_scheduler(km: Path, env: dict[str, str],
                                                 tmp_path: Path) -> None:
    link = tmp_path / "kube-scheduler"
    link.symlink_to(km)
    done = subprocess.run([str(link), "--help"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    for flag in ("--scheduler-name", "--config", "--leader-elect", "--secure-port",
                 "--bind-address", "--kubeconfig", "--master"):
        assert flag in done.stdout
    assert "default: 10259" in done.stdout
