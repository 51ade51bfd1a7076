"""The DefaultTolerationSeconds admission plugin (pods get not-ready/unreachable
tolerations of 300 s unless they tolerate those taints already)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from servers.apiserver import options
from servers.apiserver.admission import defaulttolerationseconds as dts


def pod(*tolerations: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if tolerations:
        spec["tolerations"] = list(tolerations)
    return {"spec": spec}


def test_a_pod_gets_both_tolerations() -> None:
    made = pod()
    dts.admit_pod_create(dts.Settings(), made)
    assert made["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]


def test_existing_tolerations_are_kept_and_respected() -> None:
    mine = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 5}
    made = pod(mine)
    dts.admit_pod_create(dts.Settings(60, 30), made)
    assert made["spec"]["tolerations"] == [mine, {
        "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
        "tolerationSeconds": 30}]
    everything = pod({"operator": "Exists"})
    dts.admit_pod_create(dts.Settings(), everything)
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
    schedule_only = pod({"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                         "effect": "NoSchedule"})
    dts.admit_pod_create(dts.Settings(), schedule_only)
    assert len(schedule_only["spec"]["tolerations"]) == 3


def test_the_flags_default_to_300_and_refuse_negatives() -> None:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    opts = parser.parse_args(["--default-unreachable-toleration-seconds", "10"])
    assert (opts.default_not_ready_toleration_seconds,
            opts.default_unreachable_toleration_seconds) == (300, 10)
    with pytest.raises(SystemExit):
        parser.parse_args(["--default-not-ready-toleration-seconds", "-1"])
