"""TokenReview answers over the static token authenticator (no HTTP)."""

from __future__ import annotations

import pytest

from servers.apimachinery import errors
from servers.apiserver.auth import tokenreview
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


def test_audiences_asked_are_echoed() -> None:
    answer = tokenreview.review({"spec": {"token": "s3cret", "audiences": ["metrics"]}}, TOKENS)
    assert answer["status"]["audiences"] == ["metrics"]


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
