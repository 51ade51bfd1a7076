"""coordination.k8s.io/v1 leases over HTTP: discovery, create/get/update with MicroTimes,
optimistic concurrency, validation errors, the Table kubectl prints, the kube-node-lease
namespace made at start-up."""

from __future__ import annotations

from typing import Any

from tests.integration.apiserver import test_rbac
from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.test_api import assert_status, call

rbac_api = test_rbac.rbac_api  # fixture: the app under RBAC with the bootstrap policy
rbac_call = test_rbac.call
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def lease(name: str = "n1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name}, "spec": spec}


async def test_discovery_serves_leases(api: Client) -> None:
    doc = await call(api, "GET", "/apis/coordination.k8s.io/v1", expect=200)
    [leases] = doc["resources"]
    assert (leases["name"], leases["kind"], leases["namespaced"]) == ("leases", "Lease", True)
    groups = await call(api, "GET", "/apis", expect=200)
    assert "coordination.k8s.io" in [g["name"] for g in groups["groups"]]


async def test_kube_node_lease_exists_from_the_start(api: Client) -> None:
    ns = await call(api, "GET", "/api/v1/namespaces/kube-node-lease", expect=200)
    assert ns["status"]["phase"] == "Active"


async def test_create_get_and_renew(api: Client) -> None:
    created = await call(api, "POST", LEASES, lease(
        holderIdentity="n1", leaseDurationSeconds=40,
        renewTime="2026-11-28T12:00:00.123456789Z"), expect=201)
    assert created["metadata"]["namespace"] == "kube-node-lease"
    assert created["spec"]["renewTime"] == "2026-11-28T12:00:00.123456Z"
    got = await call(api, "GET", f"{LEASES}/n1", expect=200)
    assert got == created
    got["spec"]["renewTime"] = "2026-11-28T12:00:10Z"
    renewed = await call(api, "PUT", f"{LEASES}/n1", got, expect=200)
    assert renewed["spec"]["renewTime"] == "2026-11-28T12:00:10.000000Z"
    assert int(renewed["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])
    stale = await call(api, "PUT", f"{LEASES}/n1", got, expect=409)
    assert_status(stale, 409, "Conflict")
    patched = await call(api, "PATCH", f"{LEASES}/n1", {"spec": {"leaseTransitions": 1}},
                         ctype="application/merge-patch+json", expect=200)
    assert patched["spec"]["leaseTransitions"] == 1


async def test_invalid_leases_are_refused(api: Client) -> None:
    bad = await call(api, "POST", LEASES, lease(leaseDurationSeconds=0, preferredHolder="x"),
                     expect=422)
    assert_status(bad, 422, "Invalid")
    assert bad["details"]["group"] == "coordination.k8s.io"
    assert [c["field"] for c in bad["details"]["causes"]] == ["spec.leaseDurationSeconds",
                                                             "spec.preferredHolder"]
    no_time = await call(api, "POST", LEASES, lease(renewTime="soon"), expect=400)
    assert_status(no_time, 400, "BadRequest")
    wrong_type = await call(api, "POST", LEASES, lease(leaseDurationSeconds="40"), expect=400)
    assert "LeaseSpec.spec.leaseDurationSeconds" in wrong_type["message"]
    await call(api, "GET", f"{LEASES}/n1", expect=404)


async def test_table_has_name_holder_and_age(api: Client) -> None:
    await call(api, "POST", LEASES, lease(holderIdentity="n1"), expect=201)
    resp = await api.get(LEASES, headers={"Accept": TABLE})
    table = await resp.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Holder", "Age"]
    assert [r["cells"][:2] for r in table["rows"]] == [["n1", "n1"]]


LOCKS = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


async def test_the_scheduler_holds_its_own_leader_lease_only(rbac_api: Client) -> None:
    scheduler = {"user": "system:kube-scheduler"}
    await rbac_call(rbac_api, "POST", LOCKS, lease("kube-controller-manager"), expect=201)
    created = await rbac_call(rbac_api, "POST", LOCKS, lease("kube-scheduler",
                              holderIdentity="sched-1"), **scheduler, expect=201)
    got = await rbac_call(rbac_api, "GET", f"{LOCKS}/kube-scheduler", **scheduler, expect=200)
    assert got == created
    got["spec"]["holderIdentity"] = "sched-2"
    await rbac_call(rbac_api, "PUT", f"{LOCKS}/kube-scheduler", got, **scheduler, expect=200)
    denied = await rbac_call(rbac_api, "GET", f"{LOCKS}/kube-controller-manager", **scheduler,
                             expect=403)
    assert denied["message"] == (
        'leases.coordination.k8s.io "kube-controller-manager" is forbidden: User '
        '"system:kube-scheduler" cannot get resource "leases" in API group '
        '"coordination.k8s.io" in the namespace "kube-system"')
    await rbac_call(rbac_api, "DELETE", f"{LOCKS}/kube-scheduler", **scheduler, expect=403)
    manager = {"user": "system:kube-controller-manager"}
    await rbac_call(rbac_api, "GET", f"{LOCKS}/kube-controller-manager", **manager, expect=200)
