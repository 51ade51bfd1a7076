"""A pod's own identity, end to end with km.pyz: apiserver (service account keys from
km.pyz certs, Node,RBAC), controller-manager (the default ServiceAccount, kube-root-ca.crt),
kubelet (--isolation none) and the real kubectl and curl.

The kubelet asks for the pod's bound token through TokenRequest (as system:node:n1) and
writes the projected volume; the pod's own process then lists pods with curl, verifying the
apiserver with the published ca.crt and authenticating with the token. The pod opts out of
the automatic mount and reads a projected token volume of its own where the kubelet writes it
on the host (its uid from the downward API), so the files the kubelet keeps are what is
checked here; the standard path, where --isolation none mounts the volume in the container's
own mount namespace (servers/kubelet/runtime/mountns.py), is checked by test_kubelet_none.py
(a kubelet as nobody) and test_all_in_one_serviceaccount.py (all-in-one).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.apiserver.admission.serviceaccount import token_volume
from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import NODE, POLL, WAIT, Kubelet, _cleanup_pods, sh
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

certs = base.certs
kubectl = base.kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


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


@pytest.fixture(scope="module")
def manager(km: Path, api: ApiServer, certs: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    log = tmp_path_factory.mktemp("cm") / "controller-manager.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(km), "controller-manager", "--kubeconfig",
             str(certs / "controller-manager.kubeconfig"), "--master", api.url,
             "--controllers", "serviceaccount,root-ca-cert-publisher",
             "--leader-elect=false", "--secure-port", "0"],
            stdout=subprocess.DEVNULL, stderr=out)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
        assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module")
def node(km: Path, api: ApiServer, certs: Path, manager: None,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubelet]:
    kubelet = Kubelet(km, api, certs, tmp_path_factory.mktemp("kubelet") / "root", NODE)
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
        _cleanup_pods(kubelet.root)
        assert "Traceback" not in kubelet.log.read_text()


def test_a_pod_lists_pods_with_its_own_token(node: Kubelet, kubectl: Kubectl,
                                             api: ApiServer) -> None:
    until(lambda: kubectl("get", "sa", "default", check=False).returncode == 0,
          "the default ServiceAccount", WAIT, POLL)
    until(lambda: kubectl("get", "cm", "kube-root-ca.crt", check=False).returncode == 0,
          "kube-root-ca.crt", WAIT, POLL)
    kubectl("create", "rolebinding", "sa-view", "--clusterrole", "view",
            "--serviceaccount", "default:default")
    folder = f"{node.root}/pods/$POD_UID/volumes/kubernetes.io~projected/tok"
    script = (f'D="{folder}"; until [ -s "$D/token" ]; do sleep 0.2; done; '
              f'curl -sS --cacert "$D/ca.crt" -H "Authorization: Bearer $(cat "$D/token")" '
              f'"{api.url}/api/v1/namespaces/$(cat "$D/namespace")/pods"; echo; '
              'exec sleep 1000')
    uid_env = [{"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}]
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "me"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                 "automountServiceAccountToken": False,
                 "volumes": [token_volume("tok")],
                 "containers": [sh(script, env=uid_env)]}}))
    try:
        answer = _listed_or_why(kubectl, node)
        assert answer["kind"] == "PodList"
        assert "me" in [p["metadata"]["name"] for p in answer["items"]]
        spec = kubectl.json("get", "pod", "me")["spec"]
        assert spec["serviceAccountName"] == "default"
    finally:
        kubectl("delete", "pod", "me", "--wait=true", "--timeout=20s", check=False)


def _listed_or_why(kubectl: Kubectl, node: Kubelet) -> dict:  # type: ignore[type-arg]
    try:
        return until(lambda: _listed(kubectl), "the pod's own list of pods", WAIT, POLL)
    except BaseException:
        described = kubectl("describe", "pod", "me", check=False).stdout
        logs = kubectl("logs", "me", check=False)
        tail = node.log.read_text()[-3000:]
        pytest.fail(f"{described}\nlogs: {logs.stdout}{logs.stderr}\nkubelet: {tail}")


def _listed(kubectl: Kubectl) -> dict | None:  # type: ignore[type-arg]
    out = kubectl("logs", "me", check=False).stdout.strip()
    if not out.startswith("{"):
        return None
    return json.loads(out.splitlines()[0])
