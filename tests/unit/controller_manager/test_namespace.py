"""The namespace controller's pass over a terminating namespace, against a small in-memory
API (discovery, delete collection, metadata-only lists), and its conditions."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from servers.apimachinery.errors import Forbidden, NotFound
from servers.controller_manager.controllers.namespace import (
    FINALIZER_ESTIMATE,
    METADATA_LIST,
    NamespaceController,
    Outcome,
    conditions,
)
from tests.unit.controller_manager.fakes import FakeClient, context

Obj = dict[str, Any]
CORE = {"resources": [
    {"name": "pods", "namespaced": True, "verbs": ["delete", "deletecollection", "list"]},
    {"name": "pods/status", "namespaced": True, "verbs": ["get"]},
    {"name": "configmaps", "namespaced": True, "verbs": ["delete", "list"]},  # no collection
    {"name": "nodes", "namespaced": False, "verbs": ["delete", "deletecollection", "list"]},
    {"name": "bindings", "namespaced": True, "verbs": ["create"]}]}
APPS = {"resources": [
    {"name": "deployments", "namespaced": True, "verbs": ["delete", "deletecollection", "list"]}]}


class Api(FakeClient):
    """Answers ``request`` like the apiserver for one namespace's content."""

    def __init__(self) -> None:
        super().__init__()
        self.content: dict[str, dict[str, Obj]] = {"pods": {}, "configmaps": {},
                                                   "deployments": {}}
        self.broken: set[str] = set()
        self.requests: list[tuple[str, str, str | None]] = []

    def put(self, plural: str, name: str, finalizers: list[str] | None = None,
            **spec: Any) -> None:
        meta: Obj = {"name": name, "namespace": "gone"}
        if finalizers:
            meta["finalizers"] = finalizers
        self.content[plural][name] = {"metadata": meta, "spec": spec}

    async def request(self, method: str, path: str, *, body: Any = None,
                      accept: str | None = None, **_: Any) -> Any:
        self.requests.append((method, path, accept))
        parts = path.strip("/").split("/")
        if path == "/api/v1":
            return CORE
        if path == "/apis":
            return {"groups": [{"name": "apps", "preferredVersion": {"version": "v1"}},
                               {"name": "broken.example", "preferredVersion": {"version": "v1"}}]}
        if path == "/apis/apps/v1":
            return APPS
        if path.startswith("/apis/broken.example"):
            raise Forbidden("", "", "no discovery for you")
        plural = parts[-1] if parts[-2] == "gone" else parts[-2]
        if plural in self.broken:
            raise Forbidden(plural, "", "denied")
        items = self.content[plural]
        if method == "GET":
            assert accept == METADATA_LIST
            return {"items": [{"metadata": copy.deepcopy(i["metadata"])}
                              for i in items.values()]}
        assert body["propagationPolicy"] == "Background"
        names = list(items) if parts[-2] == "gone" else [parts[-1]]
        for name in names:
            if items[name]["metadata"].get("finalizers"):
                items[name]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            else:
                del items[name]
        return {}

    async def list(self, resource: Any, namespace: str | None = None, **_: Any) -> Obj:
        assert resource.plural == "pods"
        return {"items": list(self.content["pods"].values())}


def terminating(deleted: str = "2026-01-01T00:00:00Z") -> Obj:
    return {"metadata": {"name": "gone", "resourceVersion": "5", "deletionTimestamp": deleted},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}


def setup(ns: Obj | None = None) -> tuple[NamespaceController, Api]:
    ctx, _, _ = context()
    api = Api()
    ctx.client = api
    controller = NamespaceController(ctx, workers=1)
    api.objects[("namespaces", None, "gone")] = ns or terminating()
    return controller, api


def condition(api: Api, kind: str) -> Obj:
    status = api.verbs("update/status")[-1][4]["status"]
    found: Obj = next(c for c in status["conditions"] if c["type"] == kind)
    return found


async def test_content_goes_but_a_failing_group_holds_the_finalizer() -> None:
    controller, api = setup()
    api.put("pods", "p")
    api.put("configmaps", "a")
    api.put("configmaps", "b")
    api.put("deployments", "d")
    with pytest.raises(RuntimeError, match="no discovery for you"):
        await controller.sync("gone")  # a failing group: content goes, no finalize yet
    assert not any(api.content.values())
    failure = condition(api, "NamespaceDeletionDiscoveryFailure")
    assert (failure["status"], failure["reason"]) == ("True", "DiscoveryFailed")
    assert failure["message"].startswith(
        "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of "
        "server APIs: broken.example/v1: ")
    deletes = [(m, p) for m, p, _ in api.requests if m == "DELETE"]
    assert ("DELETE", "/api/v1/namespaces/gone/pods") in deletes  # the collection
    assert ("DELETE", "/api/v1/namespaces/gone/configmaps/a") in deletes  # one by one
    assert not any("nodes" in p or "bindings" in p for _, p in deletes)
    assert not api.verbs("update/finalize")


async def test_finalize_removes_only_the_kubernetes_token() -> None:
    ns = terminating()
    ns["spec"]["finalizers"] = ["kubernetes", "example.com/other"]
    controller, api = setup(ns)
    await healthy_api(controller, api)
    await controller.sync("gone")
    (_, _, _, _, finalized), = api.verbs("update/finalize")
    assert finalized["spec"]["finalizers"] == ["example.com/other"]
    kinds = {c["type"]: (c["status"], c["reason"]) for c in
             api.verbs("update/status")[-1][4]["status"]["conditions"]}
    assert kinds == {
        "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered"),
        "NamespaceDeletionGroupVersionParsingFailure": ("False", "ParsedGroupVersions"),
        "NamespaceDeletionContentFailure": ("False", "ContentDeleted"),
        "NamespaceContentRemaining": ("False", "ContentRemoved"),
        "NamespaceFinalizersRemaining": ("False", "ContentHasNoFinalizers")}


async def healthy_api(controller: NamespaceController, api: Api) -> None:
    original = api.request

    async def answer(method: str, path: str, **kw: Any) -> Any:
        if path == "/apis":
            return {"groups": [{"name": "apps", "preferredVersion": {"version": "v1"}}]}
        return await original(method, path, **kw)

    api.request = answer  # type: ignore[method-assign]


async def test_content_held_by_finalizers_waits_and_says_so() -> None:
    controller, api = setup()
    await healthy_api(controller, api)
    api.put("configmaps", "held", ["example.com/keep"])
    api.put("deployments", "d", ["example.com/keep"])
    await controller.sync("gone")
    assert not api.verbs("update/finalize")
    assert 7 < delay(controller) <= 8  # back after FINALIZER_ESTIMATE/2+1 seconds
    remaining = condition(api, "NamespaceContentRemaining")
    assert remaining["message"] == ("Some resources are remaining: configmaps. has 1 resource "
                                    "instances, deployments.apps has 1 resource instances")
    held = condition(api, "NamespaceFinalizersRemaining")
    assert (held["reason"], held["message"]) == (
        "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/keep in 2 "
        "resource instances")
    assert FINALIZER_ESTIMATE == 15


async def test_a_failing_resource_is_reported_and_the_rest_still_goes() -> None:
    controller, api = setup()
    await healthy_api(controller, api)
    api.put("configmaps", "a")
    api.put("deployments", "d")
    api.broken.add("deployments")
    with pytest.raises(RuntimeError, match="denied"):
        await controller.sync("gone")
    assert not api.content["configmaps"]
    failed = condition(api, "NamespaceDeletionContentFailure")
    assert failed["reason"] == "ContentDeletionFailed"
    assert failed["message"].startswith("Failed to delete all resource types, 1 remaining: ")


async def test_running_pods_wait_for_their_grace_period() -> None:
    from servers.apimachinery.meta import now_rfc3339
    controller, api = setup(terminating(now_rfc3339()))
    await healthy_api(controller, api)
    api.content["pods"]["p"] = {"metadata": {"name": "p", "finalizers": ["x/y"]},
                                "spec": {"terminationGracePeriodSeconds": 30}}
    await controller.sync("gone")
    assert not api.verbs("update/finalize")
    assert 15 < delay(controller) <= 16  # 30/2 + 1


def delay(controller: NamespaceController) -> float:
    """Seconds until the queue's timer for "gone" fires."""
    return float(controller.queue._timers["gone"][0] - asyncio.get_running_loop().time())


async def test_not_terminating_or_gone_is_left_alone() -> None:
    controller, api = setup({"metadata": {"name": "gone"}, "spec": {"finalizers": ["kubernetes"]},
                             "status": {"phase": "Active"}})
    await controller.sync("gone")
    del api.objects[("namespaces", None, "gone")]
    await controller.sync("gone")
    assert not api.requests and not api.writes


async def test_a_marked_namespace_gets_phase_terminating() -> None:
    ns = terminating()
    ns["status"] = {"phase": "Active"}
    ns["spec"] = {}
    controller, api = setup(ns)
    await controller.sync("gone")
    (_, _, _, _, written), = api.verbs("update/status")
    assert written["status"]["phase"] == "Terminating"
    assert not api.requests  # finalized already: nothing to delete


def test_unchanged_conditions_keep_their_transition_time() -> None:
    first = conditions(Outcome(), [])
    first[0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    again = conditions(Outcome(), first)
    assert again == first
    failing = conditions(Outcome(errors=["a", "b"]), first)
    assert failing[2]["message"] == "Failed to delete all resource types, 2 remaining: [a, b]"
    assert failing[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"


async def test_only_namespaces_being_deleted_are_queued() -> None:
    controller, _ = setup()
    controller._enqueue({"metadata": {"name": "live"}})
    controller._enqueue(terminating())
    assert len(controller.queue) == 0  # after the 5 s grace period, not at once
    assert list(controller.queue._timers) == ["gone"] and 4.9 < delay(controller) <= 5


async def test_not_found_during_a_pass_ends_it() -> None:
    controller, api = setup()
    api.fail["update"] = NotFound("namespaces", "gone")
    ns = terminating()
    ns["status"] = {"phase": "Active"}
    api.objects[("namespaces", None, "gone")] = ns
    await controller.sync("gone")  # no raise
