"""CertificateSigningRequests on a real ``km apiserver`` with Node,RBAC and bootstrap
tokens: the requester fills the spec, the bootstrap roles let a joining node ask (and read
cluster-info) and nothing more, approving needs ``approve`` on the signer, and
kube-apiserver-client never signs for system:masters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver.auth import bootstrap as bt
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.csr import CSRS, csr_object, make_request
from tests.support.pki import TOKEN, call, make_certs, token_file

BOOT = "abcdef.0123456789abcdef"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT = "kubernetes.io/kube-apiserver-client"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture(scope="module")
def tls_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path]]:
    certs = make_certs(tmp_path_factory.mktemp("pki"))
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC",
            "--token-auth-file", str(token_file(certs)),
            "--enable-bootstrap-token-auth", "--compaction-interval", "0"]
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=args) as api:
        ca = certs / "ca.crt"
        admin = (certs / "admin.crt", certs / "admin.key")
        assert call(api.url, ca, "POST", "/api/v1/namespaces/kube-system/secrets",
                    bt.make_secret("abcdef", "0123456789abcdef"), cert=admin)[0] == 201
        deadline = time.monotonic() + 10
        while call(api.url, ca, "GET", CSRS, token=BOOT)[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield api, certs


def as_admin(api: ApiServer, certs: Path, method: str, path: str, body: Any = None
             ) -> tuple[int, Any]:
    return call(api.url, certs / "ca.crt", method, path, body,
                cert=(certs / "admin.crt", certs / "admin.key"))


def test_a_bootstrap_token_asks_for_a_node_certificate_and_nothing_more(
        tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    ca = certs / "ca.crt"
    _, pem = make_request("system:node:n7", ("system:nodes",))
    obj = csr_object("node-csr-n7", pem, KUBELET_CLIENT)
    obj["spec"]["username"] = "someone-else"
    status, body = call(api.url, ca, "POST", CSRS, obj, token=BOOT)
    assert status == 201, body
    assert body["spec"]["username"] == "system:bootstrap:abcdef"
    assert body["spec"]["groups"] == ["system:bootstrappers", "system:authenticated"]
    assert call(api.url, ca, "GET", "/api/v1/pods", token=BOOT)[0] == 403
    assert call(api.url, ca, "GET", "/api/v1/namespaces/kube-system/secrets",
                token=BOOT)[0] == 403
    body["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    assert call(api.url, ca, "PUT", f"{CSRS}/node-csr-n7/approval", body, token=BOOT)[0] == 403


def test_a_node_asks_for_its_next_certificate(tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    _, pem = make_request("system:node:n1", ("system:nodes",))
    status, body = call(api.url, certs / "ca.crt", "POST", CSRS,
                        csr_object("node-n1-renewal", pem, KUBELET_CLIENT),
                        cert=(certs / "node-n1.crt", certs / "node-n1.key"))
    assert status == 201, body
    assert body["spec"]["username"] == "system:node:n1"


def test_cluster_info_is_readable_by_bootstrappers_only_by_name(
        tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    ca = certs / "ca.crt"
    for name in ("cluster-info", "other"):
        assert as_admin(api, certs, "POST", "/api/v1/namespaces/kube-public/configmaps",
                        {"metadata": {"name": name}, "data": {"kubeconfig": "x"}})[0] == 201
    path = "/api/v1/namespaces/kube-public/configmaps/"
    assert call(api.url, ca, "GET", path + "cluster-info", token=BOOT)[0] == 200
    assert call(api.url, ca, "GET", path + "other", token=BOOT)[0] == 403


def alice(name: str, role: str) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"kind": "User", "name": "alice",
                          "apiGroup": "rbac.authorization.k8s.io"}]}


def test_approving_needs_approve_on_the_signer(tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    ca = certs / "ca.crt"
    role = {"metadata": {"name": "csr-approval-writer"}, "rules": [
        {"apiGroups": ["certificates.k8s.io"], "verbs": ["get", "update"],
         "resources": ["certificatesigningrequests", "certificatesigningrequests/approval"]}]}
    assert as_admin(api, certs, "POST", f"{RBAC}/clusterroles", role)[0] == 201
    assert as_admin(api, certs, "POST", f"{RBAC}/clusterrolebindings",
                    alice("alice-writes", "csr-approval-writer"))[0] == 201
    _, pem = make_request("jane", ("dev",))
    status, body = as_admin(api, certs, "POST", CSRS, csr_object("jane", pem, CLIENT))
    assert status == 201, body
    body["status"] = {"conditions": [{"type": "Approved", "status": "True",
                                      "reason": "Test"}]}
    status, answer = call(api.url, ca, "PUT", f"{CSRS}/jane/approval", body, token=TOKEN)
    assert status == 403, answer
    assert answer["message"].endswith(
        f'user not permitted to approve requests with signerName "{CLIENT}"')
    approver = "system:certificates.k8s.io:kube-apiserver-client-approver"
    assert as_admin(api, certs, "POST", f"{RBAC}/clusterrolebindings",
                    alice("alice-approves", approver))[0] == 201
    deadline = time.monotonic() + 10
    while (got := call(api.url, ca, "PUT", f"{CSRS}/jane/approval", body, token=TOKEN))[0] \
            != 200:
        assert time.monotonic() < deadline, got
        time.sleep(0.05)
    assert got[1]["status"]["conditions"][0]["type"] == "Approved"


def test_kube_apiserver_client_does_not_sign_for_system_masters(
        tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    _, pem = make_request("mallory", ("system:masters",))
    status, body = as_admin(api, certs, "POST", CSRS, csr_object("mallory", pem, CLIENT))
    assert status == 403, body
    assert "use of kubernetes.io/kube-apiserver-client signer with system:masters group is " \
        "not allowed" in body["message"]
