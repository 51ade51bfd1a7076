"""TokenReview against a real ``km apiserver`` (HTTPS, RBAC, --token-auth-file): the token
file is what the review asks, the scheduler's client certificate may ask, the token's own
user may not, and /metrics answers the admin and no one without credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import TOKEN, call, make_certs, token_file

REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


@pytest.fixture(scope="module")
def tls_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Path]]:
    certs = make_certs(tmp_path_factory.mktemp("pki"))
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "RBAC",
            "--token-auth-file", str(token_file(certs)), "--compaction-interval", "0"]
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=args) as api:
        yield api, certs


def review(token: str) -> dict[str, object]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}}


def test_the_scheduler_reviews_a_token_of_the_token_file(
        tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    scheduler = (certs / "scheduler.crt", certs / "scheduler.key")
    status, body = call(api.url, certs / "ca.crt", "POST", REVIEWS, review(TOKEN),
                        cert=scheduler)
    assert status == 201, body
    assert body["status"] == {
        "authenticated": True,
        "user": {"username": "alice", "uid": "uid-alice",
                 "groups": ["dev", "ops", "system:authenticated"]},
        "audiences": ["https://kubernetes.default.svc.cluster.local"]}
    status, body = call(api.url, certs / "ca.crt", "POST", REVIEWS, review("nope"),
                        cert=scheduler)
    assert (status, body["status"]["authenticated"]) == (201, False)


def test_the_token_user_may_not_review_tokens(tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    status, body = call(api.url, certs / "ca.crt", "POST", REVIEWS, review(TOKEN), token=TOKEN)
    assert status == 403, body
    assert TOKEN not in str(body)


def test_metrics_answer_the_admin_only(tls_api: tuple[ApiServer, Path]) -> None:
    api, certs = tls_api
    admin = (certs / "admin.crt", certs / "admin.key")
    status, text = call(api.url, certs / "ca.crt", "GET", "/metrics", cert=admin)
    assert status == 200 and "apiserver_request_total{" in text
    assert 'etcd_request_duration_seconds_count{operation="create",type="namespaces"}' in text
    status, _ = call(api.url, certs / "ca.crt", "GET", "/metrics")
    assert status == 401
    status, _ = call(api.url, certs / "ca.crt", "GET", "/metrics", token=TOKEN)
    assert status == 403
