"""authentication.k8s.io/v1 TokenReview over HTTP under RBAC: who may ask (the scheduler and
controller-manager identities, cluster admins), what the answer says, discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from servers.apiserver import app as apiserver
from servers.apiserver.auth import UserInfo
from servers.apiserver.auth.tokens import TokenAuthenticator, parse
from servers.apiserver.authz import bootstrap
from servers.apiserver.registry import Registry
from servers.apiserver.storage import open_storage
from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.test_rbac import call, from_headers

REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


@dataclass(frozen=True)
class HeadersAndTokens:
    """Users from the test headers; the token authenticator TokenReview asks."""

    tokens: TokenAuthenticator

    def __call__(self, request: web.Request) -> UserInfo:
        return from_headers(request)


@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
              ) -> AsyncIterator[Client]:
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    registry = Registry(storage)
    tokens = TokenAuthenticator(parse("good,bob,u-7,ops\n"))
    try:
        await apiserver.create_default_namespaces(registry)
        await bootstrap.ensure(registry)
        app = apiserver.make_app(registry, authorization_mode="RBAC",
                                 authenticate=HeadersAndTokens(tokens))
        yield await aiohttp_client(app)
    finally:
        await registry.close()
        await storage.close()


def review(token: str) -> dict[str, object]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}}


async def test_the_scheduler_may_review_tokens(api: Client) -> None:
    answer = await call(api, "POST", REVIEWS, review("good"), user="system:kube-scheduler",
                        expect=201)
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["user"] == {"username": "bob", "uid": "u-7",
                                        "groups": ["ops", "system:authenticated"]}
    bad = await call(api, "POST", REVIEWS, review("nope"),
                     user="system:kube-controller-manager", expect=201)
    assert bad["status"] == {"authenticated": False, "user": {},
                             "error": "invalid bearer token"}


async def test_others_may_not(api: Client) -> None:
    refused = await call(api, "POST", REVIEWS, review("good"), user="alice", expect=403)
    assert refused["message"] == ('tokenreviews.authentication.k8s.io is forbidden: User '
                                  '"alice" cannot create resource "tokenreviews" in API group '
                                  '"authentication.k8s.io" at the cluster scope')


async def test_a_review_without_a_token_is_400(api: Client) -> None:
    answer = await call(api, "POST", REVIEWS, {"spec": {}}, expect=400)
    assert answer["message"] == "token is required for TokenReview in authentication"
    await call(api, "GET", REVIEWS, expect=405)


async def test_discovery_lists_the_authentication_group(api: Client) -> None:
    doc = await call(api, "GET", "/apis/authentication.k8s.io/v1", expect=200)
    assert sorted(r["name"] for r in doc["resources"]) == ["selfsubjectreviews",
                                                           "tokenreviews"]
    assert all(r["verbs"] == ["create"] for r in doc["resources"])
