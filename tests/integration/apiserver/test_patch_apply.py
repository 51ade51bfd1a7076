"""Strategic merge patch and server-side apply over HTTP, as kubectl and the Python client
send them."""

from __future__ import annotations

from typing import Any

from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.integration.apiserver.test_api import assert_status, call

SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
SERVICES = "/api/v1/namespaces/default/services"
RCS = "/api/v1/namespaces/default/replicationcontrollers"


def rc(containers: list[dict[str, Any]], name: str = "r") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"app": name}, "template": {
                "metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}}


async def test_strategic_patch_merges_containers_by_name(api: Client) -> None:
    await call(api, "POST", RCS, rc([
        {"name": "a", "image": "busybox:1",
         "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
         "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "nginx"}]), expect=201)
    patch = {"metadata": {"labels": {"tier": "x"}},
             "spec": {"template": {"spec": {
                 "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
                 "containers": [
                     {"name": "a", "image": "busybox:2",
                      "env": [{"$patch": "delete", "name": "X"}],
                      "ports": [{"containerPort": 81}]},
                     {"name": "c", "image": "nginx"},
                     {"$patch": "delete", "name": "b"}]}}}}
    patched = await call(api, "PATCH", f"{RCS}/r", patch, ctype=SMP, expect=200)
    assert patched["metadata"]["labels"] == {"app": "r", "tier": "x"}
    first, second = patched["spec"]["template"]["spec"]["containers"]
    assert (first["name"], first["image"], second["name"]) == ("a", "busybox:2", "c")
    assert first["env"] == [{"name": "Y", "value": "2"}]
    assert [p["containerPort"] for p in first["ports"]] == [80, 81]
    assert first["terminationMessagePath"]  # server defaults survive the merge
    assert patched == await call(api, "GET", f"{RCS}/r", expect=200)


async def test_strategic_patch_of_a_pod_image_and_labels(api: Client) -> None:
    await call(api, "POST", PODS, pod(containers=[{"name": "a", "image": "i:1"},
                                                  {"name": "b", "image": "j:1"}]), expect=201)
    patch = {"metadata": {"labels": {"app": None, "tier": "x"}},
             "spec": {"containers": [{"name": "b", "image": "j:2"}]}}
    patched = await call(api, "PATCH", f"{PODS}/web", patch, ctype=SMP, expect=200)
    assert patched["metadata"]["labels"] == {"tier": "x"}
    assert [c["image"] for c in patched["spec"]["containers"]] == ["i:1", "j:2"]


async def test_strategic_patch_merges_service_ports_by_port(api: Client) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"app": "web"}, "ports": [
               {"name": "http", "port": 80, "targetPort": 8080},
               {"name": "https", "port": 443}]}}
    await call(api, "POST", SERVICES, svc, expect=201)
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    patched = await call(api, "PATCH", f"{SERVICES}/s", patch, ctype=SMP, expect=200)
    ports = {p["port"]: p for p in patched["spec"]["ports"]}
    assert ports[80]["targetPort"] == 9090 and ports[80]["name"] == "http"
    assert 443 in ports


async def test_malformed_strategic_patches_are_bad_requests(api: Client) -> None:
    await call(api, "POST", PODS, pod(), expect=201)
    no_key = {"spec": {"containers": [{"image": "x"}]}}
    status = await call(api, "PATCH", f"{PODS}/web", no_key, ctype=SMP, expect=400)
    assert_status(status, 400, "BadRequest")
    assert "merge key: name" in status["message"]
    await call(api, "PATCH", f"{PODS}/web", [1], ctype=SMP, expect=400)
    bad = {"metadata": {"$patch": "sideways"}}
    await call(api, "PATCH", f"{PODS}/web", bad, ctype=SMP, expect=400)


# -- server-side apply -------------------------------------------------------------------------

def manifest(env: list[str], labels: dict[str, str], image: str = "nginx") -> dict[str, Any]:
    body = pod(labels=labels)
    body["spec"]["containers"][0].update(
        image=image, env=[{"name": n, "value": n.lower()} for n in env])
    return body


def rc_manifest(env: list[str], labels: dict[str, str], image: str = "nginx"
                ) -> dict[str, Any]:
    body = rc([{"name": "c", "image": image,
                "env": [{"name": n, "value": n.lower()} for n in env]}])
    body["metadata"]["labels"] = labels
    return body


async def test_apply_creates_then_converges_to_the_changed_manifest(api: Client) -> None:
    url = f"{RCS}/r?fieldManager=me"
    created = await call(api, "PATCH", url, rc_manifest(["A", "B"], {"app": "r", "x": "1"}),
                         ctype=APPLY, expect=201)
    [entry] = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == (
        "me", "Apply", "FieldsV1")
    assert "f:labels" in entry["fieldsV1"]["f:metadata"]
    changed = rc_manifest(["A"], {"app": "r"}, image="nginx:2")
    updated = await call(api, "PATCH", url, changed, ctype=APPLY, expect=200)
    assert updated["metadata"]["labels"] == {"app": "r"}
    container = updated["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "a"}]
    assert container["image"] == "nginx:2"
    assert container["terminationMessagePath"]  # a server default nobody applied stays
    again = await call(api, "PATCH", url, changed, ctype=APPLY, expect=200)
    assert again["spec"] == updated["spec"]
    assert again["metadata"]["managedFields"] == updated["metadata"]["managedFields"]


async def test_apply_accepts_yaml(api: Client) -> None:
    body = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: '1'\n")
    url = "/api/v1/namespaces/default/configmaps/cm?fieldManager=me"
    created = await call(api, "PATCH", url, body, ctype=APPLY, expect=201)
    assert created["data"] == {"a": "1"}
    body2 = body.replace("a: '1'", "b: '2'")
    assert (await call(api, "PATCH", url, body2, ctype=APPLY, expect=200))["data"] == {"b": "2"}


async def test_apply_conflicts_with_another_manager_unless_forced(api: Client) -> None:
    await call(api, "PATCH", f"{PODS}/web?fieldManager=one", manifest([], {"app": "web"}),
               ctype=APPLY, expect=201)
    theirs = manifest([], {"app": "other"})
    status = await call(api, "PATCH", f"{PODS}/web?fieldManager=two", theirs, ctype=APPLY,
                        expect=409)
    assert_status(status, 409, "Conflict")
    assert status["details"]["causes"][0] == {
        "reason": "FieldManagerConflict", "message": 'conflict with "one"',
        "field": ".metadata.labels.app"}
    forced = await call(api, "PATCH", f"{PODS}/web?fieldManager=two&force=true", theirs,
                        ctype=APPLY, expect=200)
    assert forced["metadata"]["labels"] == {"app": "other"}
    assert {e["manager"] for e in forced["metadata"]["managedFields"]} == {"one", "two"}


async def test_apply_requests_that_are_refused(api: Client) -> None:
    missing = await call(api, "PATCH", f"{PODS}/web", manifest([], {}), ctype=APPLY,
                         expect=422)
    assert "fieldManager: Required value" in missing["message"]
    other = pod("other")
    await call(api, "PATCH", f"{PODS}/web?fieldManager=me", other, ctype=APPLY, expect=400)
    unknown = manifest([], {})
    unknown["spec"]["bogus"] = 1
    status = await call(api, "PATCH", f"{PODS}/web?fieldManager=me&fieldValidation=Strict",
                        unknown, ctype=APPLY, expect=400)
    assert 'unknown field "spec.bogus"' in status["message"]
    await call(api, "GET", f"{PODS}/web", expect=404)


async def test_apply_dry_run_creates_nothing(api: Client) -> None:
    await call(api, "PATCH", f"{PODS}/web?fieldManager=me&dryRun=All", manifest([], {}),
               ctype=APPLY, expect=201)
    await call(api, "GET", f"{PODS}/web", expect=404)


async def test_managed_fields_survive_other_writes(api: Client) -> None:
    created = await call(api, "PATCH", f"{PODS}/web?fieldManager=me", manifest(["A"], {}),
                         ctype=APPLY, expect=201)
    label = {"metadata": {"labels": {"extra": "1"}}}
    patched = await call(api, "PATCH", f"{PODS}/web", label,
                         ctype="application/merge-patch+json", expect=200)
    assert patched["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    body = {k: v for k, v in patched.items() if k != "status"}
    body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    put = await call(api, "PUT", f"{PODS}/web", body, expect=200)
    assert put["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    # The manager's next apply keeps the label it never applied.
    again = await call(api, "PATCH", f"{PODS}/web?fieldManager=me",
                       manifest(["A"], {}, image="nginx:2"), ctype=APPLY, expect=200)
    assert again["metadata"]["labels"] == {"extra": "1", "app": "web"}
    assert again["spec"]["containers"][0]["image"] == "nginx:2"


async def test_apply_to_scale_is_unsupported_media_type(api: Client) -> None:
    await call(api, "POST", RCS, rc([{"name": "a", "image": "i"}]), expect=201)
    body = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "r"},
            "spec": {"replicas": 2}}
    status = await call(api, "PATCH", f"{RCS}/r/scale?fieldManager=me", body, ctype=APPLY,
                        expect=415)
    assert_status(status, 415, "UnsupportedMediaType")
    scaled = await call(api, "PATCH", f"{RCS}/r/scale", {"spec": {"replicas": 2}}, ctype=SMP,
                        expect=200)
    assert scaled["spec"]["replicas"] == 2


async def test_concurrent_patches_without_a_resource_version_all_apply(api: Client) -> None:
    """A patch naming no resourceVersion is applied again to the newer object when another
    write wins the race (kube's GuaranteedUpdate), never a 409; one naming a stale one is."""
    import asyncio

    cms = "/api/v1/namespaces/default/configmaps"
    await call(api, "POST", cms, {"metadata": {"name": "race"}, "data": {}}, expect=201)
    merge = "application/merge-patch+json"
    answers = await asyncio.gather(*(
        call(api, "PATCH", f"{cms}/race", {"data": {f"k{i}": str(i)}}, ctype=merge,
             expect=200) for i in range(24)))
    assert len(answers) == 24
    final = await call(api, "GET", f"{cms}/race", expect=200)
    assert final["data"] == {f"k{i}": str(i) for i in range(24)}
    stale = {"metadata": {"resourceVersion": answers[0]["metadata"]["resourceVersion"]},
             "data": {"late": "1"}}
    refused = await call(api, "PATCH", f"{cms}/race", stale, ctype=merge, expect=409)
    assert refused["reason"] == "Conflict"
