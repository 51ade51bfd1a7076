"""The workload APIs over HTTP: /scale on every scalable kind (one mechanism), the status
split and generation, 422s naming the field, and pods/eviction against a disruption budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.apiserver.conftest import PODS, Client, pod

NS = "/namespaces/default"
MERGE = "application/merge-patch+json"


async def call(api: Client, method: str, path: str, body: Any = None, *,
               ctype: str = "application/json", expect: int | None = None) -> Any:
    data = json.dumps(body) if body is not None else None
    resp = await api.request(method, path, data=data, headers={"Content-Type": ctype})
    payload = await resp.json(content_type=None)
    if expect is not None:
        assert resp.status == expect, payload
    return payload


def template(restart: str = "Always") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"restartPolicy": restart,
                     "containers": [{"name": "nginx", "image": "nginx"}]}}


SCALABLE = [
    ("/api/v1", "replicationcontrollers", "ReplicationController", {"app": "web"}, "v1"),
    ("/apis/apps/v1", "deployments", "Deployment", {"matchLabels": {"app": "web"}}, "apps/v1"),
    ("/apis/apps/v1", "replicasets", "ReplicaSet", {"matchLabels": {"app": "web"}}, "apps/v1"),
    ("/apis/apps/v1", "statefulsets", "StatefulSet", {"matchLabels": {"app": "web"}},
     "apps/v1"),
]


@pytest.mark.parametrize(("prefix", "plural", "kind", "selector", "api_version"), SCALABLE)
async def test_scale_is_one_mechanism_for_every_scalable_kind(
        api: Client, prefix: str, plural: str, kind: str, selector: dict[str, Any],
        api_version: str) -> None:
    base = f"{prefix}{NS}/{plural}"
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": selector, "template": template()}}
    created = await call(api, "POST", base, body, expect=201)
    assert created["metadata"]["generation"] == 1
    got = await call(api, "GET", f"{base}/web/scale", expect=200)
    assert (got["kind"], got["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert got["spec"] == {"replicas": 2} and got["status"]["selector"] == "app=web"
    # kubectl scale: a merge patch on /scale
    scaled = await call(api, "PATCH", f"{base}/web/scale", {"spec": {"replicas": 5}},
                        ctype=MERGE, expect=200)
    assert scaled["spec"]["replicas"] == 5
    after = await call(api, "GET", f"{base}/web", expect=200)
    assert after["spec"]["replicas"] == 5 and after["metadata"]["generation"] == 2
    # kubectl scale --current-replicas: GET then PUT with the resourceVersion
    got = await call(api, "GET", f"{base}/web/scale", expect=200)
    got["spec"]["replicas"] = 1
    await call(api, "PUT", f"{base}/web/scale", got, expect=200)
    await call(api, "PUT", f"{base}/web/scale", got, expect=409)  # stale resourceVersion
    bad = await call(api, "PATCH", f"{base}/web/scale", {"spec": {"replicas": -1}},
                     ctype=MERGE, expect=422)
    assert bad["details"]["causes"][0]["field"] == "spec.replicas"


async def test_status_and_spec_are_written_apart(api: Client) -> None:
    base = f"/apis/apps/v1{NS}/deployments"
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"replicas": 9}}
    created = await call(api, "POST", base, body, expect=201)
    assert created["status"] == {} and created["spec"]["replicas"] == 1
    assert created["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%",
                                                           "maxSurge": "25%"}
    status = await call(api, "PATCH", f"{base}/web/status",
                        {"spec": {"replicas": 7}, "status": {"readyReplicas": 1}},
                        ctype=MERGE, expect=200)
    assert status["status"] == {"readyReplicas": 1} and status["spec"]["replicas"] == 1
    assert status["metadata"]["generation"] == 1
    spec = await call(api, "PATCH", f"{base}/web",
                      {"spec": {"paused": True}, "status": {"readyReplicas": 3}},
                      ctype=MERGE, expect=200)
    assert spec["status"] == {"readyReplicas": 1} and spec["metadata"]["generation"] == 2
    moved = await call(api, "PATCH", f"{base}/web",
                       {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
                       ctype=MERGE, expect=422)
    fields = {c["field"] for c in moved["details"]["causes"]}
    assert fields == {"spec.selector", "spec.template.metadata.labels"}


async def test_job_gets_a_generated_selector_and_refuses_restart_always(api: Client) -> None:
    base = f"/apis/batch/v1{NS}/jobs"
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "pi", "image": "perl"}]}}}}
    created = await call(api, "POST", base, body, expect=201)
    uid = created["metadata"]["uid"]
    assert created["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert created["metadata"]["labels"]["job-name"] == "pi"
    body["metadata"]["name"] = "bad"
    body["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    refused = await call(api, "POST", base, body, expect=422)
    assert refused["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"


async def test_statefulset_volume_claims_are_refused(api: Client) -> None:
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(),
                     "serviceName": "db",
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}}
    refused = await call(api, "POST", f"/apis/apps/v1{NS}/statefulsets", body, expect=422)
    assert refused["details"]["causes"][0]["field"] == "spec.volumeClaimTemplates"
    assert "no persistent volumes" in refused["message"]


PDBS = f"/apis/policy/v1{NS}/poddisruptionbudgets"


async def running_pod(api: Client, name: str) -> None:
    await call(api, "POST", PODS, pod(name), expect=201)
    await call(api, "PATCH", f"{PODS}/{name}/status",
               {"status": {"phase": "Running",
                           "conditions": [{"type": "Ready", "status": "True"}]}},
               ctype=MERGE, expect=200)


async def budget(api: Client, allowed: int) -> None:
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    created = await call(api, "POST", PDBS, body, expect=201)
    await call(api, "PATCH", f"{PDBS}/web/status", {"status": {
        "observedGeneration": created["metadata"]["generation"], "disruptionsAllowed": allowed,
        "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}},
        ctype=MERGE, expect=200)


def eviction(name: str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": "default"}}


async def test_eviction_uses_the_budget_then_answers_429(api: Client) -> None:
    await running_pod(api, "a")
    await running_pod(api, "b")
    await budget(api, 1)
    done = await call(api, "POST", f"{PODS}/a/eviction", eviction("a"), expect=201)
    assert done["status"] == "Success"
    pdb = await call(api, "GET", f"{PDBS}/web", expect=200)
    assert pdb["status"]["disruptionsAllowed"] == 0 and "a" in pdb["status"]["disruptedPods"]
    gone = await call(api, "GET", f"{PODS}/a")
    assert gone.get("code") == 404 or gone["metadata"].get("deletionTimestamp")
    refused = await call(api, "POST", f"{PODS}/b/eviction", eviction("b"), expect=429)
    assert refused["reason"] == "TooManyRequests"
    assert refused["message"] == ("Cannot evict pod as it would violate the pod's disruption "
                                  "budget.")
    assert refused["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget web needs 1 healthy pods and has 2 currently"}]
    assert (await call(api, "GET", f"{PODS}/b", expect=200))["metadata"]["name"] == "b"


async def test_eviction_without_a_budget_or_of_a_pending_pod_deletes(api: Client) -> None:
    await call(api, "POST", PODS, pod("p"), expect=201)
    await budget(api, 0)
    await call(api, "POST", f"{PODS}/p/eviction", eviction("p"), expect=201)  # Pending
    await call(api, "GET", f"{PODS}/p", expect=404)
    await call(api, "POST", PODS, pod("q", labels={"app": "other"}), expect=201)
    await call(api, "POST", f"{PODS}/q/eviction", eviction("q"), expect=201)
    await call(api, "POST", f"{PODS}/nope/eviction", eviction("nope"), expect=404)
    mismatch = await call(api, "POST", f"{PODS}/q/eviction", eviction("r"), expect=400)
    assert mismatch["message"] == "name in URL does not match name in Eviction object"


PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


async def fetch(api: Client, path: str, accept: str, expect: int) -> Any:
    resp = await api.get(path, headers={"Accept": accept})
    body = await resp.read()
    assert resp.status == expect, body
    assert body.endswith(b"\n")  # as kube-apiserver's encoder writes every JSON body
    return json.loads(body)


async def test_metadata_only_answers(api: Client) -> None:
    await call(api, "POST", PODS, pod("m1"), expect=201)
    one = await fetch(api, f"{PODS}/m1", PARTIAL, 200)
    assert (one["kind"], one["apiVersion"]) == ("PartialObjectMetadata", "meta.k8s.io/v1")
    assert set(one) == {"kind", "apiVersion", "metadata"} and one["metadata"]["name"] == "m1"
    listed = await fetch(api, PODS, f"{PARTIAL_LIST}, application/json", 200)
    assert listed["kind"] == "PartialObjectMetadataList"
    assert int(listed["metadata"]["resourceVersion"]) > 0
    assert [(i["kind"], i["metadata"]["name"], "spec" in i) for i in listed["items"]] == [
        ("PartialObjectMetadata", "m1", False)]
    # an as= km cannot give is skipped; with nothing left it is 406
    plain = await fetch(api, f"{PODS}/m1", "application/json;as=Other;g=x;v=v9, "
                        "application/json", 200)
    assert plain["kind"] == "Pod"
    refused = await fetch(api, f"{PODS}/m1", "application/json;as=Other;g=x;v=v9", 406)
    assert refused["reason"] == "NotAcceptable"
    wrong = await fetch(api, PODS, PARTIAL, 406)
    assert wrong["message"] == ("you requested PartialObjectMetadata, but the requested "
                                "object is a list")
    await fetch(api, f"{PODS}/m1", PARTIAL_LIST, 406)


async def test_metadata_only_watch(api: Client) -> None:
    await call(api, "POST", PODS, pod("w1"), expect=201)
    resp = await api.get(f"{PODS}?watch=true&timeoutSeconds=1",
                         headers={"Accept": f"{PARTIAL}, application/json"})
    assert resp.status == 200
    first = json.loads(await resp.content.readline())
    assert first["type"] == "ADDED"
    assert first["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": first["object"]["metadata"]}
    assert first["object"]["metadata"]["name"] == "w1"
    resp.close()
    refused = await api.get(f"{PODS}?watch=true", headers={"Accept": PARTIAL_LIST})
    assert refused.status == 406


async def test_generation_only_on_kinds_whose_strategy_keeps_one(api: Client) -> None:
    made = await call(api, "POST", PODS, pod("g1"), expect=201)
    assert "generation" not in made["metadata"]
    cm = await call(api, "POST", "/api/v1/namespaces/default/configmaps",
                    {"metadata": {"name": "c"}, "data": {"a": "b"}}, expect=201)
    assert "generation" not in cm["metadata"]
    slices = f"/apis/discovery.k8s.io/v1{NS}/endpointslices"
    body = {"metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}]}
    assert (await call(api, "POST", slices, body, expect=201))["metadata"]["generation"] == 1
    moved = await call(api, "PATCH", f"{slices}/s", {"endpoints": [{"addresses": ["10.0.0.2"]}]},
                       ctype=MERGE, expect=200)
    assert moved["metadata"]["generation"] == 2


async def test_controller_revisions_keep_their_data(api: Client) -> None:
    """A ControllerRevision's data may not change, its revision number may (that is how a
    controller marks an old template as the newest again); both are checked as kube does."""
    base = f"/apis/apps/v1{NS}/controllerrevisions"
    data = {"spec": {"template": {**template(), "$patch": "replace"}}}
    body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "web-abc"}, "data": data, "revision": 1}
    await call(api, "POST", base, body, expect=201)
    renumbered = await call(api, "PATCH", f"{base}/web-abc", {"revision": 3}, ctype=MERGE,
                            expect=200)
    assert renumbered["revision"] == 3 and renumbered["data"] == data
    refused = await call(api, "PATCH", f"{base}/web-abc", {"data": {"other": 1}},
                         ctype=MERGE, expect=422)
    assert refused["details"]["causes"][0]["field"] == "data"
    assert "field is immutable" in refused["message"]
    bad = {**body, "metadata": {"name": "web-neg"}, "revision": -1}
    refused = await call(api, "POST", base, bad, expect=422)
    assert refused["details"]["causes"][0]["field"] == "revision"
    missing = {k: v for k, v in body.items() if k != "data"}
    missing["metadata"] = {"name": "web-none"}
    refused = await call(api, "POST", base, missing, expect=422)
    assert "data is mandatory" in refused["message"]
