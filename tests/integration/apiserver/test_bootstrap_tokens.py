"""Bootstrap token authentication against a real ``km apiserver`` (HTTPS, RBAC,
--enable-bootstrap-token-auth): a token Secret in kube-system lets its token in as
system:bootstrap:ID (seen through the Secret watch, no restart), and only while the Secret
is there, unexpired and holding that secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver.auth import bootstrap as bt
from tests.support import wait
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import call, make_certs

WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


@pytest.fixture(scope="module")
def tls_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path]]:
    certs = make_certs(tmp_path_factory.mktemp("pki"))
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC",
            "--enable-bootstrap-token-auth", "--compaction-interval", "0"]
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=args) as api:
        yield api, certs


def admin(api: ApiServer, certs: Path, method: str, path: str, body: Any = None
          ) -> tuple[int, Any]:
    return call(api.url, certs / "ca.crt", method, path, body,
                cert=(certs / "admin.crt", certs / "admin.key"))


def whoami(api: ApiServer, certs: Path, token: str) -> tuple[int, Any]:
    return call(api.url, certs / "ca.crt", "POST", WHOAMI, REVIEW, token=token)


def until(api: ApiServer, certs: Path, token: str, status: int) -> Any:
    """The body of the first whoami with ``token`` that answers ``status`` (the token Secrets
    reach the authenticator through a watch); fails with the last answer seen."""
    last: list[tuple[int, Any]] = []

    def answered() -> bool:
        last[:] = [whoami(api, certs, token)]
        return last[0][0] == status
    wait.until(answered, f"whoami with {token} to answer {status}", 10, 0.05,
               detail=lambda: last[0])
    return last[0][1]


def test_a_token_secret_lets_its_token_in_until_it_is_deleted(
        tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    token = "abcdef.0123456789abcdef"
    assert whoami(api, certs, token)[0] == 401
    secret = bt.make_secret("abcdef", "0123456789abcdef",
                            extra_groups=("system:bootstrappers:km:default-node-token",))
    assert admin(api, certs, "POST", SECRETS, secret)[0] == 201
    body = until(api, certs, token, 201)
    assert body["status"]["userInfo"] == {
        "username": "system:bootstrap:abcdef",
        "groups": ["system:bootstrappers", "system:bootstrappers:km:default-node-token",
                   "system:authenticated"]}
    status, _ = call(api.url, certs / "ca.crt", "GET", "/api/v1/pods", token=token)
    assert status == 403
    assert whoami(api, certs, "abcdef.fedcba9876543210")[0] == 401
    assert admin(api, certs, "DELETE", f"{SECRETS}/bootstrap-token-abcdef")[0] == 200
    until(api, certs, token, 401)
    assert "0123456789abcdef" not in "\n".join(api.log)


def test_an_expired_token_is_refused(tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    live = bt.make_secret("live01", "0123456789abcdef", expires="2999-01-01T00:00:00Z")
    dead = bt.make_secret("dead01", "0123456789abcdef", expires="2020-01-01T00:00:00Z")
    for secret in (dead, live):
        assert admin(api, certs, "POST", SECRETS, secret)[0] == 201
    until(api, certs, "live01.0123456789abcdef", 201)
    assert whoami(api, certs, "dead01.0123456789abcdef")[0] == 401
    api.logged("bootstrap-token-dead01 has expired")


TOKENREVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def token_review(api: ApiServer, certs: Path, token: str) -> Any:
    status, body = admin(api, certs, "POST", TOKENREVIEWS, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}})
    assert status == 201, body
    return body["status"]


def test_a_token_review_answers_bootstrap_tokens_as_kube_apiserver(
        tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    secret = "0123456789abcdef"
    token, expired = "rev001." + secret, "rev002." + secret
    for made in (bt.make_secret("rev001", secret, extra_groups=(
            "system:bootstrappers:km:default-node-token",)),
            bt.make_secret("rev002", secret, expires="2020-01-01T00:00:00Z")):
        assert admin(api, certs, "POST", SECRETS, made)[0] == 201
    until(api, certs, token, 201)  # the Secret watch has it
    assert token_review(api, certs, token) == {
        "authenticated": True,
        "user": {"username": "system:bootstrap:rev001",
                 "groups": ["system:bootstrappers", "system:bootstrappers:km:default-node-token",
                            "system:authenticated"]},
        "audiences": ["https://kubernetes.default.svc.cluster.local"]}
    refused = {"authenticated": False, "user": {}, "error": "invalid bearer token"}
    assert token_review(api, certs, expired) == refused
    api.logged("system:bootstrap:rev002 refused: bootstrap token bootstrap-token-rev002 "
               "has expired")
    assert admin(api, certs, "DELETE", f"{SECRETS}/bootstrap-token-rev001")[0] == 200
    until(api, certs, token, 401)
    assert token_review(api, certs, token) == refused
    assert secret not in "\n".join(api.log)
