"""The serviceaccount controller's sync over filled caches and a fake client."""

from __future__ import annotations

from typing import Any

from servers.apimachinery.errors import AlreadyExists, Forbidden
from servers.controller_manager.controllers.serviceaccount import ServiceAccountsController
from tests.unit.controller_manager.fakes import FakeClient, FakeFactory, context

Obj = dict[str, Any]


def ns(name: str, phase: str = "Active") -> Obj:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


def sa(name: str, namespace: str) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace}}


def setup() -> tuple[ServiceAccountsController, FakeFactory, FakeClient]:
    ctx, factory, client = context()
    return ServiceAccountsController(ctx), factory, client


async def test_creates_default_where_it_is_missing() -> None:
    controller, factory, client = setup()
    factory["namespaces"].add(ns("team"))
    factory["namespaces"].add(ns("done"))
    factory["serviceaccounts"].add(sa("default", "done"))
    factory["serviceaccounts"].add(sa("builder", "team"))
    assert len(controller.queue) == 2  # each namespace, when added
    await controller.sync("team")
    await controller.sync("done")
    (_, plural, namespace, name, body), = client.verbs("create")
    assert (plural, namespace, name, body["metadata"]["name"]) == (
        "serviceaccounts", "team", "default", "default")


async def test_terminating_or_unknown_namespaces_get_nothing() -> None:
    controller, factory, client = setup()
    factory["namespaces"].add(ns("going", "Terminating"))
    await controller.sync("going")
    await controller.sync("unknown")
    assert not client.writes


def test_a_deleted_default_account_queues_its_namespace() -> None:
    controller, factory, _ = setup()
    factory["serviceaccounts"].add(sa("other", "team"))
    factory["serviceaccounts"].add(sa("default", "team"))
    factory["serviceaccounts"].delete(sa("other", "team"))
    assert len(controller.queue) == 0
    factory["serviceaccounts"].delete(sa("default", "team"))
    assert len(controller.queue) == 1


async def test_already_exists_and_terminating_refusals_are_no_failure() -> None:
    controller, factory, client = setup()
    factory["namespaces"].add(ns("team"))
    client.fail["create"] = AlreadyExists("serviceaccounts", "default")
    await controller.sync("team")
    refusal = Forbidden("serviceaccounts", "default", "unable to create new content")
    refusal.details = {"causes": [{"reason": "NamespaceTerminating"}]}
    client.fail["create"] = refusal
    await controller.sync("team")
    client.fail["create"] = Forbidden("serviceaccounts", "default", "RBAC says no")
    try:
        await controller.sync("team")
    except Forbidden:
        pass
    else:
        raise AssertionError("a real refusal must fail the sync (retried with backoff)")
