"""What an independent probe of the API found (issue 16), each as kube-apiserver answers it:
names and uids an update may not change, fieldManager checks, list resourceVersion semantics,
continue tokens only when something is left, the legacy /watch/ paths, the verb of any
method in a 403, HEAD on discovery."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.test_rbac import call, rbac_api  # noqa: F401 (a fixture)

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


async def configmap(api: Client, name: str = "cm", **data: str) -> dict[str, Any]:
    return await call(api, "POST", CONFIGMAPS, {"metadata": {"name": name},  # type: ignore[no-any-return]
                                                "data": data or {"k": "v"}}, expect=201)


@pytest.mark.parametrize(("ctype", "patch", "shown"), [
    (MERGE, {"metadata": {"name": "other"}}, "other"),
    (STRATEGIC, {"metadata": {"name": "other"}}, "other"),
    (MERGE, {"metadata": {"name": None}}, ""),
    (JSON_PATCH, [{"op": "remove", "path": "/metadata/name"}], ""),
    (JSON_PATCH, [{"op": "remove", "path": "/metadata"}], ""),
    (JSON_PATCH, [{"op": "replace", "path": "/metadata/name", "value": "x"}], "x"),
])
async def test_a_patch_may_not_change_the_name(api: Client, ctype: str, patch: Any,
                                               shown: str) -> None:
    before = await configmap(api)
    status = await call(api, "PATCH", f"{CONFIGMAPS}/cm", patch, ctype=ctype, expect=400)
    assert status["message"] == (f"the name of the object ({shown}) does not match the name on "
                                 "the URL (cm)")
    assert await call(api, "GET", f"{CONFIGMAPS}/cm", expect=200) == before
    await call(api, "GET", f"{CONFIGMAPS}/other", expect=404)


async def test_a_put_must_name_the_object_of_its_url(api: Client) -> None:
    cm = await configmap(api)
    cm["metadata"]["name"] = "other"
    status = await call(api, "PUT", f"{CONFIGMAPS}/cm", cm, expect=400)
    assert status["message"] == ("the name of the object (other) does not match the name on "
                                 "the URL (cm)")
    del cm["metadata"]["name"]
    await call(api, "PUT", f"{CONFIGMAPS}/cm", cm, expect=400)


async def test_a_put_with_another_uid_is_a_failed_precondition(api: Client) -> None:
    cm = await configmap(api)
    uid = cm["metadata"]["uid"]
    stale = {**cm, "metadata": {**cm["metadata"], "uid": "0000-not-it"}, "data": {"k": "w"}}
    status = await call(api, "PUT", f"{CONFIGMAPS}/cm", stale, expect=409)
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "cm": Precondition '
                                 f"failed: UID in precondition: 0000-not-it, UID in object "
                                 f"meta: {uid}")
    assert (await call(api, "GET", f"{CONFIGMAPS}/cm", expect=200))["data"] == {"k": "v"}
    cm["data"] = {"k": "w"}
    assert (await call(api, "PUT", f"{CONFIGMAPS}/cm", cm, expect=200))["data"] == {"k": "w"}


async def test_a_patch_may_not_change_the_uid(api: Client) -> None:
    await configmap(api)
    status = await call(api, "PATCH", f"{CONFIGMAPS}/cm", {"metadata": {"uid": "x"}},
                        ctype=MERGE, expect=422)
    assert status["message"] == ('ConfigMap "cm" is invalid: metadata.uid: Invalid value: "x": '
                                 "field is immutable")


@pytest.mark.parametrize(("manager", "detail"), [
    ("m" * 129, "fieldManager: Too long: may not be more than 128 bytes"),
    ("é" * 65, "fieldManager: Too long: may not be more than 128 bytes"),  # 130 bytes
    ("a\tb", 'fieldManager: Invalid value: "a\\tb": invalid character at index 1'),
    ("éa\x00", 'fieldManager: Invalid value: "éa\\x00": invalid character at index 3'),
])
async def test_field_manager_is_checked_as_kube_does(api: Client, manager: str,
                                                     detail: str) -> None:
    query = {"fieldManager": manager}
    created = await api.post(CONFIGMAPS, params=query, json={"metadata": {"name": "cm"}})
    assert created.status == 422
    body = await created.json()
    assert body["message"] == f'CreateOptions.meta.k8s.io "" is invalid: {detail}'
    cm = await configmap(api)
    put = await api.put(f"{CONFIGMAPS}/cm", params=query, json=cm)
    assert (put.status, (await put.json())["message"].split(": ", 1)[0]) == (
        422, 'UpdateOptions.meta.k8s.io "" is invalid')
    patched = await api.patch(f"{CONFIGMAPS}/cm", params=query, data=json.dumps({}),
                              headers={"Content-Type": MERGE})
    assert patched.status == 422
    ok = await api.patch(f"{CONFIGMAPS}/cm", params={"fieldManager": "m" * 128},
                         data=json.dumps({"data": {"k": "w"}}), headers={"Content-Type": MERGE})
    assert ok.status == 200


async def test_list_honours_resource_version_and_match(api: Client) -> None:
    first = await configmap(api, k="old")
    old_rv = first["metadata"]["resourceVersion"]
    await call(api, "PATCH", f"{CONFIGMAPS}/cm", {"data": {"k": "new"}}, ctype=MERGE, expect=200)
    exact = await call(api, "GET", f"{CONFIGMAPS}?resourceVersion={old_rv}&"
                       "resourceVersionMatch=Exact", expect=200)
    assert exact["metadata"]["resourceVersion"] == old_rv
    assert [i["data"]["k"] for i in exact["items"]] == ["old"]
    for query in (f"resourceVersion={old_rv}", f"resourceVersion={old_rv}&"
                  "resourceVersionMatch=NotOlderThan", "resourceVersion=0"):
        listed = await call(api, "GET", f"{CONFIGMAPS}?{query}", expect=200)
        assert [i["data"]["k"] for i in listed["items"]] == ["new"], query
    bad = await call(api, "GET", f"{CONFIGMAPS}?resourceVersion=abc", expect=400)
    assert bad["message"] == 'invalid resource version "abc"'
    future = int(listed["metadata"]["resourceVersion"]) + 1000
    for query in (f"resourceVersion={future}",
                  f"resourceVersion={future}&resourceVersionMatch=Exact"):
        late = await call(api, "GET", f"{CONFIGMAPS}?{query}", expect=504)
        assert late["message"].startswith(f"Timeout: Too large resource version: {future}, "
                                          "current: ")


@pytest.mark.parametrize(("query", "detail"), [
    ("resourceVersionMatch=Exact", "resourceVersionMatch: Forbidden: resourceVersionMatch is "
     "forbidden unless resourceVersion is provided"),
    ("resourceVersion=0&resourceVersionMatch=Exact", 'resourceVersionMatch: Forbidden: '
     'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ("resourceVersion=1&resourceVersionMatch=Newest", 'resourceVersionMatch: Unsupported '
     'value: "Newest": supported values: "Exact", "NotOlderThan", ""'),
    ("watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan", "resourceVersionMatch: "
     "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
     "provided"),
])
async def test_a_bad_resource_version_match_is_refused(api: Client, query: str,
                                                       detail: str) -> None:
    status = await call(api, "GET", f"{CONFIGMAPS}?{query}", expect=422)
    assert status["message"] == f'ListOptions.meta.k8s.io "" is invalid: {detail}'


async def test_continue_and_resource_version_do_not_mix(api: Client) -> None:
    await configmap(api, "a")
    await configmap(api, "b")
    page = await call(api, "GET", f"{CONFIGMAPS}?limit=1", expect=200)
    token = page["metadata"]["continue"]
    status = await call(api, "GET", f"{CONFIGMAPS}?limit=1&continue={token}&resourceVersion=5",
                        expect=400)
    assert status["message"] == "specifying resource version is not allowed when using continue"


async def test_no_continue_token_when_nothing_is_left(api: Client) -> None:
    await configmap(api, "a")
    only = await call(api, "GET", f"{CONFIGMAPS}?limit=1", expect=200)
    assert len(only["items"]) == 1 and "continue" not in only["metadata"]
    await configmap(api, "b")
    first = await call(api, "GET", f"{CONFIGMAPS}?limit=1", expect=200)
    assert first["metadata"]["continue"] and first["metadata"]["remainingItemCount"] == 1
    last = await call(api, "GET", f"{CONFIGMAPS}?limit=1&continue="
                      f"{first['metadata']['continue']}", expect=200)
    assert [i["metadata"]["name"] for i in last["items"]] == ["b"]
    assert "continue" not in last["metadata"]
    exact = await call(api, "GET", f"{CONFIGMAPS}?limit=2", expect=200)
    assert len(exact["items"]) == 2 and "continue" not in exact["metadata"]


async def _watch_lines(api: Client, path: str, count: int,
                       started: asyncio.Event | None = None) -> list[tuple[str, str]]:
    """The first ``count`` events' (type, name); ``started`` is set at the first one."""
    resp = await api.get(path)
    assert resp.status == 200, await resp.text()
    seen = []
    try:
        while len(seen) < count:
            event = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if started is not None:
                started.set()
    finally:
        resp.close()
    return seen


async def test_the_legacy_watch_paths_work(api: Client) -> None:
    await configmap(api, "a")
    await configmap(api, "b")
    # Each watch has sent its first (current-state) event before the changes are made, so
    # it surely started from before them (a sleep here lost that race on a loaded machine).
    started = asyncio.Event(), asyncio.Event()
    one = asyncio.create_task(_watch_lines(api, "/api/v1/watch/namespaces/default/configmaps/b",
                                           2, started[0]))
    every = asyncio.create_task(_watch_lines(api, "/api/v1/watch/configmaps", 3, started[1]))
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 10)
    await call(api, "PATCH", f"{CONFIGMAPS}/a", {"data": {"k": "2"}}, ctype=MERGE, expect=200)
    await call(api, "PATCH", f"{CONFIGMAPS}/b", {"data": {"k": "2"}}, ctype=MERGE, expect=200)
    assert await one == [("ADDED", "b"), ("MODIFIED", "b")]
    assert sorted(await every) == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a")]
    leases = await _watch_lines(api, "/apis/coordination.k8s.io/v1/watch/namespaces/"
                                "kube-node-lease/leases?timeoutSeconds=1", 0)
    assert leases == []
    await call(api, "POST", "/api/v1/watch/namespaces/default/configmaps", {}, expect=405)
    await call(api, "GET", "/api/v1/watch/namespaces/default/configmaps/b/status", expect=404)


async def test_head_on_discovery_is_not_allowed_as_in_kube(api: Client) -> None:
    for path in ("/version", "/api", "/apis", "/api/v1", "/apis/coordination.k8s.io/v1"):
        assert (await api.head(path)).status == 405, path
    assert (await api.head("/healthz")).status == 200
    assert (await api.head(CONFIGMAPS)).status == 405


async def test_a_403_names_any_method_as_its_verb(rbac_api: Client) -> None:  # noqa: F811
    resp = await rbac_api.request("OPTIONS", CONFIGMAPS, headers={"X-Test-User": "alice"})
    assert resp.status == 403
    assert (await resp.json())["message"] == (
        'configmaps is forbidden: User "alice" cannot options resource "configmaps" in API '
        'group "" in the namespace "default"')
    admin = await rbac_api.request("OPTIONS", CONFIGMAPS)
    assert admin.status == 405
