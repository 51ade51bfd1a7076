"""The secure port's app over plain HTTP with a fake apiserver: bearer tokens, verbs, paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, Gauge

from servers.component.delegated import DelegatedAuth
from servers.component.serving import _allowed_without_auth, make_app, self_signed_names
from tests.unit.component.test_delegated import FakeReviews

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def fake() -> FakeReviews:
    return FakeReviews()


@pytest.fixture
async def http(aiohttp_client: MakeClient, fake: FakeReviews) -> TestClient[Any, Any]:
    registry = CollectorRegistry()
    Gauge("km_test_up", "Up.", registry=registry).set(1)
    app = make_app(registry, DelegatedAuth(fake))  # type: ignore[arg-type]
    return await aiohttp_client(app)


async def test_health_needs_no_credentials_and_asks_nobody(http: TestClient[Any, Any],
                                                           fake: FakeReviews) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        response = await http.get(path)
        assert (response.status, await response.text()) == (200, "ok")
    assert fake.asked == []


@pytest.mark.parametrize("header", ["Bearer good", "bearer good", "BEARER  good "])
async def test_a_good_bearer_token_reads_metrics(http: TestClient[Any, Any],
                                                 header: str) -> None:
    response = await http.get("/metrics", headers={"Authorization": header})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "km_test_up 1.0" in await response.text()


@pytest.mark.parametrize("header", ["Bearer bad", "Bearer ", "Basic Z29vZA==", "good"])
async def test_no_good_token_is_401_status(http: TestClient[Any, Any], header: str) -> None:
    response = await http.get("/metrics", headers={"Authorization": header})
    assert response.status == 401
    body = await response.json()
    assert (body["kind"], body["code"], body["message"]) == ("Status", 401, "Unauthorized")


async def test_a_user_without_rights_is_403_with_kubes_message(http: TestClient[Any, Any],
                                                               fake: FakeReviews) -> None:
    fake.tokens["bobs"] = {"username": "bob", "groups": ["dev"]}
    response = await http.get("/metrics", headers={"Authorization": "Bearer bobs"})
    assert response.status == 403
    body = await response.json()
    assert body["message"] == ('forbidden: User "bob" cannot get path "/metrics": '
                               "no RBAC policy matched")


async def test_the_verb_follows_the_method_and_unknown_paths_are_authorized_first(
        http: TestClient[Any, Any], fake: FakeReviews) -> None:
    fake.allowed.add(("alice", "/nothing-here"))
    response = await http.post("/metrics", headers={"Authorization": "Bearer good"})
    assert response.status == 405  # the fake allows any verb; the route takes GET only
    assert fake.asked[-1][1]["spec"]["nonResourceAttributes"] == {
        "path": "/metrics", "verb": "post"}
    response = await http.get("/nothing-here", headers={"Authorization": "Bearer good"})
    assert response.status == 404


async def test_an_apiserver_that_cannot_review_is_401_for_tokens(
        http: TestClient[Any, Any], fake: FakeReviews) -> None:
    from servers.client.errors import ApiUnavailable

    fake.fail = ApiUnavailable("POST: apiserver unavailable")
    response = await http.get("/metrics", headers={"Authorization": "Bearer good"})
    assert response.status == 401


def test_always_allow_patterns_are_exact_or_star_prefixes() -> None:
    patterns = ("/healthz", "/debug/*")
    assert _allowed_without_auth("/healthz", patterns)
    assert not _allowed_without_auth("/healthz/ping", patterns)
    assert _allowed_without_auth("/debug/pprof", patterns)
    assert not _allowed_without_auth("/metrics", patterns)


def test_self_signed_names_add_a_specific_bind_address_only() -> None:
    assert self_signed_names("0.0.0.0")[:2] == ["localhost", "127.0.0.1"]
    assert "0.0.0.0" not in self_signed_names("0.0.0.0")
    assert "::" not in self_signed_names("::")
    assert self_signed_names("127.0.0.2")[-1] == "127.0.0.2"
    assert self_signed_names("127.0.0.1").count("127.0.0.1") == 1
