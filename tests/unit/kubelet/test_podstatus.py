"""Pod status from runtime states: phase, conditions, container statuses, QoS (kube's rules)."""

from __future__ import annotations

from servers.kubelet.backoff import CrashBackoff, go_duration
from servers.kubelet.podstatus import View, conditions, container_status, phase, qos_class
from servers.kubelet.runtime.interface import (
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    ContainerStatus,
)

NOW = "2026-01-01T00:00:00Z"


def running(name: str = "c", attempt: int = 0) -> ContainerStatus:
    return ContainerStatus(id=f"id-{name}-{attempt}", sandbox_id="s", name=name,
                           attempt=attempt, state=CONTAINER_RUNNING, started_at=100.0)


def exited(name: str = "c", code: int = 0, attempt: int = 0,
           reason: str = "") -> ContainerStatus:
    return ContainerStatus(id=f"id-{name}-{attempt}", sandbox_id="s", name=name,
                           attempt=attempt, state=CONTAINER_EXITED, started_at=100.0,
                           finished_at=101.0, exit_code=code,
                           reason=reason or ("Completed" if code == 0 else "Error"))


def pod(policy: str = "Always", **spec: object) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c"}], **spec}}


def view(latest: ContainerStatus | None = None, name: str = "c", **kw: object) -> View:
    return View({"name": name, "image": "img", **kw}, latest)


def test_phase_follows_the_restart_policy() -> None:
    assert phase(pod(), [], [view()]) == "Pending"
    assert phase(pod(), [], [view(running())]) == "Running"
    assert phase(pod("Always"), [], [view(exited(code=0))]) == "Running"
    assert phase(pod("OnFailure"), [], [view(exited(code=0))]) == "Succeeded"
    assert phase(pod("OnFailure"), [], [view(exited(code=1))]) == "Running"
    assert phase(pod("Never"), [], [view(exited(code=1))]) == "Failed"
    assert phase(pod("Always"), [], [view(exited(code=0))], terminal=True) == "Succeeded"
    assert phase(pod("Always"), [], [view(exited(code=137))], terminal=True) == "Failed"


def test_init_containers_hold_the_pod_pending_and_a_failed_one_fails_it_under_never() -> None:
    init = view(running("i"), name="i")
    assert phase(pod(), [init], [view()]) == "Pending"
    assert phase(pod("Never"), [view(exited("i", 1), name="i")], [view()]) == "Failed"
    assert phase(pod("OnFailure"), [view(exited("i", 1), name="i")], [view()]) == "Pending"
    sidecar = view(running("s"), name="s", restartPolicy="Always")
    assert phase(pod(), [sidecar, view(exited("i"), name="i")],
                 [view(running())]) == "Running"


def test_container_status_shapes() -> None:
    v = view(running(attempt=2))
    v.ready = v.started = True
    out = container_status(v, "ContainerCreating")
    assert out["state"] == {"running": {"startedAt": "1970-01-01T00:01:40Z"}}
    assert (out["restartCount"], out["ready"], out["containerID"]) == (2, True, "km://id-c-2")
    assert container_status(view(), "PodInitializing")["state"] == {
        "waiting": {"reason": "PodInitializing"}}
    crashed = view(exited(code=137, attempt=3, reason="OOMKilled"))
    crashed.waiting = ("CrashLoopBackOff", "back-off 40s restarting failed container=c")
    out = container_status(crashed, "ContainerCreating")
    assert out["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert out["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert out["lastState"]["terminated"]["exitCode"] == 137
    assert out["restartCount"] == 3


def test_conditions_name_unready_containers_and_keep_transition_times() -> None:
    p = pod()
    p["status"] = {"conditions": [{"type": "PodScheduled", "status": "True",
                                   "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    out = {c["type"]: c for c in conditions(p, [], [view(running())], "Running",
                                            sandbox_ready=True, now=NOW)}
    assert out["PodScheduled"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert out["Ready"]["status"] == "False"
    assert out["Ready"]["message"] == "containers with unready status: [c]"
    assert out["Initialized"]["status"] == "True"
    done = {c["type"]: c for c in conditions(p, [], [view(exited())], "Succeeded",
                                             sandbox_ready=True, now=NOW)}
    assert done["Ready"]["reason"] == "PodCompleted"


def test_qos_class() -> None:
    assert qos_class(pod()) == "BestEffort"
    both = {"cpu": "1", "memory": "1Gi"}
    assert qos_class(pod(containers=[{"name": "c", "resources": {"limits": both}}])) == \
        "Guaranteed"
    assert qos_class(pod(containers=[{"name": "c", "resources": {
        "limits": both, "requests": {"cpu": "500m"}}}])) == "Burstable"


def test_crash_backoff_doubles_to_five_minutes_and_forgets_after_ten() -> None:
    b = CrashBackoff()
    key = ("u", "c")
    assert b.waiting(key, finished_at=0, now=0) == 0  # the first restart is at once
    delays = []
    now = 0.0
    for _ in range(8):
        b.bump(key, now)
        delays.append(b.delay(key, now))
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]
    assert b.waiting(key, finished_at=now, now=now + 100) == 200
    assert b.waiting(key, finished_at=now, now=now + 601) == 0  # a clean run of 10 minutes
    assert [go_duration(s) for s in (10, 80, 300)] == ["10s", "1m20s", "5m0s"]
