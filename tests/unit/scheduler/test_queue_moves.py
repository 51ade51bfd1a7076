"""Which cluster changes move unschedulable pods back (``nodeSchedulingPropertiesChange``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servers.scheduler.informers import looks_at_other_pods, node_scheduling_properties_changed

NODE: dict[str, Any] = {
    "metadata": {"name": "n1", "labels": {"a": "1"}, "resourceVersion": "1"},
    "spec": {},
    "status": {"allocatable": {"cpu": "4"}, "conditions": [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]},
}


def changed(**edits: Any) -> dict[str, Any]:
    node = copy.deepcopy(NODE)
    for path, value in edits.items():
        where = node
        *parents, last = path.split("__")
        for part in parents:
            where = where.setdefault(part, {})
        where[last] = value
    return node


@pytest.mark.parametrize("edits", [
    {"spec__unschedulable": True},
    {"spec__taints": [{"key": "k", "effect": "NoSchedule"}]},
    {"metadata__labels": {"a": "2"}},
    {"status__allocatable": {"cpu": "8"}},
    {"status__conditions": [{"type": "Ready", "status": "False"}]},
])
def test_a_change_that_may_let_pods_fit_moves_them(edits: dict[str, Any]) -> None:
    assert node_scheduling_properties_changed(NODE, changed(**edits))


def test_a_heartbeat_alone_moves_nothing() -> None:
    beat = changed(status__conditions=[{"type": "Ready", "status": "True",
                                        "lastHeartbeatTime": "2026-01-01T00:00:10Z"}])
    beat["metadata"]["resourceVersion"] = "2"
    assert not node_scheduling_properties_changed(NODE, beat)


def test_only_pods_that_look_at_other_pods_care_about_assigned_pods() -> None:
    assert looks_at_other_pods({"spec": {"affinity": {"podAntiAffinity": {"x": 1}}}})
    assert looks_at_other_pods({"spec": {"topologySpreadConstraints": [{"maxSkew": 1}]}})
    assert not looks_at_other_pods({"spec": {"affinity": {"nodeAffinity": {"x": 1}}}})
