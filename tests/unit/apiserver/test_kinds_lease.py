"""coordination.k8s.io/v1 Lease: MicroTime normalising, ValidateLeaseSpec, the Table row, the
resource row and its schema."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from servers.apimachinery import errors
from servers.apiserver import kinds, resources, tables
from servers.apiserver.kinds import lease
from servers.apiserver.schemas import kind_schema, schemas
from servers.apiserver.schemas.check import check

LEASES = resources.by_plural("coordination.k8s.io", "v1", "leases")
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def make(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "n1", "namespace": "kube-node-lease",
                         "creationTimestamp": "2026-11-28T11:58:00Z"},
            "spec": spec}


def messages(obj: dict[str, Any]) -> list[tuple[str, str]]:
    assert LEASES is not None
    return [(c.field, c.message) for c in kinds.validate(LEASES, obj)]


def test_the_resource_row_is_namespaced_under_registry_leases() -> None:
    assert LEASES is not None
    assert (LEASES.kind, LEASES.namespaced, LEASES.api_version) == (
        "Lease", True, "coordination.k8s.io/v1")
    key = resources.key_for(LEASES, "kube-node-lease", "n1")
    assert key == "/registry/leases/kube-node-lease/n1"
    assert "update" in LEASES.verbs and LEASES.subresources == ()
    assert resources.by_short_or_name("lease") is LEASES


def test_times_become_microtimes_in_utc() -> None:
    assert LEASES is not None
    obj = make(renewTime="2026-11-28T13:00:00.5+01:00", acquireTime="2026-11-28T12:00:00Z")
    kinds.default(LEASES, obj)
    assert obj["spec"]["renewTime"] == "2026-11-28T12:00:00.500000Z"
    assert obj["spec"]["acquireTime"] == "2026-11-28T12:00:00.000000Z"


def test_a_time_that_is_no_time_is_a_bad_request() -> None:
    assert LEASES is not None
    with pytest.raises(errors.BadRequest, match='parsing time "yesterday"'):
        kinds.default(LEASES, make(renewTime="yesterday"))


@pytest.mark.parametrize(("spec", "expected"), [
    ({"holderIdentity": "n1", "leaseDurationSeconds": 40, "leaseTransitions": 0}, []),
    ({"leaseDurationSeconds": 0},
     [("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")]),
    ({"leaseTransitions": -1},
     [("spec.leaseTransitions", "Invalid value: -1: must be greater than or equal to 0")]),
    ({"preferredHolder": "n2"},
     [("spec.preferredHolder", "Forbidden: may only be specified if `strategy` is defined")]),
    ({"strategy": "OldestEmulationVersion", "preferredHolder": "n2"}, []),
    ({"strategy": "example.com/mine"}, []),
])
def test_validate_lease_spec(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert messages(make(**spec)) == expected


def test_an_unknown_strategy_is_not_supported() -> None:
    [(path, message)] = messages(make(strategy="Newest"))
    assert path == "spec.strategy"
    assert 'supported values: "OldestEmulationVersion"' in message


def test_table_shows_name_holder_and_age() -> None:
    assert LEASES is not None
    table = tables.to_table(LEASES, [make(holderIdentity="n1"), make()], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Holder", "Age"]
    assert [r["cells"] for r in table["rows"]] == [["n1", "n1", "2m"], ["n1", "", "2m"]]


def test_the_schema_describes_the_spec_and_checks_types() -> None:
    assert LEASES is not None
    name = kind_schema(LEASES.gvk)
    assert name == "io.k8s.api.coordination.v1.Lease"
    spec = schemas()["io.k8s.api.coordination.v1.LeaseSpec"]["properties"]
    assert set(spec) == {"holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime",
                         "leaseTransitions", "strategy", "preferredHolder"}
    found = check(schemas(), name, make(leaseDurationSeconds="40", bogus=1))
    assert found.unknown == ["spec.bogus"]
    assert "LeaseSpec.spec.leaseDurationSeconds of type int32" in found.type_errors[0]
    assert lease.NODE_LEASE_NAMESPACE == "kube-node-lease"
