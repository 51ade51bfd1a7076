"""The namespace and serviceaccount controllers in-process against a real apiserver."""

from __future__ import annotations

import functools
from typing import Any

from servers.apimachinery.errors import Forbidden, NotFound
from servers.client.resources import (
    CONFIGMAPS,
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    SERVICEACCOUNTS,
)
from servers.client.rest import Client
from tests.integration.controller_manager.conftest import POLL, WAIT, Manager
from tests.support.wait import eventually

Obj = dict[str, Any]


async def gone(client: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(resource, name, namespace)
    except NotFound:
        return True
    return False


def deployment(name: str) -> Obj:
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": 0, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


async def test_a_deleted_namespace_is_emptied_then_goes(client: Client,
                                                        manager: Manager) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "team"}})
    await client.create(CONFIGMAPS, {"metadata": {"name": "c"}}, "team")
    await client.create(PODS, {"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "x"}]}}, "team")
    await client.create(DEPLOYMENTS, deployment("d"), "team")
    await client.delete(NAMESPACES, "team")
    ns = await client.get(NAMESPACES, "team")
    assert ns["status"]["phase"] == "Terminating"
    try:
        await client.create(CONFIGMAPS, {"metadata": {"name": "late"}}, "team")
        raise AssertionError("a create in a terminating namespace must be refused")
    except Forbidden as exc:
        assert "because it is being terminated" in str(exc)
    async with manager("--controllers", "namespace"):
        await eventually(lambda: gone(client, NAMESPACES, "team"),
                         "the namespace to go", WAIT, POLL)
    for resource, name in ((CONFIGMAPS, "c"), (PODS, "p"), (DEPLOYMENTS, "d")):
        assert await gone(client, resource, name, "team")


async def test_content_with_a_finalizer_holds_the_namespace_with_conditions(
        client: Client, manager: Manager) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "held"}})
    await client.create(CONFIGMAPS, {"metadata": {"name": "c", "finalizers": [
        "example.com/hold"]}}, "held")
    await client.delete(NAMESPACES, "held")
    async with manager("--controllers", "namespace"):
        async def reported() -> Obj | None:
            ns = await client.get(NAMESPACES, "held")
            found = {c["type"]: c for c in ns["status"].get("conditions") or ()}
            return found or None

        found = await eventually(reported, "the namespace's conditions", WAIT, POLL)
        assert found["NamespaceFinalizersRemaining"]["message"] == (
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 "
            "resource instances")
        assert found["NamespaceContentRemaining"]["message"] == (
            "Some resources are remaining: configmaps. has 1 resource instances")
        assert found["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
        await client.patch(CONFIGMAPS, "c", {"metadata": {"finalizers": None}},
                           namespace="held")
        await eventually(lambda: gone(client, NAMESPACES, "held"),
                         "the namespace to go once its content did", 20, POLL)


async def test_every_active_namespace_gets_a_default_service_account(
        client: Client, manager: Manager) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "fresh"}})
    async with manager("--controllers", "serviceaccount"):
        async def present(namespace: str) -> bool:
            return not await gone(client, SERVICEACCOUNTS, "default", namespace)

        for namespace in ("default", "kube-system", "fresh"):
            await eventually(functools.partial(present, namespace),
                             f"default in {namespace}", WAIT, POLL)
        await client.delete(SERVICEACCOUNTS, "default", "fresh")
        await eventually(lambda: present("fresh"), "default to come back", WAIT, POLL)
