"""The API's conventions over HTTP: verbs, Status errors, resourceVersion, subresources."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from tests.integration.apiserver.conftest import PODS, Client, pod


async def call(api: Client, method: str, path: str, body: Any = None, *,
               ctype: str = "application/json", expect: int | None = None,
               headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body) if body is not None and not isinstance(body, (bytes, str)) else body
    if isinstance(data, str) and len(data) > 1024 * 1024:
        data = io.BytesIO(data.encode())
    resp = await api.request(method, path, data=data,
                             headers={"Content-Type": ctype, **(headers or {})})
    payload = await resp.json(content_type=None)
    if expect is not None:
        assert resp.status == expect, payload
    return payload


def assert_status(status: dict[str, Any], code: int, reason: str) -> None:
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert (status["code"], status["reason"]) == (code, reason), status


async def test_create_sets_server_owned_fields(api: Client) -> None:
    created = await call(api, "POST", PODS, pod(), expect=201)
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["uid"]
    assert meta["creationTimestamp"].endswith("Z") and int(meta["resourceVersion"]) > 0
    got = await call(api, "GET", f"{PODS}/web", expect=200)
    assert got == created


async def test_generate_name(api: Client) -> None:
    body = pod()
    body["metadata"] = {"generateName": "web-"}
    created = await call(api, "POST", PODS, body, expect=201)
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


async def test_errors_are_statuses_with_kubernetes_codes(api: Client) -> None:
    assert_status(await call(api, "GET", f"{PODS}/nope", expect=404), 404, "NotFound")
    await call(api, "POST", PODS, pod(), expect=201)
    exists = await call(api, "POST", PODS, pod(), expect=409)
    assert_status(exists, 409, "AlreadyExists")
    assert exists["message"] == 'pods "web" already exists'
    bad = pod("Bad_Name")
    invalid = await call(api, "POST", PODS, bad, expect=422)
    assert_status(invalid, 422, "Invalid")
    assert invalid["details"]["causes"][0]["field"] == "metadata.name"
    assert_status(await call(api, "POST", PODS, "{not json", expect=400), 400, "BadRequest")
    assert_status(await call(api, "POST", PODS, pod("x"), ctype="text/plain", expect=415),
                  415, "UnsupportedMediaType")
    assert_status(await call(api, "GET", "/api/v1/nothings", expect=404), 404, "NotFound")
    assert_status(await call(api, "PUT", PODS, pod(), expect=405), 405, "MethodNotAllowed")
    assert_status(await call(api, "GET", f"{PODS}?limit=x", expect=400), 400, "BadRequest")
    assert_status(await call(api, "GET", "/api/v1/pods", headers={
        "Accept": "application/vnd.kubernetes.protobuf"}, expect=406), 406, "NotAcceptable")


async def test_body_over_3mib_is_refused(api: Client) -> None:
    body = pod()
    body["metadata"]["annotations"] = {"big": "x" * (3 * 1024 * 1024)}
    assert_status(await call(api, "POST", PODS, body, expect=413), 413,
                  "RequestEntityTooLarge")
    assert_status(await call(api, "GET", f"{PODS}/web", expect=404), 404, "NotFound")


async def test_namespace_must_exist_and_match(api: Client) -> None:
    missing = await call(api, "POST", "/api/v1/namespaces/nope/pods", pod(), expect=404)
    assert missing["message"] == 'namespaces "nope" not found'
    wrong = pod()
    wrong["metadata"]["namespace"] = "kube-system"
    assert_status(await call(api, "POST", PODS, wrong, expect=400), 400, "BadRequest")


async def test_stale_update_is_a_conflict(api: Client) -> None:
    created = await call(api, "POST", PODS, pod(), expect=201)
    first = dict(created, metadata={**created["metadata"], "labels": {"v": "1"}})
    updated = await call(api, "PUT", f"{PODS}/web", first, expect=200)
    assert int(updated["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"])
    stale = dict(created, metadata={**created["metadata"], "labels": {"v": "2"}})
    conflict = await call(api, "PUT", f"{PODS}/web", stale, expect=409)
    assert_status(conflict, 409, "Conflict")
    assert "the object has been modified" in conflict["message"]
    assert (await call(api, "GET", f"{PODS}/web"))["metadata"]["labels"] == {"v": "1"}


async def test_status_is_written_through_its_own_endpoint(api: Client) -> None:
    created = await call(api, "POST", PODS, pod(), expect=201)
    sneaky = json.loads(json.dumps(created))
    sneaky["status"] = {"phase": "Running"}
    after = await call(api, "PUT", f"{PODS}/web", sneaky, expect=200)
    assert after["status"].get("phase") != "Running"
    after["status"] = {"phase": "Running"}
    after["spec"]["activeDeadlineSeconds"] = 5
    status = await call(api, "PUT", f"{PODS}/web/status", after, expect=200)
    assert status["status"]["phase"] == "Running"
    assert "activeDeadlineSeconds" not in status["spec"]


async def test_merge_and_json_patch(api: Client) -> None:
    await call(api, "POST", PODS, pod(), expect=201)
    merged = await call(api, "PATCH", f"{PODS}/web", {"metadata": {"labels": {"new": "1"}}},
                        ctype="application/merge-patch+json", expect=200)
    assert merged["metadata"]["labels"] == {"app": "web", "new": "1"}
    ops = [{"op": "remove", "path": "/metadata/labels/new"},
           {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    patched = await call(api, "PATCH", f"{PODS}/web", ops,
                         ctype="application/json-patch+json", expect=200)
    assert patched["metadata"]["labels"] == {"app": "web"}
    assert patched["metadata"]["annotations"] == {"a": "b"}
    failing = [{"op": "test", "path": "/metadata/name", "value": "other"}]
    await call(api, "PATCH", f"{PODS}/web", failing, ctype="application/json-patch+json",
               expect=422)


async def test_list_paging_with_continue_is_consistent(api: Client) -> None:
    for i in range(5):
        await call(api, "POST", PODS, pod(f"p{i}"), expect=201)
    first = await call(api, "GET", f"{PODS}?limit=2", expect=200)
    assert [p["metadata"]["name"] for p in first["items"]] == ["p0", "p1"]
    assert first["metadata"]["remainingItemCount"] == 3
    await call(api, "POST", PODS, pod("p10"), expect=201)  # after the first page: not seen
    token = first["metadata"]["continue"]
    second = await call(api, "GET", f"{PODS}?limit=10&continue={token}", expect=200)
    assert [p["metadata"]["name"] for p in second["items"]] == ["p2", "p3", "p4"]
    assert "continue" not in second["metadata"]
    garbage = base64.b64encode(b"nope").decode()
    await call(api, "GET", f"{PODS}?limit=1&continue={garbage}", expect=400)


async def test_list_with_selectors(api: Client) -> None:
    await call(api, "POST", PODS, pod("a", {"app": "a", "tier": "x"}), expect=201)
    await call(api, "POST", PODS, pod("b", {"app": "b"}), expect=201)
    names = await call(api, "GET", f"{PODS}?labelSelector=tier", expect=200)
    assert [p["metadata"]["name"] for p in names["items"]] == ["a"]
    names = await call(api, "GET", "/api/v1/pods?fieldSelector=metadata.name!=a", expect=200)
    assert [p["metadata"]["name"] for p in names["items"]] == ["b"]
    await call(api, "GET", f"{PODS}?labelSelector=in%20in", expect=400)


async def test_binding_sets_node_once(api: Client) -> None:
    await call(api, "POST", PODS, pod(), expect=201)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
               "target": {"kind": "Node", "name": "n1"}}
    await call(api, "POST", f"{PODS}/web/binding", binding, expect=201)
    bound = await call(api, "GET", f"{PODS}/web")
    assert bound["spec"]["nodeName"] == "n1"
    again = await call(api, "POST", f"{PODS}/web/binding", binding, expect=409)
    assert_status(again, 409, "Conflict")


async def test_bound_pod_deletes_gracefully_unbound_at_once(api: Client) -> None:
    await call(api, "POST", PODS, pod("free"), expect=201)
    await call(api, "DELETE", f"{PODS}/free", expect=200)
    await call(api, "GET", f"{PODS}/free", expect=404)
    await call(api, "POST", PODS, pod("bound", nodeName="n1"), expect=201)
    marked = await call(api, "DELETE", f"{PODS}/bound", expect=200)
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert (await call(api, "GET", f"{PODS}/bound", expect=200))["metadata"]["deletionTimestamp"]
    await call(api, "DELETE", f"{PODS}/bound", {"gracePeriodSeconds": 0}, expect=200)
    await call(api, "GET", f"{PODS}/bound", expect=404)


async def test_scale_subresource(api: Client) -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 2, "selector": {"app": "x"}, "template": {
              "metadata": {"labels": {"app": "x"}},
              "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    path = "/api/v1/namespaces/default/replicationcontrollers/rc"
    await call(api, "POST", path.rsplit("/", 1)[0], rc, expect=201)
    scale = await call(api, "GET", f"{path}/scale", expect=200)
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 2)
    assert scale["status"]["selector"] == "app=x"
    scaled = await call(api, "PATCH", f"{path}/scale", {"spec": {"replicas": 5}},
                        ctype="application/merge-patch+json", expect=200)
    assert scaled["spec"]["replicas"] == 5
    assert (await call(api, "GET", path))["spec"]["replicas"] == 5
    await call(api, "PATCH", f"{path}/scale", {"spec": {"replicas": -1}},
               ctype="application/merge-patch+json", expect=422)


async def test_delete_collection_by_label(api: Client) -> None:
    await call(api, "POST", PODS, pod("a", {"app": "a"}), expect=201)
    await call(api, "POST", PODS, pod("b", {"app": "b"}), expect=201)
    await call(api, "DELETE", f"{PODS}?labelSelector=app%3Da", expect=200)
    left = await call(api, "GET", PODS)
    assert [p["metadata"]["name"] for p in left["items"]] == ["b"]


async def test_discovery_and_health(api: Client) -> None:
    for path in ("/version", "/version/", "/api", "/api/", "/apis", "/api/v1", "/api/v1/",
                 "/openapi/v3", "/healthz", "/livez", "/readyz"):
        resp = await api.get(path)
        assert resp.status == 200, path
    version = await (await api.get("/version")).json()
    assert (version["major"], version["minor"]) == ("1", "32")
    assert_status(await call(api, "GET", "/openapi/v2", expect=404), 404, "NotFound")


async def test_table_for_kubectl(api: Client) -> None:
    await call(api, "POST", PODS, pod(), expect=201)
    table = await call(api, "GET", PODS, headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}, expect=200)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:3] == ["Name", "Ready", "Status"]
    assert table["rows"][0]["cells"][0] == "web"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_a_405_says_which_methods_the_path_takes(api: Client) -> None:
    # RFC 9110 §15.5.6: a 405 carries Allow (kube's go-restful sends it too).
    for method, path, allowed in (
            ("PUT", PODS, "GET, POST, DELETE"),
            ("POST", f"{PODS}/web", "GET, PUT, PATCH, DELETE"),
            ("PUT", f"{PODS}/web/binding", "POST"),
            ("HEAD", PODS, "GET, POST, DELETE"),
            ("POST", "/version", "GET")):
        resp = await api.request(method, path, data=b"{}",
                                 headers={"Content-Type": "application/json"})
        assert (resp.status, resp.headers.get("Allow")) == (405, allowed), (method, path)
