"""Who may exec, end to end with km.pyz and the real kubectl: a ServiceAccount's token from
``kubectl create token``, RBAC on pods/exec, ``kubectl auth can-i`` and ``auth whoami``; and
port-forward over kubectl's plain SPDY fallback, which the apiserver relays as bytes.

The apiserver (Node,RBAC, service account keys from ``km.pyz certs``) relays pods/exec to a
km.pyz kubelet (``--isolation none``: the pod's process sees the host's files, so a command
that ran leaves a file the test can look for). A user with ``get`` but not ``create`` on
pods/exec gets kubectl's Forbidden and the command never runs; once ``create`` is granted the
same command runs. The token tests fill what tests/integration/auth covers from the source
tree: the same behaviour from the built km.pyz.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import NODE, POLL, WAIT, Kubelet, _cleanup_pods, pod, sh
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

certs = base.certs
kubectl = base.kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

RUNNER = "system:serviceaccount:default:runner"
FORBIDDEN = (f'Error from server (Forbidden): pods "box" is forbidden: User "{RUNNER}" cannot '
             'create resource "pods/exec" in API group "" in the namespace "default"')
As = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("apiserver-data")
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC",
            "--service-account-signing-key-file", str(certs / "sa.key"),
            "--service-account-key-file", str(certs / "sa.pub"),
            "--kubelet-client-certificate", str(certs / "admin.crt"),
            "--kubelet-client-key", str(certs / "admin.key")]
    with start_apiserver(data, km=km, env=env, secure=True, extra_args=args) as server:
        server.kubeconfig = certs / "admin.kubeconfig"
        yield server
        assert "Traceback" not in "".join(server.log)


@pytest.fixture(scope="module")
def box(km: Path, api: ApiServer, certs: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kubelet and a running pod "box" on it, and the ServiceAccount "runner"."""
    kubelet = Kubelet(km, api, certs, tmp_path_factory.mktemp("kubelet") / "root", NODE)
    kubelet.start()
    admin = Kubectl(api, tmp_path_factory.mktemp("kube-cache"))
    try:
        admin("create", "serviceaccount", "default")  # no controller-manager here
        admin("apply", "-f", "-", input=pod("box", sh("exec sleep 3600"),
                                            automountServiceAccountToken=False))
        until(lambda: admin("get", "pod", "box", "-o", "jsonpath={.status.phase}",
                            check=False).stdout == "Running", "pod box running", WAIT, POLL)
        admin("create", "serviceaccount", "runner")
        admin("create", "role", "look", "--verb=get,list", "--resource=pods/exec")
        admin("create", "role", "pods", "--verb=get,list", "--resource=pods")
        for role in ("look", "pods"):
            admin("create", "rolebinding", role, f"--role={role}",
                  "--serviceaccount=default:runner")
        yield "box"
    finally:
        admin("delete", "pod", "box", "--wait=false", check=False)
        kubelet.stop()
        _cleanup_pods(kubelet.root)
        assert "Traceback" not in kubelet.log.read_text()


def as_token(api: ApiServer, certs: Path, token: str, cache: Path) -> As:
    """kubectl with nothing but ``token`` (no kubeconfig credentials)."""
    empty = cache / "empty.kubeconfig"
    empty.write_text("")
    base_cmd = ["kubectl", "--kubeconfig", str(empty), "--server", api.url,
                "--certificate-authority", str(certs / "ca.crt"), "--token", token,
                "--cache-dir", str(cache)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base_cmd, *args], capture_output=True, text=True, timeout=WAIT)
    return run


def test_exec_needs_create_on_pods_exec_and_a_refused_command_never_runs(
        box: str, kubectl: Kubectl, api: ApiServer, certs: Path, tmp_path: Path) -> None:
    token = kubectl("create", "token", "runner").stdout.strip()
    runner = as_token(api, certs, token, tmp_path)
    marker = tmp_path / "ran"
    touch = ("exec", box, "--", "sh", "-c", f"touch {marker}")

    # ``can-i create pods/exec`` asks about a pod *named* exec (kubectl reads TYPE/NAME);
    # the subresource is --subresource, as on any Kubernetes.
    asked = runner("auth", "can-i", "create", "pods", "--subresource=exec")
    assert (asked.returncode, asked.stdout.strip()) == (1, "no")
    assert runner("auth", "can-i", "create", "pods/exec").stdout.strip() == "no"
    assert runner("auth", "can-i", "get", "pods", "--subresource=exec").stdout.strip() == "yes"
    refused = runner(*touch)
    assert refused.returncode == 1
    assert FORBIDDEN in refused.stderr, refused.stderr
    assert not marker.exists()

    kubectl("create", "role", "run", "--verb=create", "--resource=pods/exec")
    kubectl("create", "rolebinding", "run", "--role=run", "--serviceaccount=default:runner")
    until(lambda: runner("auth", "can-i", "create", "pods", "--subresource=exec"
                         ).stdout.strip() == "yes", "create on pods/exec granted", WAIT, POLL)
    ran = runner(*touch)
    assert ran.returncode == 0, ran.stderr
    assert marker.exists()  # the same command, allowed, did run: the refusal above was real


def test_create_token_then_whoami_names_the_service_account(
        box: str, kubectl: Kubectl, api: ApiServer, certs: Path, tmp_path: Path) -> None:
    token = kubectl("create", "token", "runner", "--duration", "10m").stdout.strip()
    who = as_token(api, certs, token, tmp_path)("auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    user = json.loads(who.stdout)["status"]["userInfo"]
    assert user["username"] == RUNNER
    assert set(user["groups"]) == {"system:serviceaccounts", "system:serviceaccounts:default",
                                   "system:authenticated"}


def test_a_token_bound_to_a_deleted_pod_is_refused(
        box: str, kubectl: Kubectl, api: ApiServer, certs: Path, tmp_path: Path) -> None:
    kubectl("run", "brief", "--image=busybox", "--restart=Never",
            "--overrides", json.dumps({"spec": {"nodeName": "nowhere",
                                                "serviceAccountName": "runner"}}))
    token = kubectl("create", "token", "runner", "--bound-object-kind", "Pod",
                    "--bound-object-name", "brief").stdout.strip()
    runner = as_token(api, certs, token, tmp_path)
    who = runner("auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == RUNNER
    kubectl("delete", "pod", "brief", "--grace-period=0", "--force", "--wait=true")
    refused = runner("auth", "whoami")
    assert refused.returncode == 1
    assert "You must be logged in to the server" in refused.stderr, refused.stderr


def test_port_forward_over_plain_spdy_and_refused_without_create(
        box: str, kubectl: Kubectl, api: ApiServer, certs: Path, tmp_path: Path) -> None:
    """kubectl's SPDY fallback (KUBECTL_PORT_FORWARD_WEBSOCKETS=false): POST with Upgrade:
    SPDY/3.1, relayed as bytes by the apiserver (servers/apiserver/upgraderelay.py)."""
    pod_ip = [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    kubectl("apply", "-f", "-", input=pod(
        "web", sh("exec python3 -m http.server 8080 --bind $IP", env=pod_ip),
        automountServiceAccountToken=False))
    try:
        until(lambda: kubectl("get", "pod", "web", "-o", "jsonpath={.status.phase}",
                              check=False).stdout == "Running", "pod web running", WAIT, POLL)
        env = {**os.environ, "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
        token = kubectl("create", "token", "runner").stdout.strip()
        refused = as_token(api, certs, token, tmp_path)("port-forward", "pod/web", ":8080")
        assert refused.returncode == 1
        assert (f'pods "web" is forbidden: User "{RUNNER}" cannot create resource '
                '"pods/portforward"') in refused.stderr, refused.stderr
        forward = subprocess.Popen([*kubectl.base, "port-forward", "pod/web", ":8080"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            assert forward.stdout is not None
            said = forward.stdout.readline()  # Forwarding from 127.0.0.1:PORT -> 8080
            assert said.startswith("Forwarding from 127.0.0.1:"), said
            local = said.split("127.0.0.1:")[1].split()[0]
            for _ in range(3):  # several connections over the one SPDY session
                page = until(lambda: _get(f"http://127.0.0.1:{local}/"),
                             "the forwarded page", WAIT, POLL)
                assert b"Directory listing" in page
        finally:
            forward.terminate()
            forward.communicate(timeout=WAIT)
    finally:
        kubectl("delete", "pod", "web", "--wait=false", check=False)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bytes(answer.read())
    except OSError:
        return None
