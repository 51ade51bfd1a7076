"""A pod's status from what the runtime reports: phase, conditions, containerStatuses, QoS.

Pure functions over plain dicts and the runtime's ``ContainerStatus``; the pod worker
gathers a ``View`` per container and these turn them into ``status`` as the kubelet writes
it (kubernetes ``pkg/kubelet/kubelet_pods.go`` ``getPhase`` and
``convertToAPIContainerStatuses``, ``pkg/kubelet/status/generate.go`` for the conditions,
``pkg/apis/core/v1/helper/qos/qos.go`` for the QoS class).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from servers.kubelet.runtime.interface import (
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
)

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.kubelet.runtime.interface import ContainerStatus

__all__ = ["View", "conditions", "container_status", "is_sidecar", "phase", "qos_class",
           "rfc3339"]

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
RUNTIME = "km"  # containerID scheme: "km://<id>"


def rfc3339(seconds: float) -> str:
    """A metav1.Time: RFC 3339 in UTC, whole seconds."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_sidecar(spec: Obj) -> bool:
    """An init container with restartPolicy Always (kube's restartable init container)."""
    return spec.get("restartPolicy") == "Always"


@dataclass
class View:
    """What the worker knows of one container: its latest and previous instances, and why
    it waits when it is not running (``waiting`` = (reason, message))."""

    spec: Obj
    latest: ContainerStatus | None = None
    previous: ContainerStatus | None = None
    waiting: tuple[str, str] | None = None
    ready: bool = False
    started: bool = False

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.latest is not None and self.latest.state == CONTAINER_RUNNING

    @property
    def exited(self) -> bool:
        return self.latest is not None and self.latest.state == CONTAINER_EXITED

    @property
    def succeeded(self) -> bool:
        return self.exited and self.latest is not None and self.latest.exit_code == 0


def _terminated(status: ContainerStatus) -> Obj:
    state: Obj = {"exitCode": status.exit_code, "reason": status.reason or (
        "Completed" if status.exit_code == 0 else "Error"),
        "startedAt": rfc3339(status.started_at or status.created_at),
        "finishedAt": rfc3339(status.finished_at), "containerID": f"{RUNTIME}://{status.id}"}
    if status.message:
        state["message"] = status.message
    return {"terminated": state}


def container_status(view: View, default_waiting: str) -> Obj:
    """One entry of containerStatuses (or initContainerStatuses)."""
    spec, latest = view.spec, view.latest
    out: Obj = {"name": view.name, "image": spec.get("image") or "", "imageID": "",
                "ready": view.ready, "restartCount": latest.attempt if latest else 0,
                "started": view.started, "lastState": {}}
    if view.waiting is not None:
        reason, message = view.waiting
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message
                                                           else {})}}
        if latest is not None and latest.state == CONTAINER_EXITED:
            out["lastState"] = _terminated(latest)
        elif view.previous is not None:
            out["lastState"] = _terminated(view.previous)
        return out
    if latest is None or latest.state == CONTAINER_CREATED:
        out["state"] = {"waiting": {"reason": default_waiting}}
    elif latest.state == CONTAINER_RUNNING:
        out["state"] = {"running": {"startedAt": rfc3339(latest.started_at)}}
    else:
        out["state"] = _terminated(latest)
    if latest is not None:
        out["containerID"] = f"{RUNTIME}://{latest.id}"
    if view.previous is not None:
        out["lastState"] = _terminated(view.previous)
    return out


def _init_state(inits: list[View]) -> tuple[bool, bool]:
    """(pending, failed) over the regular init containers (sidecars do not count)."""
    pending = failed = False
    for view in inits:
        if is_sidecar(view.spec) or view.succeeded:
            continue
        if view.exited:
            failed = True
        else:
            pending = True
    return pending, failed


def phase(pod: Obj, inits: list[View], apps: list[View], *, terminal: bool = False) -> str:
    """The pod phase as kube's ``getPhase`` decides it; ``terminal``: the pod is being
    deleted and its containers are stopped (then Running is no answer)."""
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    pending_init, failed_init = _init_state(inits)
    if failed_init and policy == "Never":
        return FAILED
    if pending_init or (failed_init and not any(v.latest for v in apps)):
        return PENDING
    running = sum(v.running for v in apps)
    stopped = sum(v.exited for v in apps)
    succeeded = sum(v.succeeded for v in apps)
    if len(apps) - running - stopped:
        return PENDING  # a container that never ran
    if running:
        return RUNNING
    if not stopped:
        return PENDING
    if terminal:
        return SUCCEEDED if stopped == succeeded else FAILED
    if policy == "Always":
        return RUNNING
    if stopped == succeeded:
        return SUCCEEDED
    return FAILED if policy == "Never" else RUNNING


def _condition(kind: str, ok: bool, reason: str, message: str, old: dict[str, Obj],
               now: str) -> Obj:
    status = "True" if ok else "False"
    before = old.get(kind) or {}
    since = before.get("lastTransitionTime") if before.get("status") == status else None
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": since or now}
    if not ok and reason:
        cond["reason"] = reason
        cond["message"] = message
    return cond


def conditions(pod: Obj, inits: list[View], apps: list[View], pod_phase: str, *,
               sandbox_ready: bool, now: str) -> list[Obj]:
    """The kubelet's five conditions, keeping each one's lastTransitionTime while it holds."""
    old = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or ()}
    done = pod_phase in (SUCCEEDED, FAILED)
    pending_init = [v.name for v in inits if not is_sidecar(v.spec) and not v.succeeded
                    and not (done or any(a.latest for a in apps))]
    sidecars = [v for v in inits if is_sidecar(v.spec)]
    unready = [v.name for v in [*sidecars, *apps] if not v.ready]
    gates = [g.get("conditionType") for g in
             (pod.get("spec") or {}).get("readinessGates") or ()]
    gates_ok = all((old.get(g) or {}).get("status") == "True" for g in gates)
    if done:
        ready_reason, ready_message = "PodCompleted", ""
    else:
        ready_reason = "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]"
    out = [
        _condition("PodReadyToStartContainers", sandbox_ready and not done, "", "", old, now),
        _condition("Initialized", not pending_init, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(pending_init)}]", old, now),
        _condition("Ready", not unready and not done and gates_ok, ready_reason,
                   ready_message, old, now),
        _condition("ContainersReady", not unready and not done, ready_reason, ready_message,
                   old, now),
        _condition("PodScheduled", True, "", "", old, now),
    ]
    if done and pending_init:
        out[1] = _condition("Initialized", True, "", "", old, now)
    return out


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        limits = {k: v for k, v in (resources.get("limits") or {}).items()
                  if k in ("cpu", "memory")}
        requests = {k: v for k, v in (resources.get("requests") or {}).items()
                    if k in ("cpu", "memory")}
        if limits or requests:
            any_set = True
        if set(limits) != {"cpu", "memory"} or any(
                requests.get(k, limits[k]) != limits[k] for k in limits):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
