"""``--authorization-mode Node,RBAC`` over HTTP: each node writes its own Node, the status of
the pods bound to it and its own Lease, and nothing of another node's. A refusal is a 403
Status naming the node, changes nothing (same resourceVersion) and is logged.

Identities come from two test headers (``test_rbac.from_headers``); no header is the admin.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver import app as apiserver
from servers.apiserver.authz import bootstrap
from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.integration.apiserver.test_rbac import authorized_app, call

N1 = {"user": "system:node:n1", "groups": "system:nodes"}
N2 = {"user": "system:node:n2", "groups": "system:nodes"}
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
MERGE = "application/merge-patch+json"


@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
              ) -> AsyncIterator[Client]:
    async for client in authorized_app(tmp_path, aiohttp_client, "Node,RBAC"):
        await _cluster(client)
        yield client


async def _cluster(api: Client) -> None:
    """Two nodes, a pod bound to each, and each node's lease (made by the admin)."""
    for name in ("n1", "n2"):
        await call(api, "POST", NODES, {"metadata": {"name": name}}, expect=201)
        await call(api, "POST", PODS, pod(f"web-{name}", nodeName=name), expect=201)
        await call(api, "POST", LEASES, {"metadata": {"name": name},
                                         "spec": {"holderIdentity": name}}, expect=201)


def rv(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


async def test_a_node_does_its_own_work(api: Client) -> None:
    status = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    node = await call(api, "PATCH", f"{NODES}/n1/status", status, ctype=MERGE, **N1, expect=200)
    assert node["status"]["conditions"][0]["status"] == "True"
    running = {"status": {"phase": "Running"}}
    got = await call(api, "PATCH", f"{PODS}/web-n1/status", running, ctype=MERGE, **N1,
                     expect=200)
    assert got["status"]["phase"] == "Running"
    lease = await call(api, "GET", f"{LEASES}/n1", **N1, expect=200)
    lease["spec"]["renewTime"] = "2026-11-28T12:00:00Z"
    await call(api, "PUT", f"{LEASES}/n1", lease, **N1, expect=200)
    await call(api, "GET", f"{PODS}/web-n2", **N1, expect=200)  # reads are not narrowed
    await call(api, "DELETE", f"{PODS}/web-n1", **N1, expect=200)


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("PATCH", f"{NODES}/n2/status", {"status": {"phase": "Running"}},
     'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
    ("PATCH", f"{NODES}/n2", {"metadata": {"labels": {"a": "b"}}},
     'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
    ("PATCH", f"{PODS}/web-n2/status", {"status": {"phase": "Failed"}},
     'pods "web-n2" is forbidden: node "n1" can only update pod status for pods with '
     "spec.nodeName set to itself"),
    ("DELETE", f"{PODS}/web-n2", None,
     'pods "web-n2" is forbidden: node "n1" can only delete pods with spec.nodeName set to '
     "itself"),
    ("PATCH", f"{LEASES}/n2", {"spec": {"holderIdentity": "n1"}},
     'leases.coordination.k8s.io "n2" is forbidden: User "system:node:n1" cannot patch '
     'resource "leases" in API group "coordination.k8s.io" in the namespace "kube-node-lease": '
     "can only access node lease with the same name as the requesting node"),
])
async def test_a_node_touches_nothing_of_another_node(
        api: Client, caplog: pytest.LogCaptureFixture, method: str, path: str,
        body: dict[str, Any] | None, message: str) -> None:
    target = path.removesuffix("/status")
    before = await call(api, "GET", target, expect=200)
    with caplog.at_level(logging.INFO, logger="servers.apiserver.authz"):
        status = await call(api, method, path, body, ctype=MERGE, **N1, expect=403)
    assert (status["reason"], status["message"]) == ("Forbidden", message)
    after = await call(api, "GET", target, expect=200)
    assert rv(after) == rv(before) and after == before
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("forbidden")]
    assert len(logged) == 1 and message.rsplit(": ", 1)[-1] in logged[0]
    assert "system:node:n1" in logged[0] and path in logged[0]


async def test_a_node_creates_only_its_own_node_and_lease(api: Client) -> None:
    await call(api, "DELETE", f"{LEASES}/n1", **N1, expect=200)
    await call(api, "POST", LEASES, {"metadata": {"name": "n1"}}, **N1, expect=201)
    other = await call(api, "POST", LEASES, {"metadata": {"name": "n3"}}, **N1, expect=403)
    assert "can only access node lease with the same name" in other["message"]
    n3 = await call(api, "POST", NODES, {"metadata": {"name": "n3"}}, **N1, expect=403)
    assert n3["message"].endswith('node "n1" is not allowed to modify node "n3"')
    await call(api, "DELETE", f"{NODES}/n1", **N1, expect=403)  # not a node's verb at all
    await call(api, "POST", NODES, {"metadata": {"name": "n3"}}, **N2, expect=403)
    await call(api, "GET", f"{NODES}/n3", expect=404)


async def test_can_i_and_rules_reviews_know_the_node_rules(api: Client) -> None:
    review = {"spec": {"resourceAttributes": {"verb": "update", "resource": "pods",
                                              "subresource": "status", "namespace": "default"}}}
    ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    assert (await call(api, "POST", ssar, review, **N1, expect=201))["status"]["allowed"]
    review["spec"]["resourceAttributes"]["verb"] = "create"
    review["spec"]["resourceAttributes"]["subresource"] = ""
    assert not (await call(api, "POST", ssar, review, **N1, expect=201))["status"]["allowed"]
    rules = await call(api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                       {"spec": {"namespace": "default"}}, **N1, expect=201)
    resources = {r for rule in rules["status"]["resourceRules"] for r in rule["resources"]}
    assert {"pods/status", "nodes/status", "leases", "selfsubjectaccessreviews"} <= resources


async def test_rbac_alone_gives_nodes_nothing(
        tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> None:
    async for api in authorized_app(tmp_path, aiohttp_client, "RBAC"):
        await call(api, "POST", NODES, {"metadata": {"name": "n1"}}, expect=201)
        status = await call(api, "GET", f"{NODES}/n1", **N1, expect=403)
        assert status["message"] == ('nodes "n1" is forbidden: User "system:node:n1" cannot get '
                                     'resource "nodes" in API group "" at the cluster scope')


async def test_an_old_system_nodes_binding_loses_its_subject_on_restart(
        tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> None:
    async for api in authorized_app(tmp_path, aiohttp_client, "RBAC"):
        path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:node"
        old = {"subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                             "name": "system:nodes"}]}
        await call(api, "PATCH", path, old, ctype=MERGE, expect=200)
        await bootstrap.ensure(api.app[apiserver.REGISTRY])
        assert (await call(api, "GET", path, expect=200))["subjects"] == []
