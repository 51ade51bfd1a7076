"""The real kubectl's ``logs`` against the built km.pyz: the apiserver's checks as kubectl
prints them, and a pod's log, plain and followed, proxied from the pod's ``km kubelet``.

The kubelet is the real one (``--isolation none``: its pods are host processes on loopback
addresses of their own), started as tests/e2e/test_kubelet.py starts it, with the module's
HTTPS apiserver under Node,RBAC dialling it with the admin client certificate. No stand-in:
what only a kubelet that is not there can show (a node whose kubelet is unreachable, or that
has no kubelet port) is a Node object pointing nowhere.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import test_kubectl as base
from tests.e2e import test_kubelet
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import POLL, Kubelet, pod, sh, status
from tests.support.ports import free_port
from tests.support.wait import until

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = test_kubelet.api  # fixture: a km.pyz apiserver that dials kubelets (HTTPS, RBAC)
node = test_kubelet.node  # fixture: a km.pyz kubelet (--isolation none) as node n1
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WAIT = 30.0  # the longest any step waits for kubectl or the kubelet
LATER = "written after kubectl logs -f started"


def create(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl("create", "-f", "-", input=yaml.safe_dump_all(objs))


def running(kubectl: Kubectl, name: str) -> None:
    until(lambda: status(kubectl, name).get("phase") == "Running", f"{name} Running", WAIT, POLL)


def test_logs_of_an_unscheduled_pod_say_it_has_no_host(kubectl: Kubectl) -> None:
    create(kubectl, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending"},
                     "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}})
    try:
        done = kubectl("logs", "pending", check=False)
        assert done.returncode != 0
        assert done.stderr.strip() == (
            "Error from server (BadRequest): pod pending does not have a host assigned")
    finally:
        kubectl("delete", "pod", "pending", "--wait=false", "--ignore-not-found")


def test_logs_print_the_kubelets_lines(kubectl: Kubectl, node: Kubelet) -> None:
    kubectl("apply", "-f", "-", input=pod(
        "web", sh("echo hello from c; echo bye from c; exec sleep 1000")))
    try:
        running(kubectl, "web")
        out = until(lambda: kubectl("logs", "web").stdout.count("\n") >= 2, "two lines", WAIT, POLL)
        assert out
        assert kubectl("logs", "web").stdout == "hello from c\nbye from c\n"
        assert kubectl("logs", "web", "--tail=1").stdout == "bye from c\n"
        stamp, line = kubectl("logs", "web", "--tail=1", "--timestamps").stdout.split(" ", 1)
        assert (stamp[:2], stamp[-1], line) == ("20", "Z", "bye from c\n")
        assert kubectl("logs", "web", "--limit-bytes=5").stdout == "hello"
    finally:
        kubectl("delete", "pod", "web", "--wait=true", "--timeout=20s")


def test_a_last_line_without_newline_is_printed(kubectl: Kubectl, node: Kubelet) -> None:
    # the monitor writes "b" as a CRI partial (P) line; kube's kubelet prints it as it is
    kubectl("apply", "-f", "-", input=pod("partial", sh("printf 'a\\nb'; exec sleep 1000")))
    try:
        running(kubectl, "partial")
        until(lambda: kubectl("logs", "partial").stdout == "a\nb", "both lines", WAIT, POLL)
        assert kubectl("logs", "partial", "--tail=1").stdout == "b"
    finally:
        kubectl("delete", "pod", "partial", "--wait=true", "--timeout=20s")


def test_logs_of_a_pod_with_two_containers_default_to_the_first(
        kubectl: Kubectl, node: Kubelet) -> None:
    # kubectl itself picks the first container (kubectl.kubernetes.io/default-container
    # aside) and says so; the apiserver's "choose one of" is for clients that do not.
    kubectl("apply", "-f", "-", input=pod(
        "two", sh("echo hello from a; exec sleep 1000", name="a"),
        sh("echo hello from b; exec sleep 1000", name="b")))
    try:
        running(kubectl, "two")
        until(lambda: kubectl("logs", "two", "-c", "b").stdout, "b's line", WAIT, POLL)
        done = kubectl("logs", "two")
        assert done.stdout == "hello from a\n"
        assert 'Defaulted container "a" out of: a, b' in done.stderr
        assert kubectl("logs", "two", "-c", "b").stdout == "hello from b\n"
        bad = kubectl("logs", "two", "-c", "x", check=False)
        assert bad.returncode != 0 and "container x is not valid for pod two" in bad.stderr
        # the kubelet's events name the container as kube's do (involvedObject.fieldPath)
        assert until(lambda: started_paths(kubectl, "two") == {
            "spec.containers{a}", "spec.containers{b}"},
            "a Started event per container", WAIT, POLL)
    finally:
        kubectl("delete", "pod", "two", "--wait=true", "--timeout=20s")


def test_logs_follow_prints_lines_written_after_it_started(
        kubectl: Kubectl, node: Kubelet, tmp_path: Path) -> None:
    flag = tmp_path / "go"  # the pod is a host process (--isolation none): it sees the file
    script = (f"echo hello from c; while [ ! -e {flag} ]; do sleep 0.1; done; "
              f"echo {LATER}; exec sleep 1000")
    kubectl("apply", "-f", "-", input=pod("follow", sh(script)))
    running(kubectl, "follow")
    port = kubectl.json("get", "node", test_kubelet.NODE)["status"]["daemonEndpoints"][
        "kubeletEndpoint"]["Port"]
    proc = kubectl.popen("logs", "-f", "follow")
    lines, reader = _lines(proc)
    try:
        assert lines.get(timeout=WAIT) == "hello from c\n"
        assert connections_to(port) >= 1  # the apiserver's request to the kubelet
        flag.touch()
        assert lines.get(timeout=WAIT) == f"{LATER}\n"
        assert proc.poll() is None  # still following
    finally:
        proc.kill()  # kubectl logs -f ends only when stopped
        proc.wait(timeout=WAIT)
        reader.join(WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        kubectl("delete", "pod", "follow", "--wait=true", "--timeout=20s")
    # kubectl gone: the apiserver hangs up on the kubelet too (no request left open)
    until(lambda: connections_to(port) == 0, "the apiserver's kubelet request to close", WAIT, POLL)


def test_an_unreachable_kubelet_and_a_node_without_one_are_503(kubectl: Kubectl) -> None:
    closed = free_port()  # a loopback port nobody listens on
    for name, endpoints in (("away", {"kubeletEndpoint": {"Port": closed}}), ("portless", {})):
        create(kubectl, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p",
                yaml.safe_dump({"status": {
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "daemonEndpoints": endpoints}}))
        create(kubectl, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"on-{name}"},
                         "spec": {"nodeName": name,
                                  "containers": [{"name": "c", "image": "busybox:1"}]}})
    try:
        away = kubectl("logs", "on-away", check=False)
        assert away.returncode != 0
        assert away.stderr.startswith(
            'Error from server (ServiceUnavailable): cannot reach the kubelet of node "away" '
            f"at https://127.0.0.1:{closed}: ")
        portless = kubectl("logs", "on-portless", check=False)
        assert portless.stderr.strip() == (
            'Error from server (ServiceUnavailable): node "portless" has no kubelet endpoint '
            "(status.daemonEndpoints.kubeletEndpoint.Port)")
    finally:
        kubectl("delete", "pod", "on-away", "on-portless", "--grace-period=0", "--force",
                "--ignore-not-found")
        kubectl("delete", "node", "away", "portless", "--ignore-not-found")


def started_paths(kubectl: Kubectl, pod_name: str) -> set[str]:
    events = kubectl.json("get", "events", "--field-selector",
                          f"involvedObject.name={pod_name},reason=Started")["items"]
    return {e["involvedObject"].get("fieldPath", "") for e in events}


def connections_to(port: int) -> int:
    """Established TCP connections to 127.0.0.1:``port`` (the kubelet's side of them)."""
    found = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "01" and local == f"0100007F:{port:04X}":
            found += 1
    return found


def _lines(proc: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """proc's stdout, line by line, read by a thread (so every wait is bounded)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader
