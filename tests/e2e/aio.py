"""``km all-in-one`` as a test drives it: the process, kubectl on its admin kubeconfig, the
bound and pace of waits (``until`` is tests/support/wait.py's), manifests, and the removal of
its pods after a failure.

    cluster = Cluster(km, tmp / "data", "--isolation", "namespaces", prefix=tuple(enter(ns)))
    cluster.start(); until(lambda: cluster.node_ready(node), "the node Ready", WAIT, POLL)
    apply(cluster, deployment("web", 2, "exec python3 -m http.server 8000"))
    ...
    cluster.stop(); remove_namespaced_pods(ns, cluster.data / "kubelet", node, pod_cidr)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.netns import enter

__all__ = ["POLL", "QUIET", "REPO", "WAIT", "Cluster", "api_client_pod", "apply", "deployment",
           "remove_namespaced_pods", "remove_process_pods"]

WAIT = 30.0
POLL = 0.2  # how often the tests' waits (tests.support.wait) look
REPO = Path(__file__).resolve().parents[2]
# The components' own listeners off (port 0): other tests of the machine use kube's ports.
QUIET = ["--kubelet-arg", "port=0", "--kubelet-arg", "healthz-port=0",
         "--kube-proxy-arg", "healthz-bind-address=0",
         "--kube-proxy-arg", "metrics-bind-address=0",
         "--kube-controller-manager-arg", "secure-port=0", "--kube-scheduler-arg", "secure-port=0"]


class Cluster:
    """One ``km all-in-one`` process and kubectl on its admin kubeconfig."""

    def __init__(self, km: Path, data: Path, *args: str, prefix: tuple[str, ...] = ()) -> None:
        self.data = data
        self.prefix = list(prefix)
        self.cmd = [*prefix, str(km), "all-in-one", "--data-dir", str(data),
                    "--bind-address", "127.0.0.1", *args]
        self.log = data.parent / f"{data.name}.log"
        self.env = {**os.environ, "KM_CACHE_DIR": str(data.parent / "cache")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=log, env=self.env)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def running_now(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def run(self, *args: str, input: str | None = None, timeout: float = 30,
            ) -> subprocess.CompletedProcess[str]:
        """kubectl ``args`` on the admin kubeconfig, whatever its exit code."""
        return subprocess.run([*self.prefix, "kubectl", "--kubeconfig",
                               str(self.data / "admin.kubeconfig"), *args], input=input,
                              capture_output=True, text=True, timeout=timeout)

    def kubectl(self, *args: str, check: bool = True) -> str:
        done = self.run(*args)
        if check:
            assert done.returncode == 0, done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        done = self.run(*args, "-o", "json")
        return json.loads(done.stdout) if done.returncode == 0 else None

    def node_ready(self, name: str) -> bool:
        node = self.json("get", "node", name)
        conditions = ((node or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def running(self, selector: str, count: int) -> list[dict[str, Any]]:
        pods = (self.json("get", "pods", "-l", selector) or {}).get("items") or []
        up = [p for p in pods if p["status"].get("phase") == "Running"
              and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
        return up if len(up) == count == len(pods) else []


def deployment(name: str, replicas: int, script: str) -> str:
    """A Deployment of ``replicas`` pods running ``sh -c script``, labelled app=NAME."""
    labels = {"app": name}
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "web", "image": "python",
                                     "command": ["sh", "-c", script]}]}}}})


def api_client_pod(name: str, first: str = "") -> str:
    """A pod NAME (restartPolicy Never) that reaches the API as an in-cluster client does:
    through the ``kubernetes`` Service, with its ServiceAccount token and ca.crt, it GETs
    itself and prints the HTTP status; ``first`` runs before, with $D the token's folder."""
    script = ("D=/var/run/secrets/kubernetes.io/serviceaccount; " + first +
              'curl -sS --cacert $D/ca.crt -H "Authorization: Bearer $(cat $D/token)" '
              "-o /dev/null -w '%{http_code}\\n' "
              "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
              f"/api/v1/namespaces/default/pods/{name}")
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                 "containers": [{"name": name, "image": "curl",
                                 "command": ["sh", "-c", script]}]}})


def apply(cluster: Cluster, manifest: str) -> None:
    done = cluster.run("apply", "-f", "-", input=manifest)
    assert done.returncode == 0, done.stderr


def remove_process_pods(root: Path, node: str) -> None:
    """Whatever ``--isolation none`` pods a failed test left, removed by the runtime itself."""
    from servers.kubelet.runtime.process import ProcessRuntime

    asyncio.run(ProcessRuntime(str(root), node).remove_all())


def remove_namespaced_pods(netns: str, root: Path, node: str, pod_cidr: str) -> None:
    """The same for ``--isolation namespaces`` pods, inside the test's namespace."""
    script = ("import asyncio\n"
              "from servers.kubelet.runtime.oci import NamespacesRuntime\n"
              f"rt = NamespacesRuntime({str(root)!r}, {node!r}, {pod_cidr!r}, "
              "'10.244.0.0/16', '10.96.0.0/12')\n"
              "asyncio.run(rt.remove_all())\n")
    done = subprocess.run([*enter(netns), str(REPO / ".venv/bin/python"), "-c", script],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
