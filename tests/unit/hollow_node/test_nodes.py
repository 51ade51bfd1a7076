"""The Node and Lease a hollow node writes, shaped as the kubelet's."""

from __future__ import annotations

import re

from servers.hollow_node.nodes import (
    KUBELET_VERSION,
    NodeShape,
    lease_object,
    micro_time,
    node_object,
    status_patch,
    transitions,
)

SHAPE = NodeShape(cpu="32", memory="256Gi", ephemeral_storage="100Gi", max_pods=110,
                  labels={"type": "hollow"})


def test_node_has_the_kubelet_labels_plus_node_labels() -> None:
    node = node_object("hollow-7", 7, SHAPE)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "hollow-7"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["type"] == "hollow"


def test_node_capacity_equals_allocatable() -> None:
    status = node_object("hollow-0", 0, SHAPE)["status"]
    want = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    assert status["capacity"] == want
    assert status["allocatable"] == want


def test_node_conditions_are_healthy_with_kube_reasons_ready_last() -> None:
    conds = node_object("hollow-0", 0, SHAPE)["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in conds] == [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady")]
    assert conds[-1]["message"] == "kubelet is posting ready status"


def test_node_addresses_endpoint_and_info() -> None:
    status = node_object("hollow-2", 2, SHAPE)["status"]
    assert status["addresses"] == [{"type": "InternalIP", "address": "100.64.0.3"},
                                   {"type": "Hostname", "address": "hollow-2"}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == KUBELET_VERSION
    assert info["containerRuntimeVersion"].startswith("hollow://")
    assert (info["operatingSystem"], info["architecture"]) == ("linux", "amd64")
    assert info["machineID"] != node_object("hollow-3", 3, SHAPE)["status"]["nodeInfo"][
        "machineID"]


def test_adopted_node_keeps_transition_times_of_unchanged_conditions() -> None:
    old = {"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "DiskPressure", "status": "False",
         "lastTransitionTime": "2026-01-02T00:00:00Z"}]}}
    since = transitions(old, now="2026-02-02T00:00:00Z")
    assert since["Ready"] == "2026-02-02T00:00:00Z"          # flipped to True now
    assert since["DiskPressure"] == "2026-01-02T00:00:00Z"   # already healthy: kept
    assert since["MemoryPressure"] == "2026-02-02T00:00:00Z"


def test_status_report_refreshes_heartbeats_and_keeps_transitions() -> None:
    since = transitions(None, now="2026-01-01T00:00:00Z")
    conds = status_patch(since)["status"]["conditions"]
    assert {c["lastTransitionTime"] for c in conds} == {"2026-01-01T00:00:00Z"}
    assert all(c["lastHeartbeatTime"] != "2026-01-01T00:00:00Z" for c in conds)


def test_lease_is_held_by_and_owned_by_its_node() -> None:
    lease = lease_object("hollow-1", "uid-1", NodeShape(lease_duration=40))
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "hollow-1", "uid": "uid-1"}]
    assert lease["spec"]["holderIdentity"] == "hollow-1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", lease["spec"]["renewTime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", micro_time())
