"""km.pyz minion: a node's kubelet and proxy as supervised children, joined to a real
``km all-in-one`` (--isolation none, on 127.0.0.1), driven by the real kubectl.

The minion's children are found through /proc (their parent is the minion under test), so
the tests kill and check only processes that the minion they started made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.aio import POLL, QUIET, WAIT, Cluster, remove_process_pods
from tests.e2e.hosts import children
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# The minion's children's own listeners off too (the all-in-one's kubelet has kube's ports).
CHILD_QUIET = ["--kubelet-arg", "port=0", "--kubelet-arg", "healthz-port=0",
               "--kube-proxy-arg", "healthz-bind-address=0",
               "--kube-proxy-arg", "metrics-bind-address=0"]


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


class Minion:
    """One ``km minion`` process, its log and its root dir."""

    def __init__(self, km: Path, root: Path, node: str, *args: str) -> None:
        self.root, self.node = root, node
        self.cmd = [str(km), "minion", "--node-name", node, "--node-ip", "127.0.0.1",
                    "--isolation", "none", "--root-dir", str(root),
                    "--log-dir", str(root / "logs"), *CHILD_QUIET, *args]
        self.log = root.parent / f"{root.name}.log"
        self.env = {**os.environ, "KM_CACHE_DIR": str(root.parent / "cache")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=log, env=self.env)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


@pytest.fixture
def cluster(km: Path, tmp_path: Path) -> Iterator[Cluster]:
    aio = Cluster(km, tmp_path / "data", "--secure-port", "0", "--isolation", "none",
                  "--node-name", "aio", *QUIET)
    aio.start()
    try:
        until(lambda: aio.node_ready("aio"), "the all-in-one's node Ready", WAIT, POLL)
        yield aio
    finally:
        aio.kubectl("delete", "pods", "--all", "--wait=false", check=False)
        assert aio.stop() == 0, aio.log.read_text()[-3000:]
        remove_process_pods(aio.data / "kubelet", "aio")


@pytest.fixture
def minions(km: Path, tmp_path: Path) -> Iterator[list[Minion]]:
    made: list[Minion] = []
    yield made
    for minion in made:
        minion.stop()
        remove_process_pods(minion.root / "kubelet", minion.node)


def server_url(cluster: Cluster) -> str:
    doc = json.loads(subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.data / "admin.kubeconfig"), "config", "view",
         "-o", "json"], capture_output=True, text=True, check=True, timeout=30).stdout)
    return str(doc["clusters"][0]["cluster"]["server"])


def pod_on(node: str, name: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                 "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "c", "image": "busybox",
                                 "command": ["sh", "-c", "echo up; exec sleep 600"]}]}})


def running_on(cluster: Cluster, name: str) -> Any:
    pod = cluster.json("get", "pod", name) or {}
    if (pod.get("status") or {}).get("phase") == "Running":
        return pod["spec"]["nodeName"]
    return None


def check_node_runs_a_pod(cluster: Cluster, minion: Minion) -> None:
    """The node goes Ready and a pod scheduled to it runs."""
    until(lambda: cluster.node_ready(minion.node), f"node {minion.node} Ready", WAIT, POLL)
    done = cluster.run("apply", "-f", "-", input=pod_on(minion.node, "on-minion"))
    assert done.returncode == 0, done.stderr
    assert until(lambda: running_on(cluster, "on-minion"),
                 "the pod Running", WAIT, POLL) == minion.node


def check_children_restart_and_stop(minion: Minion) -> None:
    """A killed child comes back after the minion's 5 s, and SIGTERM stops every child's
    process group."""
    assert minion.proc is not None
    first = until(lambda: (kids := children(minion.proc.pid)) and len(kids) == 2 and kids,
                  "kubelet and proxy running", WAIT, POLL)
    assert sorted(first) == ["kubelet", "proxy"]
    os.kill(first["proxy"], signal.SIGKILL)
    until(lambda: children(minion.proc.pid).get("proxy", first["proxy"]) != first["proxy"],
          "the proxy restarted", 20, POLL)
    every = {**first, **children(minion.proc.pid)}
    assert minion.stop() == 0, minion.log.read_text()[-3000:]
    assert all(group_gone(pid) for pid in every.values()), "no child's group left"
    text = minion.log.read_text()
    assert "proxy exited (code -9); restarting in 5s" in text
    assert "Traceback" not in text
    logs = minion.root / "logs"
    assert (logs / "kubelet.log").stat().st_size > 0 and (logs / "proxy.log").exists()


def test_minion_with_a_kubeconfig_runs_a_node(km: Path, cluster: Cluster, tmp_path: Path,
                                              minions: list[Minion]) -> None:
    minion = Minion(km, tmp_path / "m1", "m1", "--kubeconfig",
                    str(cluster.data / "admin.kubeconfig"))
    minions.append(minion)
    minion.start()
    check_node_runs_a_pod(cluster, minion)
    check_children_restart_and_stop(minion)
