"""TLS bootstrap as kubectl meets it: the built km.pyz apiserver (HTTPS, Node,RBAC,
--enable-bootstrap-token-auth) and controller-manager (csrapproving, csrsigning with the
``km certs`` CA), driven by the real kubectl.

A CSR made with kubectl and approved with ``kubectl certificate approve`` is issued, and its
certificate then authenticates (``kubectl auth whoami``); one denied with ``kubectl
certificate deny`` is not. A bootstrap token made with
``kubectl create secret`` authenticates, may not list pods, and may ask for a node client
certificate, which the controller-manager approves and signs on its own.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.test_kubectl import KUBECTL_TIMEOUT
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.csr import make_request
from tests.support.pki import make_certs
from tests.support.wait import until

TOKEN = "e2e0ab.0123456789abcdef"
WAIT, POLL = 30.0, 0.2  # a bound on each wait (tests.support.wait), and how often it looks


@pytest.fixture(scope="module")
def certs(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("pki"), km=km)


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiServer]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC",
            "--enable-bootstrap-token-auth"]
    with start_apiserver(tmp_path_factory.mktemp("data"), km=km, env=env, secure=True,
                         extra_args=args) as server:
        yield server


@pytest.fixture(scope="module")
def controller_manager(km: Path, api: ApiServer, certs: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    logs = tmp_path_factory.mktemp("cm")
    env = {**os.environ, "KM_CACHE_DIR": str(logs / "cache")}
    with (logs / "controller-manager.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(km), "controller-manager", "--kubeconfig",
             str(certs / "controller-manager.kubeconfig"), "--master", api.url,
             "--leader-elect=false", "--secure-port", "0",
             "--controllers", "csrapproving,csrsigning",
             "--cluster-signing-cert-file", str(certs / "ca.crt"),
             "--cluster-signing-key-file", str(certs / "ca.key")],
            env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield logs / "controller-manager.log"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def kubectl(api: ApiServer, certs: Path) -> Kubectl:
    def run(*args: str, auth: list[str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        creds = auth if auth is not None else ["--kubeconfig", str(certs / "admin.kubeconfig")]
        cmd = ["kubectl", *creds, "--server", api.url, "--certificate-authority",
               str(certs / "ca.crt"), "--cache-dir", str(certs / "kubectl-cache"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, input=stdin,
                              timeout=KUBECTL_TIMEOUT)
    return run


def csr_yaml(name: str, pem: bytes, signer: str, usages: str) -> str:
    return (f"apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n"
            f"metadata: {{name: {name}}}\n"
            f"spec:\n  request: {base64.b64encode(pem).decode()}\n"
            f"  signerName: {signer}\n  expirationSeconds: 3600\n  usages: [{usages}]\n")


def issued(kubectl: Kubectl, name: str) -> bytes:
    def cert() -> str:
        return kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout
    return base64.b64decode(until(cert, f"csr {name} issued", WAIT, POLL))


def whoami(kubectl: Kubectl, cert: Path, key: Path) -> str:
    done = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username} "
                   "{.status.userInfo.groups}",
                   auth=["--client-certificate", str(cert), "--client-key", str(key)])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_approves_a_request_whose_certificate_then_authenticates(
        kubectl: Kubectl, controller_manager: Path, tmp_path: Path) -> None:
    key, pem = make_request("jane", ("dev",))
    created = kubectl("create", "-f", "-", stdin=csr_yaml(
        "jane", pem, "kubernetes.io/kube-apiserver-client", "client auth"))
    assert created.returncode == 0, created.stderr
    table = kubectl("get", "csr", "jane").stdout.split("\n")
    assert table[0].split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR",
                                "REQUESTEDDURATION", "CONDITION"]
    assert table[1].split()[2:] == ["kubernetes.io/kube-apiserver-client", "admin", "60m",
                                    "Pending"]
    approved = kubectl("certificate", "approve", "jane")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == \
        "certificatesigningrequest.certificates.k8s.io/jane approved"
    (tmp_path / "jane.crt").write_bytes(issued(kubectl, "jane"))
    (tmp_path / "jane.key").write_bytes(key)
    assert kubectl("get", "csr", "jane").stdout.split("\n")[1].split()[-1] == \
        "Approved,Issued"
    assert whoami(kubectl, tmp_path / "jane.crt", tmp_path / "jane.key") == \
        'jane ["dev","system:authenticated"]'


def test_kubectl_denies_a_request_and_it_is_never_issued(
        kubectl: Kubectl, controller_manager: Path) -> None:
    _, pem = make_request("joe")
    created = kubectl("create", "-f", "-", stdin=csr_yaml(
        "joe", pem, "kubernetes.io/kube-apiserver-client", "client auth"))
    assert created.returncode == 0, created.stderr
    denied = kubectl("certificate", "deny", "joe")
    assert denied.returncode == 0, denied.stderr
    conditions = kubectl("get", "csr", "joe", "-o", "jsonpath={.status.conditions[0].reason} "
                         "{.status.conditions[0].type}").stdout
    assert conditions == "KubectlDeny Denied"
    again = kubectl("certificate", "approve", "joe")
    assert again.returncode == 1 and "is already Denied" in again.stderr
    time.sleep(1)  # the signer had its chance: a denied request gets no certificate
    assert kubectl("get", "csr", "joe").stdout.split("\n")[1].split()[-1] == "Denied"


def test_a_bootstrap_token_asks_for_a_node_certificate_and_nothing_more(
        kubectl: Kubectl, controller_manager: Path, tmp_path: Path) -> None:
    token_id, secret = TOKEN.split(".")
    made = kubectl("create", "secret", "generic", f"bootstrap-token-{token_id}",
                   "-n", "kube-system", "--type", "bootstrap.kubernetes.io/token",
                   f"--from-literal=token-id={token_id}",
                   f"--from-literal=token-secret={secret}",
                   "--from-literal=usage-bootstrap-authentication=true")
    assert made.returncode == 0, made.stderr
    as_token = ["--token", TOKEN]
    until(lambda: kubectl("get", "csr", auth=as_token).returncode == 0,
          "the token to authenticate", WAIT, POLL)
    pods = kubectl("get", "pods", auth=as_token)
    assert pods.returncode == 1
    assert 'User "system:bootstrap:e2e0ab" cannot list resource "pods"' in pods.stderr
    key, pem = make_request("system:node:e2e", ("system:nodes",))
    created = kubectl("create", "-f", "-", auth=as_token, stdin=csr_yaml(
        "node-e2e", pem, "kubernetes.io/kube-apiserver-client-kubelet",
        "digital signature, client auth"))
    assert created.returncode == 0, created.stderr
    (tmp_path / "node.crt").write_bytes(issued(kubectl, "node-e2e"))
    (tmp_path / "node.key").write_bytes(key)
    row = kubectl("get", "csr", "node-e2e").stdout.split("\n")[1].split()
    assert row[3:] == ["system:bootstrap:e2e0ab", "60m", "Approved,Issued"]
    assert whoami(kubectl, tmp_path / "node.crt", tmp_path / "node.key") == \
        'system:node:e2e ["system:nodes","system:authenticated"]'
