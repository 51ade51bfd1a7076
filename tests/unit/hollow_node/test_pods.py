"""What the hollow kubelet does with a pod, and the status it writes."""

from __future__ import annotations

from typing import Any

from servers.hollow_node import pods


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {"nodeName": "hollow-0",
                     "initContainers": [{"name": "setup", "image": "busybox"},
                                        {"name": "proxy", "image": "envoy",
                                         "restartPolicy": "Always"}],
                     "containers": [{"name": "a", "image": "nginx"},
                                    {"name": "b", "image": "redis"}]},
            "status": status}


def test_decide() -> None:
    assert pods.decide(pod(phase="Pending")) == pods.RUN
    assert pods.decide(pod()) == pods.RUN
    assert pods.decide(pod(phase="Running")) == pods.RUN            # no address yet
    ready = [{"type": "Ready", "status": "True"}]
    assert pods.decide(pod(phase="Running", podIP="100.65.0.1", conditions=ready)) == pods.NOTHING
    # made unready while the node was silent (node lifecycle): Ready is put back
    unready = [{"type": "Ready", "status": "False"}]
    assert pods.decide(pod(phase="Running", podIP="100.65.0.1", conditions=unready)) == pods.RUN
    assert pods.decide(pod(phase="Succeeded")) == pods.NOTHING
    assert pods.decide(pod(phase="Failed")) == pods.NOTHING
    deleting = pod(phase="Running", podIP="100.65.0.1", conditions=ready)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pods.decide(deleting) == pods.DELETE


def test_running_patch_carries_the_uid_and_addresses() -> None:
    patch = pods.running_patch(pod(phase="Pending"), host_ip="100.64.0.1",
                               pod_ip="100.65.0.1", now="2026-01-01T00:00:00Z")
    assert patch["metadata"] == {"uid": "u-1"}
    status = patch["status"]
    assert status["phase"] == "Running"
    assert (status["hostIP"], status["hostIPs"]) == ("100.64.0.1", [{"ip": "100.64.0.1"}])
    assert (status["podIP"], status["podIPs"]) == ("100.65.0.1", [{"ip": "100.65.0.1"}])
    assert status["startTime"] == "2026-01-01T00:00:00Z"


def test_running_patch_conditions_all_true() -> None:
    status = pods.running_patch(pod(), host_ip="h", pod_ip="p")["status"]
    types = [c["type"] for c in status["conditions"]]
    assert types == ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                     "PodScheduled"]
    assert {c["status"] for c in status["conditions"]} == {"True"}


def test_running_patch_keeps_start_time_and_scheduled_transition() -> None:
    earlier = pod(phase="Pending", startTime="2025-12-31T00:00:00Z", conditions=[
        {"type": "PodScheduled", "status": "True",
         "lastTransitionTime": "2025-12-30T00:00:00Z"}])
    status = pods.running_patch(earlier, host_ip="h", pod_ip="p",
                                now="2026-01-01T00:00:00Z")["status"]
    assert status["startTime"] == "2025-12-31T00:00:00Z"
    scheduled = next(c for c in status["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["lastTransitionTime"] == "2025-12-30T00:00:00Z"


def test_containers_run_init_containers_complete_and_sidecars_run() -> None:
    status = pods.running_patch(pod(), host_ip="h", pod_ip="p", now="T")["status"]
    a, b = status["containerStatuses"]
    assert (a["name"], b["name"]) == ("a", "b")
    assert a["ready"] and a["started"] and a["restartCount"] == 0
    assert a["state"] == {"running": {"startedAt": "T"}}
    assert a["containerID"].startswith("hollow://") and a["containerID"] != b["containerID"]
    setup, proxy = status["initContainerStatuses"]
    assert setup["state"]["terminated"]["reason"] == "Completed"
    assert setup["state"]["terminated"]["exitCode"] == 0
    assert "running" in proxy["state"] and proxy["ready"]


def test_no_init_container_statuses_without_init_containers() -> None:
    plain = pod()
    del plain["spec"]["initContainers"]
    assert "initContainerStatuses" not in pods.running_patch(plain, host_ip="h",
                                                             pod_ip="p")["status"]


def test_rejected_patch_is_kubes_out_of_pods() -> None:
    patch = pods.rejected_patch(pod(), used=110, capacity=110, host_ip="100.64.0.1")
    assert patch["metadata"] == {"uid": "u-1"}
    assert patch["status"]["phase"] == "Failed"
    assert patch["status"]["reason"] == "OutOfpods"
    assert patch["status"]["message"] == ("Pod was rejected: Node didn't have enough "
                                          "resource: pods, requested: 1, used: 110, "
                                          "capacity: 110")
