"""Service account tokens against a real apiserver: ``kubectl create token``, the token as
``system:serviceaccount:NS:NAME`` (``kubectl auth whoami``), a pod-bound token refused once
its pod is gone, TokenRequest validation, and the OIDC discovery documents."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.auth.test_tls_auth import tls_args
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import TOKEN, call, make_certs

ISSUER = "https://kubernetes.default.svc.cluster.local"
SA_PATH = "/api/v1/namespaces/default/serviceaccounts"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_certs(tmp_path_factory.mktemp("pki"))  # with sa.key and sa.pub (EC P-256)
    (folder / "empty.kubeconfig").write_text("")
    return folder


@pytest.fixture(scope="module")
def api(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    args = tls_args(certs, "--service-account-signing-key-file", str(certs / "sa.key"),
                    "--service-account-key-file", str(certs / "sa.pub"),
                    "--service-account-issuer", ISSUER)
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=args) as server:
        admin = (certs / "admin.crt", certs / "admin.key")
        status, _ = call(server.url, certs / "ca.crt", "POST", SA_PATH,
                         {"metadata": {"name": "default"}}, cert=admin)
        assert status in (201, 409)
        yield server


def admin_call(api: ApiServer, certs: Path, method: str, path: str,
               body: Any = None) -> tuple[int, Any]:
    return call(api.url, certs / "ca.crt", method, path, body,
                cert=(certs / "admin.crt", certs / "admin.key"))


def kubectl(api: ApiServer, certs: Path, *args: str,
            token: str = "") -> subprocess.CompletedProcess[str]:
    """kubectl as admin (client certificate), or with only ``token`` when given."""
    who = ["--token", token, "--kubeconfig", str(certs / "empty.kubeconfig"),
           "--certificate-authority", str(certs / "ca.crt")] if token else \
        ["--kubeconfig", str(certs / "admin.kubeconfig")]
    return subprocess.run(["kubectl", *who, "--server", api.url, *args],
                          capture_output=True, text=True, timeout=60)


def whoami(api: ApiServer, certs: Path, token: str) -> subprocess.CompletedProcess[str]:
    return kubectl(api, certs, "auth", "whoami", "-o", "json", token=token)


def test_create_token_authenticates_as_the_service_account(api: ApiServer,
                                                           certs: Path) -> None:
    made = kubectl(api, certs, "create", "token", "default", "--duration", "11m")
    assert made.returncode == 0, made.stderr
    payload = made.stdout.strip().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 660
    seen = whoami(api, certs, made.stdout.strip())
    assert seen.returncode == 0, seen.stderr
    user = json.loads(seen.stdout)["status"]["userInfo"]
    assert user["username"] == "system:serviceaccount:default:default"
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default",
                              "system:authenticated"]


def test_token_of_another_audience_is_refused(api: ApiServer, certs: Path) -> None:
    made = kubectl(api, certs, "create", "token", "default", "--audience", "vault")
    assert made.returncode == 0, made.stderr
    seen = whoami(api, certs, made.stdout.strip())
    assert seen.returncode != 0 and "Unauthorized" in seen.stderr


def test_token_bound_to_a_pod_ends_with_the_pod(api: ApiServer, certs: Path) -> None:
    pod = {"metadata": {"name": "bound"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, created = admin_call(api, certs, "POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 201, created
    made = kubectl(api, certs, "create", "token", "default", "--bound-object-kind", "Pod",
                   "--bound-object-name", "bound", "--bound-object-uid",
                   created["metadata"]["uid"])
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert whoami(api, certs, token).returncode == 0
    status, _ = admin_call(api, certs, "DELETE", "/api/v1/namespaces/default/pods/bound")
    assert status == 200
    # Recreated under the same name: another uid, so the token stays refused.
    status, _ = admin_call(api, certs, "POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 201
    seen = whoami(api, certs, token)
    assert seen.returncode != 0 and "Unauthorized" in seen.stderr
    wrong_uid = kubectl(api, certs, "create", "token", "default", "--bound-object-kind", "Pod",
                        "--bound-object-name", "bound", "--bound-object-uid",
                        created["metadata"]["uid"])
    assert wrong_uid.returncode != 0 and "does not match the UID in record" in wrong_uid.stderr


def test_token_request_validation(api: ApiServer, certs: Path) -> None:
    status, body = admin_call(api, certs, "POST", f"{SA_PATH}/default/token",
                              {"spec": {"expirationSeconds": 599}})
    assert status == 422
    assert "may not specify a duration less than 10 minutes" in body["message"]
    status, body = admin_call(api, certs, "POST", f"{SA_PATH}/missing/token", {"spec": {}})
    assert status == 404 and body["message"] == 'serviceaccounts "missing" not found'
    status, body = admin_call(api, certs, "POST", f"{SA_PATH}/default/token",
                              {"spec": {"boundObjectRef": {"kind": "Deployment",
                                                           "apiVersion": "apps/v1",
                                                           "name": "x"}}})
    assert status == 400 and "cannot bind token to object" in body["message"]
    status, body = admin_call(api, certs, "POST", f"{SA_PATH}/default/token", {"spec": {}})
    assert status == 201
    assert body["kind"] == "TokenRequest"
    assert body["spec"]["audiences"] == [ISSUER] and body["spec"]["expirationSeconds"] == 3600
    assert body["status"]["expirationTimestamp"].endswith("Z")


def test_openid_discovery(api: ApiServer, certs: Path) -> None:
    status, config = admin_call(api, certs, "GET", "/.well-known/openid-configuration")
    assert status == 200
    assert config == {"issuer": ISSUER, "jwks_uri": ISSUER + "/openid/v1/jwks",
                      "response_types_supported": ["id_token"],
                      "subject_types_supported": ["public"],
                      "id_token_signing_alg_values_supported": ["ES256"]}
    status, jwks = admin_call(api, certs, "GET", "/openid/v1/jwks")
    assert status == 200
    (key,) = jwks["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
    assert key["use"] == "sig"


def test_admission_mounts_the_token_volume(api: ApiServer, certs: Path) -> None:
    pod = {"metadata": {"name": "mounted"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, created = admin_call(api, certs, "POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 201, created
    spec = created["spec"]
    assert spec["serviceAccountName"] == "default"
    (volume,) = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    assert [s for source in volume["projected"]["sources"] for s in source] == [
        "serviceAccountToken", "configMap", "downwardAPI"]
    assert spec["containers"][0]["volumeMounts"] == [{
        "name": volume["name"], "readOnly": True,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]


def test_admission_refuses_a_missing_service_account(api: ApiServer, certs: Path) -> None:
    pod = {"metadata": {"name": "robot"},
           "spec": {"serviceAccountName": "robot",
                    "containers": [{"name": "c", "image": "busybox"}]}}
    status, body = admin_call(api, certs, "POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 403
    assert body["message"] == ('pods "robot" is forbidden: error looking up service account '
                               'default/robot: serviceaccount "robot" not found')


def test_the_kubernetes_service_and_its_endpoints(api: ApiServer, certs: Path) -> None:
    port = int(api.url.rsplit(":", 1)[1])
    status, svc = admin_call(api, certs, "GET", "/api/v1/namespaces/default/services/kubernetes")
    assert status == 200, svc
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [{"name": "https", "protocol": "TCP", "port": 443,
                                     "targetPort": port}]
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    status, ep = admin_call(api, certs, "GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    assert status == 200
    assert ep["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                              "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
    status, piece = admin_call(
        api, certs, "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")
    assert status == 200
    assert piece["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert piece["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]
    shown = kubectl(api, certs, "get", "endpoints", "kubernetes")
    assert f"127.0.0.1:{port}" in shown.stdout, shown.stderr


@pytest.fixture(scope="module")
def node_api(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    args = tls_args(certs, "--service-account-signing-key-file", str(certs / "sa.key"),
                    "--authorization-mode", "Node,RBAC")
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=args) as server:
        yield server


def test_a_node_gets_tokens_only_for_its_own_pods(node_api: ApiServer, certs: Path) -> None:
    admin = (certs / "admin.crt", certs / "admin.key")
    n1 = (certs / "node-n1.crt", certs / "node-n1.key")
    ca = certs / "ca.crt"
    assert call(node_api.url, ca, "POST", SA_PATH, {"metadata": {"name": "default"}},
                cert=admin)[0] in (201, 409)
    uids = {}
    for name, node in (("mine", "n1"), ("theirs", "n2")):
        status, created = call(node_api.url, ca, "POST", "/api/v1/namespaces/default/pods", {
            "metadata": {"name": name}, "spec": {"nodeName": node, "containers": [
                {"name": "c", "image": "busybox"}]}}, cert=admin)
        assert status == 201, created
        uids[name] = created["metadata"]["uid"]

    def ask(pod: str | None, uid: str = "") -> tuple[int, Any]:
        spec: dict[str, Any] = {"expirationSeconds": 3607}
        if pod:
            spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": pod,
                                      "uid": uid}
        return call(node_api.url, ca, "POST", f"{SA_PATH}/default/token", {"spec": spec},
                    cert=n1)

    status, body = ask("mine", uids["mine"])
    assert status == 201, body
    # kube extends the kubelet's 3607 s pod tokens to a year, warnafter at the asked end;
    # the status still says the asked end.
    payload = body["status"]["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600
    assert claims["kubernetes.io"]["warnafter"] == claims["iat"] + 3607
    assert claims["kubernetes.io"]["pod"] == {"name": "mine", "uid": uids["mine"]}
    assert body["status"]["expirationTimestamp"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["iat"] + 3607))
    status, body = ask(None)
    assert status == 403 and "node requested token not bound to a pod" in body["message"]
    status, body = ask("mine")
    assert status == 403 and "without a uid" in body["message"]
    status, body = ask("theirs", uids["theirs"])
    assert status == 403 and "scheduled on a different node" in body["message"]


def test_token_review_of_service_account_tokens(api: ApiServer, certs: Path) -> None:
    made = kubectl(api, certs, "create", "token", "default", "--audience", "vault",
                   "--audience", ISSUER)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    path = "/apis/authentication.k8s.io/v1/tokenreviews"
    status, body = admin_call(api, certs, "POST", path, {"spec": {"token": token}})
    assert status == 201
    assert body["status"]["authenticated"] is True
    assert body["status"]["user"]["username"] == "system:serviceaccount:default:default"
    assert body["status"]["audiences"] == [ISSUER]
    status, body = admin_call(api, certs, "POST", path,
                              {"spec": {"token": token, "audiences": ["vault", "other"]}})
    assert body["status"]["authenticated"] is True and body["status"]["audiences"] == ["vault"]
    status, body = admin_call(api, certs, "POST", path,
                              {"spec": {"token": token, "audiences": ["other"]}})
    assert body["status"]["authenticated"] is False


def test_token_review_of_a_static_token_holds_the_servers_audiences_only(
        api: ApiServer, certs: Path) -> None:
    path = "/apis/authentication.k8s.io/v1/tokenreviews"
    status, body = admin_call(api, certs, "POST", path,
                              {"spec": {"token": TOKEN, "audiences": ["vault", ISSUER]}})
    assert status == 201
    assert body["status"]["user"]["username"] == "alice"
    assert body["status"]["audiences"] == [ISSUER]
    status, body = admin_call(api, certs, "POST", path,
                              {"spec": {"token": TOKEN, "audiences": ["vault"]}})
    assert body["status"] == {"authenticated": False, "user": {},
                              "error": "invalid bearer token"}
