"""Delegated authentication and authorization: the review bodies, the answers, the caches."""

from __future__ import annotations

from typing import Any

import pytest

from servers.apimachinery.errors import Forbidden
from servers.client.errors import ApiUnavailable
from servers.component.delegated import (
    ACCESS_REVIEWS,
    TOKEN_REVIEWS,
    DelegatedAuth,
    ReviewFailed,
    User,
    user_of_subject,
)


class FakeReviews:
    """Answers reviews as the apiserver would; records what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []
        self.tokens = {"good": {"username": "alice", "uid": "u1", "groups": ["dev", "ops"],
                                "extra": {"scopes": ["a", "b"]}}}
        self.allowed = {("alice", "/metrics")}
        self.fail: Exception | None = None

    async def request(self, method: str, path: str, *, body: Any = None) -> Any:
        assert method == "POST"
        self.asked.append((path, body))
        if self.fail is not None:
            raise self.fail
        spec = body["spec"]
        if path == TOKEN_REVIEWS:
            user = self.tokens.get(spec["token"])
            return {**body, "status": {"authenticated": user is not None, "user": user or {}}}
        allowed = (spec["user"], spec["nonResourceAttributes"]["path"]) in self.allowed
        return {**body, "status": {"allowed": allowed,
                                   **({} if allowed else {"reason": "no RBAC policy matched"})}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeReviews:
    return FakeReviews()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(fake: FakeReviews, clock: Clock) -> DelegatedAuth:
    return DelegatedAuth(fake, clock=clock)  # type: ignore[arg-type]


async def test_a_good_token_is_its_user_with_groups_uid_and_extra(
        auth: DelegatedAuth, fake: FakeReviews) -> None:
    user = await auth.authenticate_token("good")
    assert user == User("alice", ("dev", "ops"), "u1", (("scopes", ("a", "b")),))
    assert fake.asked == [(TOKEN_REVIEWS, {"apiVersion": "authentication.k8s.io/v1",
                                           "kind": "TokenReview", "spec": {"token": "good"}})]


async def test_a_bad_token_is_nobody(auth: DelegatedAuth) -> None:
    assert await auth.authenticate_token("bad") is None


async def test_token_answers_are_cached_for_ten_seconds(
        auth: DelegatedAuth, fake: FakeReviews, clock: Clock) -> None:
    for token in ("good", "bad", "good", "bad"):
        await auth.authenticate_token(token)
    assert len(fake.asked) == 2
    clock.now += 10.5
    await auth.authenticate_token("good")
    assert len(fake.asked) == 3


async def test_access_review_asks_for_the_non_resource_path(
        auth: DelegatedAuth, fake: FakeReviews) -> None:
    alice = User("alice", ("dev",), "u1", (("scopes", ("a",)),))
    decision = await auth.authorize(alice, "get", "/metrics")
    assert decision.allowed
    path, body = fake.asked[-1]
    assert path == ACCESS_REVIEWS
    assert body == {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "spec": {"user": "alice", "groups": ["dev"], "uid": "u1",
                             "extra": {"scopes": ["a"]},
                             "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}


async def test_refusals_carry_the_reason_and_both_answers_are_cached(
        auth: DelegatedAuth, fake: FakeReviews, clock: Clock) -> None:
    bob, alice = User("bob"), User("alice")
    refused = await auth.authorize(bob, "get", "/metrics")
    assert not refused.allowed and refused.reason == "no RBAC policy matched"
    await auth.authorize(alice, "get", "/metrics")
    fake.allowed = {("bob", "/metrics")}  # the policy changes ...
    assert not (await auth.authorize(bob, "get", "/metrics")).allowed  # ... seen after 10 s
    assert (await auth.authorize(alice, "get", "/metrics")).allowed
    assert len(fake.asked) == 2
    clock.now += 11
    assert (await auth.authorize(bob, "get", "/metrics")).allowed
    assert not (await auth.authorize(alice, "get", "/metrics")).allowed


@pytest.mark.parametrize("error", [ApiUnavailable("POST ...: apiserver unavailable: refused"),
                                   Forbidden(why="nope")])
async def test_a_review_that_cannot_be_made_is_review_failed_and_not_cached(
        auth: DelegatedAuth, fake: FakeReviews, error: Exception) -> None:
    fake.fail = error
    with pytest.raises(ReviewFailed, match=r"^SubjectAccessReview: "):
        await auth.authorize(User("alice"), "get", "/metrics")
    with pytest.raises(ReviewFailed, match=r"^TokenReview: "):
        await auth.authenticate_token("good")
    fake.fail = None
    assert (await auth.authorize(User("alice"), "get", "/metrics")).allowed
    assert await auth.authenticate_token("good") is not None


def test_user_of_a_certificate_subject_is_cn_with_o_groups() -> None:
    subject = ((("organizationName", "system:masters"),), (("organizationName", "ops"),),
               (("commonName", "admin"),))
    assert user_of_subject(subject) == User("admin", ("system:masters", "ops"))
    assert user_of_subject(((("organizationName", "x"),),)) is None
    assert user_of_subject(None) is None
