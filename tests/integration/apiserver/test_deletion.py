"""DELETE over HTTP: propagationPolicy as the garbage collector's finalizers, and namespaces
deleted in two steps (Terminating, then gone once ``namespaces/NAME/finalize`` empties
spec.finalizers)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.integration.apiserver.test_api import assert_status, call

Obj = dict[str, Any]
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
RCS = "/api/v1/namespaces/default/replicationcontrollers"


def rc(name: str) -> Obj:
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": 0, "selector": labels, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


async def configmap(api: Client, name: str, finalizers: list[str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    created: Obj = await call(api, "POST", CONFIGMAPS, {"metadata": meta}, expect=201)
    return created


@pytest.mark.parametrize(("options", "finalizers"), [
    ({"propagationPolicy": "Foreground"}, ["foregroundDeletion"]),
    ({"propagationPolicy": "Orphan"}, ["orphan"]),
    ({"orphanDependents": True}, ["orphan"]),
    ({"orphanDependents": False}, None),
    ({"propagationPolicy": "Background"}, None),
    ({}, None),
])
async def test_policy_becomes_the_collectors_finalizer(api: Client, options: Obj,
                                                      finalizers: list[str] | None) -> None:
    await configmap(api, "owner")
    answer = await call(api, "DELETE", f"{CONFIGMAPS}/owner", options, expect=200)
    if finalizers is None:
        await call(api, "GET", f"{CONFIGMAPS}/owner", expect=404)
        return
    kept = await call(api, "GET", f"{CONFIGMAPS}/owner", expect=200)
    assert kept["metadata"]["finalizers"] == finalizers == answer["metadata"]["finalizers"]
    assert kept["metadata"]["deletionTimestamp"] and (
        kept["metadata"]["deletionGracePeriodSeconds"] == 0)


async def test_policy_in_the_query(api: Client) -> None:
    await configmap(api, "q")
    await call(api, "DELETE", f"{CONFIGMAPS}/q?propagationPolicy=Foreground", expect=200)
    kept = await call(api, "GET", f"{CONFIGMAPS}/q", expect=200)
    assert kept["metadata"]["finalizers"] == ["foregroundDeletion"]


async def test_repeated_delete_rewrites_finalizers_and_keeps_the_timestamp(api: Client) -> None:
    await configmap(api, "again", ["example.com/hold"])
    first = await call(api, "DELETE", f"{CONFIGMAPS}/again",
                       {"propagationPolicy": "Foreground"}, expect=200)
    assert first["metadata"]["finalizers"] == ["example.com/hold", "foregroundDeletion"]
    second = await call(api, "DELETE", f"{CONFIGMAPS}/again",
                        {"propagationPolicy": "Orphan"}, expect=200)
    assert second["metadata"]["finalizers"] == ["example.com/hold", "orphan"]
    assert second["metadata"]["deletionTimestamp"] == first["metadata"]["deletionTimestamp"]
    third = await call(api, "DELETE", f"{CONFIGMAPS}/again", expect=200)
    assert third["metadata"]["finalizers"] == ["example.com/hold", "orphan"]  # kept: no policy
    fourth = await call(api, "DELETE", f"{CONFIGMAPS}/again",
                        {"propagationPolicy": "Background"}, expect=200)
    assert fourth["metadata"]["finalizers"] == ["example.com/hold"]


async def test_emptied_gc_finalizers_delete_at_once(api: Client) -> None:
    await configmap(api, "drop")
    await call(api, "DELETE", f"{CONFIGMAPS}/drop", {"propagationPolicy": "Orphan"}, expect=200)
    await call(api, "DELETE", f"{CONFIGMAPS}/drop", {"propagationPolicy": "Background"},
               expect=200)
    await call(api, "GET", f"{CONFIGMAPS}/drop", expect=404)


async def test_replication_controllers_and_jobs_orphan_by_default(api: Client) -> None:
    await call(api, "POST", RCS, rc("legacy"), expect=201)
    await call(api, "DELETE", f"{RCS}/legacy", expect=200)
    kept = await call(api, "GET", f"{RCS}/legacy", expect=200)
    assert kept["metadata"]["finalizers"] == ["orphan"]
    assert kept["metadata"]["generation"] == 2  # markAsDeleting bumps it
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}
    await call(api, "POST", jobs, job, expect=201)
    await call(api, "DELETE", f"{jobs}/j", expect=200)
    assert (await call(api, "GET", f"{jobs}/j", expect=200))["metadata"]["finalizers"] == [
        "orphan"]
    await call(api, "DELETE", f"{RCS}/legacy", {"propagationPolicy": "Background"}, expect=200)
    await call(api, "GET", f"{RCS}/legacy", expect=404)


async def test_apps_v1_deletes_in_the_background_by_default(api: Client) -> None:
    path = "/apis/apps/v1/namespaces/default/replicasets"
    body = rc("rs")
    body["spec"]["selector"] = {"matchLabels": {"app": "rs"}}
    await call(api, "POST", path, body, expect=201)
    await call(api, "DELETE", f"{path}/rs", expect=200)
    await call(api, "GET", f"{path}/rs", expect=404)


async def test_bad_delete_options_are_invalid(api: Client) -> None:
    await configmap(api, "bad")
    both = await call(api, "DELETE", f"{CONFIGMAPS}/bad",
                      {"propagationPolicy": "Orphan", "orphanDependents": True}, expect=422)
    assert_status(both, 422, "Invalid")
    assert "orphanDependents and deletionPropagation cannot be both set" in both["message"]
    odd = await call(api, "DELETE", f"{CONFIGMAPS}/bad", {"propagationPolicy": "Later"},
                     expect=422)
    assert odd["message"] == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
        '"Later": supported values: "Foreground", "Background", "Orphan", "nil"')
    await call(api, "GET", f"{CONFIGMAPS}/bad", expect=200)


async def test_a_bound_pods_finalizers_follow_the_policy_too(api: Client) -> None:
    await call(api, "POST", PODS, pod(nodeName="n1"), expect=201)
    marked = await call(api, "DELETE", f"{PODS}/web", {"propagationPolicy": "Foreground"},
                        expect=200)
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30


# -- namespaces ----------------------------------------------------------------------------


async def test_a_new_namespace_holds_the_kubernetes_finalizer(api: Client) -> None:
    ns = await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}},
                    expect=201)
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"]["phase"] == "Active"
    ns["spec"]["finalizers"] = []
    put = await call(api, "PUT", "/api/v1/namespaces/team", ns, expect=200)
    assert put["spec"]["finalizers"] == ["kubernetes"]  # only /finalize changes them


async def test_deleted_namespace_terminates_refuses_creates_and_goes_when_finalized(
        api: Client) -> None:
    await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}}, expect=201)
    await call(api, "POST", "/api/v1/namespaces/team/pods", pod(), expect=201)
    marked = await call(api, "DELETE", "/api/v1/namespaces/team", expect=200)
    assert marked["status"]["phase"] == "Terminating" and marked["metadata"]["deletionTimestamp"]
    assert marked["spec"]["finalizers"] == ["kubernetes"]
    await call(api, "GET", "/api/v1/namespaces/team/pods/web", expect=200)  # not cascaded here
    refused = await call(api, "POST", "/api/v1/namespaces/team/configmaps",
                         {"metadata": {"name": "late"}}, expect=403)
    assert refused["message"] == ('configmaps "late" is forbidden: unable to create new content '
                                  "in namespace team because it is being terminated")
    assert refused["details"]["causes"] == [{
        "reason": "NamespaceTerminating", "message": "namespace team is being terminated",
        "field": "metadata.namespace"}]
    again = await call(api, "DELETE", "/api/v1/namespaces/team", expect=200)
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    await call(api, "DELETE", "/api/v1/namespaces/team/pods/web", expect=200)
    marked["spec"]["finalizers"] = []
    await call(api, "PUT", "/api/v1/namespaces/team/finalize", marked, expect=200)
    await call(api, "GET", "/api/v1/namespaces/team", expect=404)


async def test_finalize_of_an_active_namespace_keeps_it(api: Client) -> None:
    ns = await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "keep"}},
                    expect=201)
    ns["spec"]["finalizers"] = []
    ns["metadata"]["labels"] = {"changed": "no"}
    done = await call(api, "PUT", "/api/v1/namespaces/keep/finalize", ns, expect=200)
    assert "finalizers" not in done["spec"] and "changed" not in done["metadata"].get(
        "labels", {})
    await call(api, "DELETE", "/api/v1/namespaces/keep", expect=200)
    # Marked only (its controller deletes a finalized namespace); with spec.finalizers already
    # empty the next DELETE is the ordinary one.
    kept = await call(api, "GET", "/api/v1/namespaces/keep", expect=200)
    assert kept["status"]["phase"] == "Terminating"
    await call(api, "DELETE", "/api/v1/namespaces/keep", expect=200)
    await call(api, "GET", "/api/v1/namespaces/keep", expect=404)


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_immortal_namespaces(api: Client, name: str) -> None:
    refused = await call(api, "DELETE", f"/api/v1/namespaces/{name}", expect=403)
    assert refused["message"] == (f'namespaces "{name}" is forbidden: this namespace may not '
                                  "be deleted")


async def test_finalize_takes_qualified_or_standard_names_only(api: Client) -> None:
    ns = await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "names"}},
                    expect=201)
    ns["spec"]["finalizers"] = ["kubernetes", "custom", "example.com/ok"]
    bad = await call(api, "PUT", "/api/v1/namespaces/names/finalize", ns, expect=422)
    assert bad["message"] == (
        'Namespace "names" is invalid: spec.finalizers[1]: Invalid value: "custom": name is '
        "neither a standard finalizer name nor is it fully qualified")
    ns["spec"]["finalizers"] = ["example.com/ok"]
    done = await call(api, "PUT", "/api/v1/namespaces/names/finalize", ns, expect=200)
    assert done["spec"]["finalizers"] == ["example.com/ok"]
