"""km.pyz kubelet (--isolation none) with a km.pyz apiserver and the real kubectl.

The apiserver runs HTTPS with RBAC and dials kubelets with the admin client certificate
(system:masters); the kubelet takes only client certificates of the cluster's CA on its API.
Pods here are plain processes on loopback addresses of their own (127.x), so nothing leaves
the host's loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NODE = "n1"
WAIT = 30.0
POLL = 0.2  # how often the tests' waits (tests.support.wait) look


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("apiserver-data")
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC",
            "--kubelet-client-certificate", str(certs / "admin.crt"),
            "--kubelet-client-key", str(certs / "admin.key")]
    with start_apiserver(data, km=km, env=env, secure=True, extra_args=args) as server:
        server.kubeconfig = certs / "admin.kubeconfig"
        yield server


class Kubelet:
    """A km.pyz kubelet subprocess; ``kill()`` is kill -9, ``start()`` starts it again."""

    def __init__(self, km: Path, api: ApiServer, certs: Path, root: Path, name: str) -> None:
        # n1 has its own credentials (system:node:n1, through the Node authorizer)
        config = certs / (f"node-{name}.kubeconfig" if name == NODE else "admin.kubeconfig")
        self.cmd = [str(km), "kubelet", "--kubeconfig", str(config),
                    "--master", api.url, "--hostname-override", name,
                    "--node-ip", "127.0.0.1", "--address", "127.0.0.1", "--port", "0",
                    "--healthz-port", "0", "--client-ca-file", str(certs / "ca.crt"),
                    "--isolation", "none", "--root-dir", str(root), "-v", "2"]
        self.root = root
        self.log = root.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=out)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


def _cleanup_pods(root: Path) -> None:
    """Remove what the kubelet left running (its pods outlive it by design)."""
    import asyncio

    from servers.kubelet.runtime.process import ProcessRuntime

    async def remove() -> None:
        await ProcessRuntime(str(root), NODE).remove_all()
    asyncio.run(remove())


@pytest.fixture(scope="module")
def node(km: Path, api: ApiServer, certs: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubelet]:
    kubelet = Kubelet(km, api, certs, tmp_path_factory.mktemp("kubelet") / "root", NODE)
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
        _cleanup_pods(kubelet.root)
        assert "Traceback" not in kubelet.log.read_text()


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 2,
                                "containers": list(containers), **spec}})


def sh(script: str, name: str = "c", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return kubectl.json("get", "pod", name).get("status") or {}


def row(kubectl: Kubectl, name: str) -> list[str]:
    return kubectl("get", "pod", name, "--no-headers").stdout.split()


def test_node_registers_ready_with_its_lease(node: Kubelet, kubectl: Kubectl) -> None:
    out = until(lambda: "Ready" in kubectl("get", "node", NODE, "--no-headers",
                                           check=False).stdout and
                kubectl.json("get", "node", NODE), "the node Ready", WAIT, POLL)
    assert out["status"]["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    assert out["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    assert out["status"]["capacity"]["pods"] == "110"
    assert out["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    # (the Lease is written apart from the node's status: it may follow Ready)
    until(lambda: kubectl("get", "lease", NODE, "-n", "kube-node-lease", check=False
                          ).returncode == 0, "the node's Lease", WAIT, POLL)
    lease = kubectl.json("get", "lease", NODE, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == NODE


def test_http_server_pod_is_reachable_at_its_ip_and_logs_work(node: Kubelet,
                                                              kubectl: Kubectl) -> None:
    web = {"name": "web", "image": "python", "command": ["python3", "-u", "-m", "http.server"],
           "args": ["--bind", "$(MY_IP)", "8080"],
           "env": [{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}
    kubectl("apply", "-f", "-", input=pod("web", web))
    try:
        ip = until(lambda: status(kubectl, "web").get("phase") == "Running" and
                   status(kubectl, "web").get("podIP"), "web Running with an IP", WAIT, POLL)
        assert ip.startswith("127.") and ip != "127.0.0.1"
        body = until(lambda: _get(f"http://{ip}:8080/"), "the http.server answering", WAIT, POLL)
        assert b"Directory listing" in body
        # (the server's start line comes first; the request's line reaches the log through
        # the container's monitor, which may be a moment behind the answer)
        until(lambda: '"GET / HTTP/1.1" 200' in kubectl("logs", "web", check=False).stdout,
              "the request's log line", WAIT, POLL)
        stamped = kubectl("logs", "web", "--timestamps", "--tail", "1").stdout
        assert stamped[:4].isdigit() and stamped.split(" ", 1)[0].endswith("Z")
        follow = kubectl.popen("logs", "-f", "web")
        try:
            time.sleep(1)
            _get(f"http://{ip}:8080/followed")
            assert follow.stdout is not None
            until(lambda: "/followed" in (follow.stdout.readline() or ""),
                  "the followed line", WAIT, POLL)
        finally:
            follow.kill()
            follow.communicate()
    finally:
        kubectl("delete", "pod", "web", "--wait=true", "--timeout=20s")
    assert _get(f"http://{ip}:8080/") is None, "the pod's process outlived its deletion"


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bytes(answer.read())
    except OSError:
        return None


def test_crash_loop_back_off_restarts_and_previous_logs(node: Kubelet,
                                                        kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=pod("crash", sh("echo run $(date +%N); exit 3")))
    try:
        until(lambda: row(kubectl, "crash")[2] == "CrashLoopBackOff",
              "CrashLoopBackOff", WAIT, POLL)
        cs = status(kubectl, "crash")["containerStatuses"][0]
        assert cs["state"]["waiting"]["message"].startswith("back-off 10s restarting failed")
        assert cs["lastState"]["terminated"]["exitCode"] == 3
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        assert cs["restartCount"] >= 1
        current = kubectl("logs", "crash").stdout
        previous = kubectl("logs", "crash", "--previous").stdout
        assert current.startswith("run ") and previous.startswith("run ")

        def reasons() -> set[str]:  # (events are written apart from the status: may lag it)
            events = kubectl("get", "events", "--field-selector",
                             "involvedObject.name=crash", "-o", "json").stdout
            return {e["reason"] for e in json.loads(events)["items"]}

        until(lambda: {"Created", "Started", "BackOff"} <= reasons(),
              "the pod's events", WAIT, POLL)
    finally:
        kubectl("delete", "pod", "crash", "--wait=true", "--timeout=20s")


def test_bad_specs_say_why(node: Kubelet, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=pod("nocmd", {"name": "c", "image": "nginx"}))
    missing = sh("true", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {
        "name": "absent", "key": "k"}}}])
    kubectl("apply", "-f", "-", input=pod("nocm", missing))
    kubectl("apply", "-f", "-", input=pod("noexe", {"name": "c", "image": "x",
                                                     "command": ["/no/such/program"]}))
    try:
        until(lambda: row(kubectl, "nocmd")[2] == "CreateContainerConfigError", "nocmd", WAIT, POLL)
        waiting = status(kubectl, "nocmd")["containerStatuses"][0]["state"]["waiting"]
        assert "needs a command" in waiting["message"]
        until(lambda: row(kubectl, "nocm")[2] == "CreateContainerConfigError", "nocm", WAIT, POLL)
        waiting = status(kubectl, "nocm")["containerStatuses"][0]["state"]["waiting"]
        assert waiting["message"] == 'configmap "absent" not found'
        until(lambda: row(kubectl, "noexe")[2] == "CreateContainerError", "noexe", WAIT, POLL)
        waiting = status(kubectl, "noexe")["containerStatuses"][0]["state"]["waiting"]
        assert "/no/such/program" in waiting["message"]
        described = kubectl("describe", "pod", "nocmd").stdout
        assert "needs a command" in described
    finally:
        kubectl("delete", "pod", "nocmd", "nocm", "noexe", "--wait=true", "--timeout=20s")


def test_init_containers_then_completion_under_never(node: Kubelet, kubectl: Kubectl) -> None:
    spec = pod("job", sh("echo main $(GREETING) $POD_NAME", env=[
        {"name": "GREETING", "value": "hi"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]),
        restartPolicy="Never", initContainers=[sh("echo first", "i1"), sh("echo second", "i2")])
    kubectl("apply", "-f", "-", input=spec)
    try:
        until(lambda: status(kubectl, "job").get("phase") == "Succeeded", "Succeeded", WAIT, POLL)
        assert row(kubectl, "job")[2] == "Completed"
        assert kubectl("logs", "job", "-c", "c").stdout == "main hi job\n"
        assert kubectl("logs", "job", "-c", "i2").stdout == "second\n"
        inits = status(kubectl, "job")["initContainerStatuses"]
        assert [s["state"]["terminated"]["reason"] for s in inits] == ["Completed"] * 2
    finally:
        kubectl("delete", "pod", "job", "--wait=true", "--timeout=20s")


def test_kill_9_and_restart_adopts_running_pods(node: Kubelet, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=pod("steady", sh("echo up; exec sleep 1000")))
    kubectl("apply", "-f", "-", input=pod("ender", sh("sleep 3; exit 7"),
                                          restartPolicy="Never"))
    try:
        until(lambda: status(kubectl, "steady").get("phase") == "Running",
              "steady Running", WAIT, POLL)
        until(lambda: status(kubectl, "ender").get("phase") == "Running",
              "ender Running", WAIT, POLL)
        before = status(kubectl, "steady")["containerStatuses"][0]
        node.kill()
        time.sleep(4)  # ender exits while no kubelet watches
        node.start()
        until(lambda: status(kubectl, "ender").get("phase") == "Failed", "ender Failed", WAIT, POLL)
        ended = status(kubectl, "ender")["containerStatuses"][0]["state"]["terminated"]
        assert ended["exitCode"] == 7
        after = status(kubectl, "steady")["containerStatuses"][0]
        assert after["containerID"] == before["containerID"]
        assert after["restartCount"] == 0 and "running" in after["state"]
        assert kubectl("logs", "steady").stdout == "up\n"
    finally:
        kubectl("delete", "pod", "steady", "ender", "--wait=true", "--timeout=20s")
    assert until(lambda: mounts(node.root) == [], "no mount of the pods left", WAIT, POLL)


def mounts(root: Path) -> list[str]:
    """Mount points under the kubelet's root dir (as root, secret volumes are tmpfs)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [p for p in (line.split()[4] for line in f) if p.startswith(f"{root}/")]


def test_secret_volume_is_unmounted_when_the_pod_goes(node: Kubelet, kubectl: Kubectl) -> None:
    kubectl("create", "secret", "generic", "tok", "--from-literal=t=abc")
    reader = sh("exec sleep 1000")
    kubectl("apply", "-f", "-", input=pod("sec", reader, volumes=[
        {"name": "s", "secret": {"secretName": "tok"}}]))
    try:
        until(lambda: status(kubectl, "sec").get("phase") == "Running", "sec Running", WAIT, POLL)
        if os.geteuid() == 0:  # kube's secret volumes are tmpfs; km mounts one as root
            assert [m for m in mounts(node.root) if m.endswith("/s")]
        node.kill()  # a kill -9 and a restart: the new kubelet still owns the mount
        node.start()
        time.sleep(2)
    finally:
        kubectl("delete", "pod", "sec", "--wait=true", "--timeout=20s")
        kubectl("delete", "secret", "tok")
    assert until(lambda: mounts(node.root) == [], "no mount of the pod left", WAIT, POLL)


def test_post_start_then_graceful_delete_runs_pre_stop_then_sigterm(node: Kubelet, kubectl: Kubectl,
                                                    tmp_path: Path) -> None:
    marker, started_marker = tmp_path / "prestop", tmp_path / "poststart"
    trap = sh("trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done",
              lifecycle={"preStop": {"exec": {"command": ["touch", str(marker)]}},
                         "postStart": {"exec": {"command": ["touch", str(started_marker)]}}})
    kubectl("apply", "-f", "-", input=pod("polite", trap))
    until(lambda: status(kubectl, "polite").get("phase") == "Running", "polite Running", WAIT, POLL)
    assert started_marker.exists() and not marker.exists()
    started = time.monotonic()
    kubectl("delete", "pod", "polite", "--wait=true", "--timeout=20s")
    assert time.monotonic() - started < 10
    assert marker.exists()
    assert kubectl("get", "pods", "polite", check=False).returncode != 0


def test_second_kubelet_on_the_same_machine(km: Path, api: ApiServer, certs: Path,
                                            node: Kubelet, kubectl: Kubectl,
                                            tmp_path: Path) -> None:
    other = Kubelet(km, api, certs, tmp_path / "root2", "n2")
    other.start()
    try:
        until(lambda: "Ready" in kubectl("get", "node", "n2", "--no-headers",
                                         check=False).stdout, "n2 Ready", WAIT, POLL)
        spec = yaml.safe_load(pod("there", sh("echo on n2; sleep 100")))
        spec["spec"]["nodeName"] = "n2"
        kubectl("apply", "-f", "-", input=json.dumps(spec))
        until(lambda: status(kubectl, "there").get("phase") == "Running",
              "there Running", WAIT, POLL)
        until(lambda: kubectl("logs", "there").stdout == "on n2\n", "its log via n2", WAIT, POLL)
        kubectl("delete", "pod", "there", "--wait=true", "--timeout=20s")
    finally:
        assert other.stop() == 0
        kubectl("delete", "node", "n2", check=False)


def test_a_second_kubelet_on_the_same_root_dir_or_node_name_is_refused(
        km: Path, api: ApiServer, certs: Path, node: Kubelet, kubectl: Kubectl,
        tmp_path: Path) -> None:
    assert node.proc is not None
    same_root = Kubelet(km, api, certs, node.root, "n3").cmd
    same_name = Kubelet(km, api, certs, tmp_path / "root2", NODE).cmd  # as root: host-wide
    for cmd, error in ((same_root, f"another kubelet (pid {node.proc.pid}) is using "
                                   f"--root-dir {node.root}"),
                       (same_name, f"node {NODE} is run by another kubelet "
                                   f"(pid {node.proc.pid}) on this host")):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT)
        assert done.returncode == 1
        assert done.stderr.startswith(f"km kubelet: error: {error}"), done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
    assert node.proc.poll() is None
    assert kubectl("get", "node", "n3", check=False).returncode != 0, "never registered"
    ready = kubectl.json("get", "node", NODE)["status"]["conditions"]
    assert {c["type"]: c["status"] for c in ready}["Ready"] == "True"


def test_liveness_restarts_and_readiness_unreadies(node: Kubelet, kubectl: Kubectl,
                                                   tmp_path: Path) -> None:
    sick, page = tmp_path / "sick", tmp_path / "www" / "ok"
    page.parent.mkdir()
    page.write_text("ok")
    live = sh("exec sleep 1000", livenessProbe={
        "exec": {"command": ["sh", "-c", f"test ! -e {sick}"]},
        "periodSeconds": 1, "failureThreshold": 2})
    web = {"name": "web", "image": "python", "command": [
        "python3", "-m", "http.server", "--bind", "$(IP)", "8080", "--directory",
        str(page.parent)],
        "env": [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "startupProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "readinessProbe": {"httpGet": {"path": "/ok", "port": 8080}, "periodSeconds": 1,
                           "failureThreshold": 1}}
    kubectl("apply", "-f", "-", input=pod("probed", live, web))
    try:
        until(lambda: row(kubectl, "probed")[1] == "2/2", "both containers ready", WAIT, POLL)
        sick.touch()
        page.unlink()
        statuses = until(lambda: [s for s in status(kubectl, "probed")["containerStatuses"]
                                  if s["name"] == "c" and s["restartCount"] >= 1],
                         "the liveness restart", WAIT, POLL)
        sick.unlink()
        assert statuses[0]["lastState"]["terminated"]["exitCode"] in (137, 143)

        def web_status() -> dict[str, Any]:
            return next(s for s in status(kubectl, "probed")["containerStatuses"]
                        if s["name"] == "web")

        until(lambda: not web_status()["ready"], "web unready", WAIT, POLL)
        assert web_status()["restartCount"] == 0 and web_status()["started"]
        # (the probes' events are written apart from the status they change: may lag it)
        until(lambda: all(text in kubectl("describe", "pod", "probed").stdout for text in (
            "Readiness probe failed: HTTP probe failed with statuscode: 404",
            "Container c failed liveness probe, will be restarted")),
            "the probes' events", WAIT, POLL)
        page.write_text("ok")
        until(lambda: row(kubectl, "probed")[1] == "2/2", "ready again", WAIT, POLL)
    finally:
        kubectl("delete", "pod", "probed", "--wait=true", "--timeout=20s")


def test_kubelet_api_takes_only_authorized_client_certificates(node: Kubelet, kubectl: Kubectl,
                                                               certs: Path) -> None:
    import ssl

    port = kubectl.json("get", "node", NODE)["status"]["daemonEndpoints"]["kubeletEndpoint"][
        "Port"]

    def get(path: str, who: str | None) -> tuple[int, str]:
        context = ssl.create_default_context(cafile=None)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if who:
            context.load_cert_chain(certs / f"{who}.crt", certs / f"{who}.key")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context,
                                        timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert get("/healthz", None) == (200, "ok")
    assert get("/pods", None) == (401, "Unauthorized")
    code, text = get("/pods", "node-n1")
    assert code == 403 and "user=system:node:n1" in text and "subresource=proxy" in text
    code, text = get("/pods", "admin")
    assert code == 200 and json.loads(text)["kind"] == "PodList"


def test_sidecar_runs_beside_the_app_and_since_filters_logs(node: Kubelet,
                                                            kubectl: Kubectl) -> None:
    sidecar = sh("echo sidecar up; exec sleep 1000", "side", restartPolicy="Always")
    app = sh("echo early; sleep 2; echo late; exec sleep 1000", "app")
    kubectl("apply", "-f", "-", input=pod("sidecar", app, initContainers=[sidecar]))
    try:
        until(lambda: row(kubectl, "sidecar")[1:3] == ["2/2", "Running"], "2/2 Running", WAIT, POLL)
        side = status(kubectl, "sidecar")["initContainerStatuses"][0]
        assert "running" in side["state"] and side["ready"]
        until(lambda: "late" in kubectl("logs", "sidecar", "-c", "app").stdout, "late", WAIT, POLL)
        time.sleep(1.5)  # the last line is older than a second now
        assert kubectl("logs", "sidecar", "-c", "app", "--since", "1s").stdout == ""
        assert kubectl("logs", "sidecar", "-c", "app", "--since", "1h").stdout == "early\nlate\n"
    finally:
        kubectl("delete", "pod", "sidecar", "--wait=true", "--timeout=20s")
