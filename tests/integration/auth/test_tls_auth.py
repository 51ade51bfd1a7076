"""The apiserver's door, as a subprocess from the source tree: TLS with certificates made by
`km certs`, client certificates, static tokens, anonymous requests, and what a refusal leaves.

Every refused request is checked to have changed nothing in storage: the pod list's
resourceVersion (the store's revision) is the same before and after.
"""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver import options
from tests.support.apiserver import ROOT, ApiServer, start_apiserver
from tests.support.pki import (
    TOKEN,
    WRONG_TOKEN,
    call,
    expired_client,
    foreign_client,
    make_certs,
    token_file,
)

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def tls_args(certs: Path, *extra: str) -> list[str]:
    return ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"),
            "--token-auth-file", str(token_file(certs)), "--compaction-interval", "0", *extra]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def api(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=tls_args(certs)) as server:
        yield server


@pytest.fixture
def admin(certs: Path) -> tuple[Path, Path]:
    return certs / "admin.crt", certs / "admin.key"


def revision(api: ApiServer, certs: Path, admin: tuple[Path, Path]) -> str:
    status, body = call(api.url, certs / "ca.crt", "GET", PODS, cert=admin)
    assert status == 200
    return str(body["metadata"]["resourceVersion"])


def assert_unauthorized(status: int, body: Any) -> None:
    assert status == 401
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_only_https_is_served_when_secure_port_is_given(api: ApiServer) -> None:
    assert api.url.startswith("https://127.0.0.1:")
    served = [line for line in api.log if "serving on" in line]
    assert len(served) == 1


def test_admin_client_certificate_creates_and_reads(api: ApiServer, certs: Path,
                                                    admin: tuple[Path, Path]) -> None:
    status, body = call(api.url, certs / "ca.crt", "POST", PODS, pod("by-cert"), cert=admin)
    assert status == 201, body
    status, body = call(api.url, certs / "ca.crt", "GET", PODS + "/by-cert", cert=admin)
    assert (status, body["metadata"]["name"]) == (200, "by-cert")


def test_a_token_from_the_file_authenticates(api: ApiServer, certs: Path) -> None:
    status, body = call(api.url, certs / "ca.crt", "POST", PODS, pod("by-token"), token=TOKEN)
    assert status == 201, body


@pytest.mark.parametrize(("credentials", "why"), [
    ({}, "system:anonymous: no credentials"),
    ({"token": WRONG_TOKEN}, "<unknown token>: invalid bearer token"),
])
def test_a_refused_write_is_a_401_status_and_changes_nothing(
        api: ApiServer, certs: Path, admin: tuple[Path, Path], credentials: dict[str, str],
        why: str) -> None:
    before = revision(api, certs, admin)
    for method, path, body in (("POST", PODS, pod("refused")),
                               ("DELETE", PODS + "/by-cert", None),
                               ("PATCH", PODS + "/by-cert", {"metadata": {"labels": {"x": "y"}}}),
                               ("GET", PODS, None)):
        status, answer = call(api.url, certs / "ca.crt", method, path, body,
                              content_type="application/merge-patch+json", **credentials)
        assert_unauthorized(status, answer)
        # (the whole line: the module's server logged the same request's denial for the
        # other credentials already)
        api.logged(f"denied {method} {path} from 127.0.0.1 as {why}")
    assert revision(api, certs, admin) == before
    status, _ = call(api.url, certs / "ca.crt", "GET", PODS + "/refused", cert=admin)
    assert status == 404


def test_an_expired_client_certificate_gets_401_and_a_log_line(
        api: ApiServer, certs: Path, admin: tuple[Path, Path], tmp_path: Path) -> None:
    before = revision(api, certs, admin)
    expired = expired_client(certs, "admin", tmp_path)
    status, body = call(api.url, certs / "ca.crt", "POST", PODS, pod("expired"), cert=expired)
    assert_unauthorized(status, body)
    api.logged("as admin: client certificate expired")
    assert revision(api, certs, admin) == before


def test_a_client_certificate_from_a_foreign_ca_is_refused_by_the_handshake(
        api: ApiServer, certs: Path, admin: tuple[Path, Path], tmp_path: Path) -> None:
    before = revision(api, certs, admin)
    foreign = foreign_client("admin", tmp_path)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(api.url, certs / "ca.crt", "POST", PODS, pod("foreign"), cert=foreign)
    api.logged("denied a TLS client: its certificate failed verification (unable to get "
                "local issuer certificate)")
    assert revision(api, certs, admin) == before


def test_a_server_certificate_is_no_client_certificate(
        api: ApiServer, certs: Path, admin: tuple[Path, Path]) -> None:
    serving = certs / "apiserver.crt", certs / "apiserver.key"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        call(api.url, certs / "ca.crt", "GET", PODS, cert=serving)


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version", "/version/"])
def test_health_and_version_are_open(api: ApiServer, certs: Path, path: str) -> None:
    status, _ = call(api.url, certs / "ca.crt", "GET", path)
    assert status == 200


def test_no_secret_reaches_the_log(api: ApiServer, certs: Path) -> None:
    call(api.url, certs / "ca.crt", "GET", PODS, token=TOKEN)
    call(api.url, certs / "ca.crt", "GET", "/api/v1/namespaces/leak/pods", token=WRONG_TOKEN)
    api.logged("denied GET /api/v1/namespaces/leak/pods ")
    text = "".join(api.log)
    keys = [p.read_text().splitlines()[1] for p in certs.glob("*.key")]
    assert WRONG_TOKEN not in text
    assert TOKEN not in text
    assert all(k not in text for k in keys)


def test_no_secret_reaches_the_log_at_the_most_verbose_level(certs: Path, tmp_path: Path
                                                             ) -> None:
    """At -v 10 the server logs every request (aiohttp's access log) and every refusal, with
    tracebacks for failures: still no token and no private key."""
    args = tls_args(certs, "--authorization-mode", "RBAC", "-v", "10")
    with start_apiserver(tmp_path / "data", secure=True, extra_args=args) as server:
        admin = certs / "admin.crt", certs / "admin.key"
        assert call(server.url, certs / "ca.crt", "GET", PODS, cert=admin)[0] == 200
        assert call(server.url, certs / "ca.crt", "POST", PODS, pod("t"), token=TOKEN)[0] == 403
        assert call(server.url, certs / "ca.crt", "GET", PODS, token=WRONG_TOKEN)[0] == 401
        assert call(server.url, certs / "ca.crt", "GET", PODS + "?x=1",
                    token=f"{TOKEN}x")[0] == 401
        server.logged('forbidden: User "alice" cannot create resource "pods"')
        server.logged(f'"GET {PODS}?x=1 HTTP/1.1" 401')
        text = "".join(server.log)
    keys = [line for p in certs.glob("*.key") for line in p.read_text().splitlines()[1:-1]]
    assert TOKEN not in text and WRONG_TOKEN not in text
    assert not [k for k in keys if k in text]


def test_anonymous_auth_lets_requests_without_credentials_in(
        certs: Path, tmp_path: Path) -> None:
    args = tls_args(certs, "--anonymous-auth=true", "--port", "0")
    with start_apiserver(tmp_path / "data", secure=True, extra_args=args) as server:
        status, body = call(server.url, certs / "ca.crt", "GET", PODS)
        assert status == 200, body
        status, body = call(server.url, certs / "ca.crt", "GET", PODS, token=WRONG_TOKEN)
        assert_unauthorized(status, body)
        plain = [line for line in server.log if "serving on http://127.0.0.1:" in line]
        assert plain, "an explicit --port serves plain HTTP beside HTTPS"


def test_rbac_sees_the_authenticated_user(certs: Path, tmp_path: Path) -> None:
    args = tls_args(certs, "--authorization-mode", "RBAC")
    with start_apiserver(tmp_path / "data", secure=True, extra_args=args) as server:
        status, body = call(server.url, certs / "ca.crt", "POST", PODS, pod("alice"),
                            token=TOKEN)
        assert status == 403, body
        assert "alice" in body["message"]
        status, body = call(server.url, certs / "ca.crt", "POST",
                            "/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, token=TOKEN)
        assert status == 201, body  # system:basic-user lets everyone ask who they are
        status, body = call(server.url, certs / "ca.crt", "POST", PODS, pod("admin"),
                            cert=(certs / "admin.crt", certs / "admin.key"))
        assert status == 201, body


def test_a_non_loopback_plain_port_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "servers.km", "apiserver", "--bind-address",
                           "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    message = options.NOT_LOOPBACK.format(address="0.0.0.0")
    assert done.stderr.strip() == f"km apiserver: error: {message}"


@pytest.mark.parametrize("name", ["admin", "scheduler", "controller-manager", "proxy",
                                  "node-n1"])
async def test_every_component_kubeconfig_works_with_the_km_client(
        api: ApiServer, certs: Path, name: str) -> None:
    from servers.client.kubeconfig import load_kubeconfig
    from servers.client.resources import PODS as POD_RESOURCE
    from servers.client.rest import Client

    config = dataclasses.replace(load_kubeconfig(certs / f"{name}.kubeconfig"), server=api.url)
    async with Client(config) as client:
        listed = await client.list(POD_RESOURCE, "default")
    assert listed["kind"] == "PodList"


@pytest.mark.parametrize(("credentials", "user", "groups"), [
    ({"token": TOKEN}, "alice", ["dev", "ops", "system:authenticated"]),
    ({}, "admin", ["system:masters", "system:authenticated"]),
])
def test_a_self_subject_review_answers_who_the_request_is(
        api: ApiServer, certs: Path, admin: tuple[Path, Path], credentials: dict[str, str],
        user: str, groups: list[str]) -> None:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    cert = None if credentials else admin
    status, body = call(api.url, certs / "ca.crt", "POST",
                        "/apis/authentication.k8s.io/v1/selfsubjectreviews", review, cert=cert,
                        **credentials)
    assert status == 201, body
    assert body["status"]["userInfo"] == {"username": user, "groups": groups}
