"""PriorityClass rules (``ValidatePriorityClass`` and its update), defaults and the table row."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from servers.apiserver import protowire
from servers.apiserver.kinds import priorityclass as pcs
from servers.apiserver.kinds import rules_for
from servers.apiserver.resources import by_plural
from servers.apiserver.tables import columns, to_table

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc)


def pc(name: str = "high", **fields: Any) -> dict[str, Any]:
    obj = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
           "metadata": {"name": name}, **fields}
    pcs.default(obj)
    return obj


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in pcs.validate(obj, old)]


def test_defaults_preempt_lower_priority_and_value_zero() -> None:
    obj = pc()
    assert (obj["value"], obj["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert pc(preemptionPolicy="Never")["preemptionPolicy"] == "Never"


def test_a_user_class_up_to_one_billion_is_valid() -> None:
    assert messages(pc(value=1_000_000_000, description="x")) == []
    assert messages(pc(value=-5)) == []


def test_a_user_class_over_one_billion_is_forbidden() -> None:
    assert messages(pc(value=1_000_000_001)) == [
        ("value", "Forbidden: maximum allowed value of a user defined priority is 1000000000")]


@pytest.mark.parametrize(("name", "value", "default", "why"), [
    ("system-mine", 5, False, "system-mine is not a known system priority class"),
    ("system-node-critical", 5, False,
     "value of system-node-critical PriorityClass must be 2000001000"),
    ("system-cluster-critical", 2_000_000_000, True,
     "globalDefault of system-cluster-critical PriorityClass must be false"),
])
def test_the_system_prefix_is_reserved(name: str, value: int, default: bool, why: str) -> None:
    obj = pc(name, value=value, globalDefault=default)
    assert messages(obj) == [("metadata.name", "Forbidden: priority class names with 'system-' "
                              f"prefix are reserved for system use only. error: {why}")]


def test_the_system_classes_are_valid_as_built() -> None:
    for name in pcs.SYSTEM_CLASSES:
        assert messages(pcs.system_class(name)) == []
    assert pcs.system_class("system-node-critical")["value"] == 2_000_001_000
    assert pcs.system_class("system-cluster-critical")["value"] == 2_000_000_000


def test_unknown_preemption_policy_is_not_supported() -> None:
    [(path, message)] = messages(pc(preemptionPolicy="Sometimes"))
    assert path == "preemptionPolicy"
    assert message == ('Unsupported value: "Sometimes": supported values: '
                       '"PreemptLowerPriority", "Never"')


def test_value_must_be_an_int32() -> None:
    assert [f for f, _ in messages(pc(value=2**31))] == ["value"]
    assert [f for f, _ in messages(pc(value="10"))] == ["value"]


def test_value_and_preemption_policy_are_immutable() -> None:
    old = pc(value=10)
    assert messages(pc(value=10, description="new", globalDefault=True), old) == []
    assert messages(pc(value=11), old) == [("value", "Forbidden: may not be changed in an "
                                            "update.")]
    [(path, message)] = messages(pc(value=10, preemptionPolicy="Never"), old)
    assert path == "preemptionPolicy" and message.endswith("field is immutable")


def test_rules_are_in_the_kind_table() -> None:
    assert rules_for("scheduling.k8s.io", "PriorityClass").validate is pcs.validate


def test_table_columns_and_row_as_kube_prints_them() -> None:
    resource = by_plural("scheduling.k8s.io", "v1", "priorityclasses")
    assert resource is not None and resource.short_names == ("pc",)
    assert [c["name"] for c in columns(resource)] == [
        "Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    obj = pc(value=7, globalDefault=True)
    obj["metadata"]["creationTimestamp"] = "2026-12-06T09:58:00Z"
    [row] = to_table(resource, [obj], now=NOW)["rows"]
    assert row["cells"] == ["high", 7, True, "2m", "PreemptLowerPriority"]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32s go on the wire as 64-bit two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


@pytest.mark.parametrize(("value", "default", "expected"), [
    (1000, True, {"value": 1000, "globalDefault": True}),
    (-7, False, {"value": -7}),
    (0, False, {"value": 0}),
])
def test_kubectl_create_priorityclass_protobuf_body(value: int, default: bool,
                                                   expected: dict[str, Any]) -> None:
    """``kubectl create priorityclass`` sends protobuf; Go sends zero values, JSON's
    omitempty leaves a false globalDefault out."""
    type_meta = _bytes(1, b"scheduling.k8s.io/v1") + _bytes(2, b"PriorityClass")
    message = (_bytes(1, _bytes(1, b"high")) + b"\x10" + _varint(value)
               + b"\x18" + _varint(int(default)) + _bytes(4, b"doc") + _bytes(5, b"Never"))
    decoded = protowire.decode(protowire.MAGIC + _bytes(1, type_meta) + _bytes(2, message))
    assert decoded == {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                       "metadata": {"name": "high"}, "description": "doc",
                       "preemptionPolicy": "Never", **expected}
