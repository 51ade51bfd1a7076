"""The RBAC policy cache over a real registry: it follows creates, updates and deletes through
the watch cache, and lists again when its watch ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver import mirror, resources
from servers.apiserver.authz import Attributes
from servers.apiserver.authz.cache import PolicyCache
from servers.apiserver.authz.rbac import Policy, RBACAuthorizer
from servers.apiserver.registry import Registry
from servers.apiserver.routing import Target
from servers.apiserver.storage import interface as st
from servers.apiserver.storage import open_storage
from tests.support.wait import eventually

GROUP = "rbac.authorization.k8s.io"
GET_NODES = Attributes("alice", (), "get", resource="nodes")
WAIT, POLL = 5.0, 0.01  # how long the policy cache may take to catch up, how often to look


def target(plural: str, name: str = "") -> Target:
    resource = resources.by_plural(GROUP, "v1", plural)
    assert resource is not None
    return Target(resource, None, name)


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    reg = Registry(storage)
    try:
        yield reg
    finally:
        await reg.close()
        await storage.close()


async def grant(registry: Registry) -> None:
    rules = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
    await registry.create(target("clusterroles"), {"metadata": {"name": "nodes"},
                                                   "rules": rules})
    await registry.create(target("clusterrolebindings"), {
        "metadata": {"name": "alice-nodes"},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "nodes"},
        "subjects": [{"kind": "User", "name": "alice"}]})


async def test_the_cache_follows_writes(registry: Registry) -> None:
    policy = Policy()
    rbac = RBACAuthorizer(policy)
    policy_cache = PolicyCache(registry, policy)
    policy_cache.start()
    try:
        await policy_cache.synced()
        assert not rbac.authorize(GET_NODES).allowed
        await grant(registry)
        await eventually(lambda: rbac.authorize(GET_NODES).allowed,
                         "the policy cache to allow alice nodes", WAIT, POLL)

        def narrower(role: dict[str, Any]) -> dict[str, Any]:
            role["rules"][0]["resourceNames"] = ["n1"]
            return role

        await registry.patch(target("clusterroles", "nodes"), narrower)
        await eventually(lambda: not rbac.authorize(GET_NODES).allowed,
                         "the policy cache to deny alice nodes", WAIT, POLL)
        named = Attributes("alice", (), "get", resource="nodes", name="n1")
        assert rbac.authorize(named).allowed
        await registry.delete(target("clusterrolebindings", "alice-nodes"), {})
        await eventually(lambda: not rbac.authorize(named).allowed,
                         "the policy cache to deny alice node n1", WAIT, POLL)
    finally:
        await policy_cache.close()


async def test_a_watch_that_ends_is_followed_by_a_fresh_list(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror, "RETRY_SECONDS", 0.01)
    real_watch = registry.watch
    broken = True

    async def flaky(target: Target, rev: int) -> AsyncIterator[list[st.Event]]:
        if broken:
            raise st.WatchClosed("the watcher fell behind the watch cache")
        async for batch in real_watch(target, rev):
            yield batch

    monkeypatch.setattr(registry, "watch", flaky)
    policy = Policy()
    rbac = RBACAuthorizer(policy)
    policy_cache = PolicyCache(registry, policy)
    policy_cache.start()
    try:
        await policy_cache.synced()
        await grant(registry)  # written while no watch runs: only a new list sees it
        await eventually(lambda: rbac.authorize(GET_NODES).allowed,
                         "the policy cache to allow alice nodes", WAIT, POLL)
        broken = False
        await registry.delete(target("clusterrolebindings", "alice-nodes"), {})
        await eventually(lambda: not rbac.authorize(GET_NODES).allowed,
                         "the policy cache to deny alice nodes", WAIT, POLL)
    finally:
        await policy_cache.close()
