"""The kubelet's service account tokens: the TokenRequest it sends, caching, the refresh at
80 % of a token's life, a failed refresh keeping a valid token, and the projected file."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from servers.apimachinery.errors import Forbidden
from servers.kubelet import tokens, volumes
from servers.kubelet.envvars import Sources

Obj = dict[str, Any]
NOW = 1_800_000_000.0


class FakeClient:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, Obj]] = []
        self.fail = False

    async def create(self, resource: Any, obj: Obj, namespace: str | None = None, *,
                     subresource: str | None = None) -> Obj:
        assert (resource.plural, subresource) == ("serviceaccounts", "token")
        if self.fail:
            raise Forbidden("serviceaccounts", obj["metadata"]["name"], "no")
        self.asked.append((obj["metadata"]["name"], namespace, obj))
        exp = dt.datetime.fromtimestamp(NOW + obj["spec"]["expirationSeconds"],
                                        dt.timezone.utc)
        return {"status": {"token": f"token-{len(self.asked)}",
                           "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}}


def pod(**source: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"serviceAccountName": "robot", "volumes": [{"name": "kube-api-access-x",
                     "projected": {"sources": [{"serviceAccountToken": {
                         "expirationSeconds": 3607, "path": "token", **source}}]}}]}}


async def test_asks_once_bound_to_the_pod_and_refreshes_at_80_percent() -> None:
    client, now = FakeClient(), [NOW]
    manager = tokens.TokenManager(client, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await manager.for_pod(pod()) == {("", 3607): "token-1"}
    name, namespace, body = client.asked[0]
    assert (name, namespace) == ("robot", "ns")
    assert body["spec"] == {"expirationSeconds": 3607, "boundObjectRef": {
        "apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u1"}}
    now[0] = NOW + 3607 * 0.8 - tokens.MAX_JITTER_SECONDS - 1
    assert await manager.for_pod(pod()) == {("", 3607): "token-1"}
    now[0] = NOW + 3607 * 0.8 + 1
    assert await manager.for_pod(pod()) == {("", 3607): "token-2"}
    manager.forget("u1")
    assert await manager.for_pod(pod()) == {("", 3607): "token-3"}


async def test_audience_and_a_failed_refresh() -> None:
    client, now = FakeClient(), [NOW]
    manager = tokens.TokenManager(client, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await manager.token(pod(), "vault", 3600) == "token-1"
    assert client.asked[0][2]["spec"]["audiences"] == ["vault"]
    client.fail = True
    now[0] = NOW + 3500  # due for refresh, still valid: the old one is kept
    assert await manager.token(pod(), "vault", 3600) == "token-1"
    now[0] = NOW + 3700
    with pytest.raises(tokens.TokenError, match="failed to fetch token"):
        await manager.token(pod(), "vault", 3600)


def test_the_projected_file() -> None:
    sources = Sources({}, {}, [])
    with pytest.raises(volumes.VolumeError, match="no service account token"):
        volumes.payload(pod()["spec"]["volumes"][0], pod(), sources)
    sources.tokens = {("", 3607): "abc"}
    files = volumes.payload(pod()["spec"]["volumes"][0], pod(), sources)
    assert files == {"token": (b"abc", 0o644)}
