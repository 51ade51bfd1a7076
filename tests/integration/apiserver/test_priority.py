"""scheduling.k8s.io/v1 PriorityClasses and the Priority admission plugin over HTTP: the
system classes made at start, kube's rules (403 from admission, 422 from validation), pods
given their priority, the Table kubectl prints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from servers.apiserver import app as apiserver
from servers.apiserver.admission import priority
from servers.apiserver.registry import Registry
from servers.apiserver.storage import open_storage
from tests.integration.apiserver.conftest import PODS, Client, pod
from tests.integration.apiserver.test_api import assert_status, call

PCS = "/apis/scheduling.k8s.io/v1/priorityclasses"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture
async def papi(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
               ) -> AsyncIterator[Client]:
    """The app as ``km apiserver`` starts it: default namespaces and the system classes."""
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    registry = Registry(storage)
    try:
        await apiserver.create_default_namespaces(registry)
        await priority.ensure_system_classes(registry)
        await priority.ensure_system_classes(registry)  # a restart: nothing to do
        yield await aiohttp_client(apiserver.make_app(registry))
    finally:
        await registry.close()
        await storage.close()


def pc(name: str, value: int, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, **fields}


async def test_discovery_serves_priorityclasses(papi: Client) -> None:
    doc = await call(papi, "GET", "/apis/scheduling.k8s.io/v1", expect=200)
    [entry] = doc["resources"]
    assert (entry["name"], entry["kind"], entry["namespaced"], entry["shortNames"]) == (
        "priorityclasses", "PriorityClass", False, ["pc"])


async def test_the_system_classes_exist_from_the_start(papi: Client) -> None:
    listed = await call(papi, "GET", PCS, expect=200)
    assert {i["metadata"]["name"]: i["value"] for i in listed["items"]} == {
        "system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}
    refused = await call(papi, "DELETE", f"{PCS}/system-node-critical", expect=403)
    assert refused["message"] == ('priorityclasses.scheduling.k8s.io "system-node-critical" '
                                  "is forbidden: this is a system priority class and cannot "
                                  "be deleted")


async def test_pods_get_the_priority_of_their_class(papi: Client) -> None:
    created = await call(papi, "POST", PCS, pc("batch", 100, preemptionPolicy="Never"),
                         expect=201)
    assert created["preemptionPolicy"] == "Never"
    # at once: the view may not have seen the watch event yet, storage answers the miss
    made = await call(papi, "POST", PODS, pod("b", priorityClassName="batch"), expect=201)
    assert (made["spec"]["priority"], made["spec"]["preemptionPolicy"]) == (100, "Never")
    plain = await call(papi, "POST", PODS, pod("p"), expect=201)
    assert (plain["spec"]["priority"], plain["spec"]["preemptionPolicy"]) == (
        0, "PreemptLowerPriority")
    system = await call(papi, "POST", PODS, pod("s", priorityClassName="system-node-critical"),
                        expect=201)
    assert system["spec"]["priority"] == 2_000_001_000
    # an update that leaves priority out keeps it (and may not change it)
    made.pop("status")
    made["spec"].pop("priority")
    kept = await call(papi, "PUT", f"{PODS}/b", made, expect=200)
    assert kept["spec"]["priority"] == 100
    kept["spec"]["priority"] = 5
    await call(papi, "PUT", f"{PODS}/b", kept, expect=422)


async def test_unknown_class_and_disagreeing_priority_are_forbidden(papi: Client) -> None:
    unknown = await call(papi, "POST", PODS, pod(priorityClassName="gold"), expect=403)
    assert_status(unknown, 403, "Forbidden")
    assert unknown["message"] == ('pods "web" is forbidden: no PriorityClass with name gold '
                                  "was found")
    own = await call(papi, "POST", PODS, pod(priority=5), expect=403)
    assert "the integer value of priority (5) must not be provided" in own["message"]
    await call(papi, "GET", f"{PODS}/web", expect=404)


async def test_one_global_default_which_pods_without_a_class_get(papi: Client) -> None:
    await call(papi, "POST", PCS, pc("normal", 10, globalDefault=True), expect=201)
    second = await call(papi, "POST", PCS, pc("other", 20, globalDefault=True), expect=403)
    assert second["message"].endswith("PriorityClass normal is already marked as default. "
                                      "Only one default can exist")

    made = await _eventually_defaulted(papi)
    assert (made["spec"]["priorityClassName"], made["spec"]["priority"]) == ("normal", 10)


async def _eventually_defaulted(papi: Client) -> Any:
    """The global default reaches the view through the watch: allow it a moment."""
    for attempt in range(50):
        body = pod(f"w{attempt}")
        made = await call(papi, "POST", PODS, body, expect=201)
        if made["spec"].get("priorityClassName"):
            return made
        await asyncio.sleep(0.02)
    raise AssertionError("the global default never reached admission")


async def test_validation_is_kubes(papi: Client) -> None:
    high = await call(papi, "POST", PCS, pc("high", 1_000_000_001), expect=422)
    assert_status(high, 422, "Invalid")
    assert high["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "value",
        "message": "Forbidden: maximum allowed value of a user defined priority is 1000000000"}]
    reserved = await call(papi, "POST", PCS, pc("system-mine", 1), expect=422)
    assert reserved["details"]["causes"][0]["field"] == "metadata.name"
    await call(papi, "POST", PCS, pc("mid", 5), expect=201)
    changed = await call(papi, "PATCH", f"{PCS}/mid", {"value": 6},
                         ctype="application/merge-patch+json", expect=422)
    assert changed["details"]["causes"][0]["message"] == ("Forbidden: may not be changed in an "
                                                          "update.")
    described = await call(papi, "PATCH", f"{PCS}/mid", {"description": "middle"},
                           ctype="application/merge-patch+json", expect=200)
    assert described["description"] == "middle"


async def test_table_as_kubectl_get_asks(papi: Client) -> None:
    await call(papi, "POST", PCS, pc("mid", 5), expect=201)
    table = await call(papi, "GET", f"{PCS}/mid", headers={"Accept": TABLE}, expect=200)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    assert table["rows"][0]["cells"][:3] == ["mid", 5, False]
    assert table["rows"][0]["cells"][4] == "PreemptLowerPriority"


async def test_malformed_scheduling_constraints_are_422(papi: Client) -> None:
    bad = pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Near",
                                                     "values": ["a"]}]}]}}},
              topologySpreadConstraints=[{"maxSkew": 0, "topologyKey": "zone",
                                          "whenUnsatisfiable": "DoNotSchedule"}],
              tolerations=[{"key": "k", "operator": "Maybe"}])
    refused = await call(papi, "POST", PODS, bad, expect=422)
    assert_status(refused, 422, "Invalid")
    fields = [c["field"] for c in refused["details"]["causes"]]
    assert fields == [
        "spec.tolerations[0].operator",
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].operator",
        "spec.topologySpreadConstraints[0].maxSkew"]
    await call(papi, "GET", f"{PODS}/web", expect=404)


async def test_a_deleted_class_is_forgotten(papi: Client) -> None:
    await call(papi, "POST", PCS, pc("gone", 3), expect=201)
    await call(papi, "POST", PODS, pod("first", priorityClassName="gone"), expect=201)
    await call(papi, "DELETE", f"{PCS}/gone", expect=200)
    for attempt in range(50):  # the deletion reaches the view through the watch
        resp = await papi.post(PODS, json=pod(f"p{attempt}", priorityClassName="gone"))
        if resp.status == 403:
            break
        assert resp.status == 201
        await asyncio.sleep(0.02)
    assert resp.status == 403


async def test_scheduling_gates_may_be_lifted_not_added(papi: Client) -> None:
    gated = pod("gated", schedulingGates=[{"name": "example.com/wait"}, {"name": "other"}])
    await call(papi, "POST", PODS, gated, expect=201)
    patch = [{"op": "remove", "path": "/spec/schedulingGates/0"}]
    lifted = await call(papi, "PATCH", f"{PODS}/gated", patch,
                        ctype="application/json-patch+json", expect=200)
    assert lifted["spec"]["schedulingGates"] == [{"name": "other"}]
    added = await call(papi, "PATCH", f"{PODS}/gated",
                       {"spec": {"schedulingGates": [{"name": "other"}, {"name": "new"}]}},
                       ctype="application/merge-patch+json", expect=422)
    assert added["details"]["causes"][0]["message"] == (
        "Forbidden: only deletion is allowed, but found new scheduling gate 'new'")
    cleared = await call(papi, "PATCH", f"{PODS}/gated", {"spec": {"schedulingGates": None}},
                         ctype="application/merge-patch+json", expect=200)
    assert "schedulingGates" not in cleared["spec"]
