"""TokenReview answers over the static token authenticator (no HTTP)."""

from __future__ import annotations

import pytest

from servers.apimachinery import errors
from servers.apiserver.auth import tokenreview
from servers.apiserver.auth.bootstrap import BootstrapTokens, make_secret
from servers.apiserver.auth.tokens import TokenAuthenticator, parse

TOKENS = TokenAuthenticator(parse('s3cret,alice,uid-1,"dev,ops"\n'))


def test_a_good_token_names_its_user() -> None:
    answer = tokenreview.review({"spec": {"token": "s3cret"}}, TOKENS)
    assert answer["kind"] == "TokenReview"
    assert answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["status"] == {
        "authenticated": True,
        "user": {"username": "alice", "uid": "uid-1",
                 "groups": ["dev", "ops", "system:authenticated"]},
        "audiences": list(tokenreview.API_AUDIENCES)}


def test_a_static_token_is_good_for_the_servers_audiences_only() -> None:
    api = tokenreview.API_AUDIENCES[0]
    answer = tokenreview.review({"spec": {"token": "s3cret", "audiences": ["metrics", api]}},
                                TOKENS)
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["audiences"] == [api]
    other = tokenreview.review({"spec": {"token": "s3cret", "audiences": ["metrics"]}}, TOKENS)
    assert other["status"] == {"authenticated": False, "user": {},
                               "error": "invalid bearer token"}


@pytest.mark.parametrize("tokens", [TOKENS, None])
def test_a_bad_token_is_not_authenticated(tokens: TokenAuthenticator | None) -> None:
    answer = tokenreview.review({"spec": {"token": "wrong"}}, tokens)
    assert answer["status"] == {"authenticated": False, "user": {},
                                "error": "invalid bearer token"}


@pytest.mark.parametrize("body", [{}, {"spec": {}}, {"spec": {"token": ""}},
                                  {"spec": {"token": 5}}, {"spec": "x"}])
def test_no_token_is_a_bad_request(body: dict[str, object]) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        tokenreview.review(body, TOKENS)
    assert caught.value.message == "token is required for TokenReview in authentication"


def test_the_token_never_reaches_a_log_line_or_error() -> None:
    with pytest.raises(errors.BadRequest) as caught:
        tokenreview.review({"metadata": {"namespace": "x"}, "spec": {"token": "s3cret"}}, TOKENS)
    assert "s3cret" not in caught.value.message


def test_bootstrap_tokens_are_answered_after_the_token_file() -> None:
    tokens = BootstrapTokens()
    tokens.replace([make_secret("abcdef", "0123456789abcdef", extra_groups=(
        "system:bootstrappers:km:default-node-token",)),
        make_secret("old123", "0123456789abcdef", expires="2020-01-01T00:00:00Z")])
    answer = tokenreview.review({"spec": {"token": "abcdef.0123456789abcdef"}}, TOKENS,
                                bootstrap=tokens)
    assert answer["status"] == {
        "authenticated": True,
        "user": {"username": "system:bootstrap:abcdef",
                 "groups": ["system:bootstrappers", "system:bootstrappers:km:default-node-token",
                            "system:authenticated"]},
        "audiences": list(tokenreview.API_AUDIENCES)}
    for refused in ("old123.0123456789abcdef", "abcdef.fedcba9876543210",
                    "nosuch.0123456789abcdef"):  # expired, wrong secret, no Secret
        answer = tokenreview.review({"spec": {"token": refused}}, TOKENS, bootstrap=tokens)
        assert answer["status"] == {"authenticated": False, "user": {},
                                    "error": "invalid bearer token"}
    off = tokenreview.review({"spec": {"token": "abcdef.0123456789abcdef"}}, TOKENS)
    assert off["status"]["authenticated"] is False  # --enable-bootstrap-token-auth off
