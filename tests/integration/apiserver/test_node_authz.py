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
from tests.integration.apiserver.test_rbac import POLL, WAIT, authorized_app, call
from tests.support.wait import eventually

N1 = {"user": "system:node:n1", "groups": "system:nodes"}
N2 = {"user": "system:node:n2", "groups": "system:nodes"}
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
MERGE = "application/merge-patch+json"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


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
    await call(api, "GET", f"{PODS}/web-n2", **N1, expect=403)  # not bound to it
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
    ("PATCH", f"{NODES}/n1", {"metadata": {"labels": {"node-role.kubernetes.io/control-plane":
                                                      ""}}},
     'nodes "n1" is forbidden: is not allowed to modify labels: '
     "node-role.kubernetes.io/control-plane"),
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
    review["spec"]["resourceAttributes"]["verb"] = "update"
    review["spec"]["resourceAttributes"]["subresource"] = ""
    assert not (await call(api, "POST", ssar, review, **N1, expect=201))["status"]["allowed"]
    rules = await call(api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                       {"spec": {"namespace": "default"}}, **N1, expect=201)
    assert rules["status"]["incomplete"] is True  # the graph narrows what the rules say
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


async def _reads(api: Client, path: str, who: dict[str, str]) -> int:
    resp = await api.get(path, headers={"X-Test-User": who["user"],
                                        "X-Test-Groups": who["groups"]})
    return resp.status


async def test_a_node_reads_only_what_its_pods_use(api: Client) -> None:
    """The graph: configmaps mounted or named in env by a pod bound to the node, and nothing
    else; the decision follows pods as they are deleted and bound."""
    for name in ("mounted", "env", "unused"):
        await call(api, "POST", CONFIGMAPS, {"metadata": {"name": name}}, expect=201)
    uses = pod("uses", nodeName="n1", volumes=[{"name": "v", "configMap": {"name": "mounted"}}])
    uses["spec"]["containers"][0]["env"] = [
        {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "env", "key": "k"}}}]
    await call(api, "POST", PODS, uses, expect=201)

    async def n1_reads_mounted() -> bool:
        return await _reads(api, f"{CONFIGMAPS}/mounted", N1) == 200

    await eventually(n1_reads_mounted, "n1 to read the mounted configmap", WAIT, POLL)
    await call(api, "GET", f"{CONFIGMAPS}/env", **N1, expect=200)
    await call(api, "GET", f"{CONFIGMAPS}?fieldSelector=metadata.name%3Dmounted", **N1,
               expect=200)
    unused = await call(api, "GET", f"{CONFIGMAPS}/unused", **N1, expect=403)
    assert unused["message"] == (
        'configmaps "unused" is forbidden: User "system:node:n1" cannot get resource '
        '"configmaps" in API group "" in the namespace "default": no relationship found '
        "between node 'n1' and this object")
    await call(api, "GET", f"{CONFIGMAPS}/mounted", **N2, expect=403)  # not n2's pod
    await call(api, "GET", CONFIGMAPS, **N1, expect=403)  # no listing them all
    await call(api, "GET", "/api/v1/configmaps?watch=1", **N1, expect=403)

    # The pod goes (as its kubelet ends it, grace 0): so does the access.
    await call(api, "DELETE", f"{PODS}/uses?gracePeriodSeconds=0", **N1, expect=200)

    async def n1_refused() -> bool:
        return await _reads(api, f"{CONFIGMAPS}/mounted", N1) == 403

    await eventually(n1_refused, "n1 to be refused it", WAIT, POLL)
    unbound = pod("later", volumes=[{"name": "v", "configMap": {"name": "unused"}}])
    await call(api, "POST", PODS, unbound, expect=201)
    await call(api, "POST", f"{PODS}/later/binding", {"target": {"name": "n2"}}, expect=201)

    async def n2_reads_unused() -> bool:
        return await _reads(api, f"{CONFIGMAPS}/unused", N2) == 200

    # bound to n2 now: n2 may, n1 still may not
    await eventually(n2_reads_unused, "n2 to read the unused configmap", WAIT, POLL)
    await call(api, "GET", f"{CONFIGMAPS}/unused", **N1, expect=403)


async def test_a_node_lists_and_gets_only_its_own_pods_and_node(api: Client) -> None:
    async def n1_gets_its_pod() -> bool:
        return await _reads(api, f"{PODS}/web-n1", N1) == 200

    await eventually(n1_gets_its_pod, "n1 to get its pod", WAIT, POLL)
    other = await call(api, "GET", f"{PODS}/web-n2", **N1, expect=403)
    assert other["message"].endswith("no relationship found between node 'n1' and this object")
    mine = await call(api, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1", **N1,
                      expect=200)
    assert [p["metadata"]["name"] for p in mine["items"]] == ["web-n1"]
    everything = await call(api, "GET", "/api/v1/pods", **N1, expect=403)
    assert everything["message"].endswith(
        "can only list/watch pods with spec.nodeName field selector")
    await call(api, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn2", **N1, expect=403)
    await call(api, "GET", f"{NODES}/n1", **N1, expect=200)
    await call(api, "GET", f"{NODES}/n2", **N1, expect=403)
    await call(api, "GET", NODES, **N1, expect=403)
    await call(api, "GET", f"{NODES}?fieldSelector=metadata.name%3Dn1", **N1, expect=200)
