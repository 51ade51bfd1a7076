"""A pod's READY, STATUS and RESTARTS as ``kubectl get pods`` shows them.

The rules are kube-apiserver's ``printPod`` (k8s.io/kubernetes pkg/printers/internalversion/
printers.go at v1.32): STATUS starts as the phase (or ``status.reason``), init containers
report ``Init:N/M`` or ``Init:<reason>``, a container's waiting or terminated reason wins over
the phase (``ContainerCreating``, ``CrashLoopBackOff``, ``Completed``, ``Error``), and a pod
with a deletionTimestamp that has not finished is ``Terminating``. RESTARTS is
``3 (5m ago)`` once a container has restarted (formatted in ``kinds.printers``). Restartable
init containers (sidecars, ``restartPolicy: Always``) count as containers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.apimachinery.meta import parse_rfc3339

Obj = dict[str, Any]
_NODE_UNREACHABLE = "NodeLost"


class _Count:
    """Restarts, readiness and the latest restart time gathered over container statuses."""

    def __init__(self) -> None:
        self.restarts = 0
        self.ready = 0
        self.last_restart: datetime | None = None

    def add_restarts(self, status: Obj) -> None:
        self.restarts += int(status.get("restartCount") or 0)
        finished = ((status.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            moment = parse_rfc3339(finished)
            if self.last_restart is None or moment > self.last_restart:
                self.last_restart = moment


def _is_sidecar(container: Obj | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _terminated_reason(term: Obj, prefix: str = "") -> str:
    if term.get("reason"):
        return f"{prefix}{term['reason']}"
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _init_reason(pod: Obj, count: _Count, sidecars: _Count) -> str | None:
    """Walk init container statuses; return the STATUS while initializing, else None."""
    spec_inits = (pod.get("spec") or {}).get("initContainers") or []
    by_name = {c.get("name"): c for c in spec_inits}
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    for i, status in enumerate(statuses):
        count.add_restarts(status)
        sidecar = _is_sidecar(by_name.get(status.get("name")))
        if sidecar:
            sidecars.add_restarts(status)
        state = status.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting") or {}
        if term and term.get("exitCode", 0) == 0:
            continue
        if sidecar and status.get("started"):
            sidecars.ready += 1 if status.get("ready") else 0
            continue
        if term:
            return _terminated_reason(term, "Init:")
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{len(spec_inits)}"
    return None


def _condition_true(pod: Obj, kind: str) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _container_reason(pod: Obj, reason: str, count: _Count) -> str:
    """Walk container statuses, last to first as printPod does, updating ``count``."""
    running = False
    for status in reversed((pod.get("status") or {}).get("containerStatuses") or []):
        count.add_restarts(status)
        state = status.get("state") or {}
        waiting, term = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif term:
            reason = _terminated_reason(term)
        elif status.get("ready") and state.get("running") is not None:
            running = True
            count.ready += 1
    if reason == "Completed" and running:
        reason = "Running" if _condition_true(pod, "Ready") else "NotReady"
    return reason


def _base_reason(pod: Obj) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    return str(reason)


def _final_reason(pod: Obj, reason: str) -> str:
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return reason
    status = pod.get("status") or {}
    if status.get("reason") == _NODE_UNREACHABLE:
        return "Unknown"
    if status.get("phase") not in ("Succeeded", "Failed"):
        return "Terminating"
    return reason


def pod_summary(pod: Obj) -> tuple[str, str, int, datetime | None]:
    """``(READY, STATUS, restarts, last restart time)`` of a pod, e.g.
    ``("0/1", "CrashLoopBackOff", 4, <when the last run ended>)``."""
    spec = pod.get("spec") or {}
    total = len(spec.get("containers") or []) + sum(
        1 for c in spec.get("initContainers") or [] if _is_sidecar(c))
    count, sidecars = _Count(), _Count()
    reason = _base_reason(pod)
    init_reason = _init_reason(pod, count, sidecars)
    if init_reason is not None:
        reason = init_reason
    if init_reason is None or _condition_true(pod, "Initialized"):
        count = sidecars
        reason = _container_reason(pod, reason, count)
    else:
        count.ready = sidecars.ready
    return f"{count.ready}/{total}", _final_reason(pod, reason), count.restarts, count.last_restart


def readiness_gates(pod: Obj) -> str:
    """The READINESS GATES cell: ``<passed>/<gates>``, or ``<none>``."""
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status")
                  for c in (pod.get("status") or {}).get("conditions") or []}
    passed = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{passed}/{len(gates)}"


def row_conditions(pod: Obj) -> list[Obj] | None:
    """Table row conditions kube-apiserver adds for finished pods (``Completed``)."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None
