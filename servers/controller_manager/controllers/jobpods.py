"""What the Job controller reads off pods and writes into new ones (stdlib only, no I/O).

Behaviour from kubernetes ``pkg/controller/job``: ``job_controller.go`` (``isPodFailed``,
``getNewFinishedPods``, the job-tracking finalizer, ``pastBackoffLimitOnFailure``),
``indexed_job_utils.go`` (completion indexes, ``completedIndexes`` as compressed intervals,
the index annotation and label, the ``JOB_COMPLETION_INDEX`` variable that the kubelet
resolves from the annotation, the hostname ``<job>-<index>``), ``pod_failure_policy.go``
(``matchPodFailurePolicy``: the first matching rule wins) and ``backoff_utils.go`` (10 s
doubling per failure since the last success, capped at 10 minutes in 1.32).
"""

from __future__ import annotations

import copy
from typing import Any

from servers.controller_manager.controllers import objects as o

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
INDEX_ENV = "JOB_COMPLETION_INDEX"
# job_controller.go: DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff.
POD_FAILURE_BACKOFF = 10.0
MAX_POD_FAILURE_BACKOFF = 600.0


def tracked(pod: Obj) -> bool:
    """The pod still carries the job-tracking finalizer (not yet counted)."""
    return TRACKING_FINALIZER in (o.meta(pod).get("finalizers") or ())


def is_failed(pod: Obj, job: Obj) -> bool:
    """``isPodFailed``: Failed, or (without a pod failure policy and unless only Failed pods
    are replaced) being deleted before it succeeded, so orphans that never reach a phase
    still count."""
    phase = o.phase(pod)
    if phase == o.FAILED:
        return True
    spec = o.spec(job)
    if spec.get("podFailurePolicy") or spec.get("podReplacementPolicy") == "Failed":
        return False
    return o.deleting(pod) and phase != o.SUCCEEDED


def is_terminating(pod: Obj) -> bool:
    """Being deleted and not terminal yet (status.terminating)."""
    return o.deleting(pod) and o.phase(pod) not in (o.SUCCEEDED, o.FAILED)


def finish_time(pod: Obj, default: float) -> float:
    """When the pod ended: its containers' latest ``finishedAt``, else when it was deleted."""
    latest: float | None = None
    for status in _container_statuses(pod):
        terminated = (status.get("state") or {}).get("terminated") or {}
        moment = o.parse_time(terminated.get("finishedAt"))
        if moment is not None and (latest is None or moment.timestamp() > latest):
            latest = moment.timestamp()
    if latest is None:
        moment = o.parse_time(o.meta(pod).get("deletionTimestamp"))
        latest = moment.timestamp() if moment is not None else None
    return default if latest is None else latest


def _container_statuses(pod: Obj) -> list[Obj]:
    status = o.status(pod)
    return [s for key in ("initContainerStatuses", "containerStatuses")
            for s in status.get(key) or () if isinstance(s, dict)]


def backoff_remaining(failures: int, last_failure: float, now: float) -> float:
    """Seconds before the next pod may be created (``getRemainingTimeForFailuresCount``)."""
    if failures <= 0:
        return 0.0
    delay = POD_FAILURE_BACKOFF
    for _ in range(failures - 1):
        delay = min(delay * 2, MAX_POD_FAILURE_BACKOFF)
    return max(0.0, delay - (now - last_failure))


def restarts_past_limit(job: Obj, active: list[Obj]) -> bool:
    """``pastBackoffLimitOnFailure``: with restartPolicy OnFailure, container restarts
    count against the backoff limit."""
    template = o.spec(o.spec(job).get("template") or {})
    if template.get("restartPolicy") != "OnFailure":
        return False
    limit = int(o.spec(job).get("backoffLimit", 6) or 0)
    total = sum(int(s.get("restartCount") or 0) for p in active for s in _container_statuses(p))
    return total > 0 if limit == 0 else total >= limit


# -- pod failure policy -----------------------------------------------------------------------

def match_failure_policy(job: Obj, pod: Obj) -> tuple[str, str] | None:
    """The action (FailJob, Ignore, Count, FailIndex) of the first rule matching a failed
    pod and the message kube gives it; None when no rule matches (the pod counts)."""
    rules = (o.spec(job).get("podFailurePolicy") or {}).get("rules") or ()
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        action = str(rule.get("action") or "")
        on_codes = rule.get("onExitCodes")
        if isinstance(on_codes, dict):
            hit = _exit_code_match(pod, on_codes)
            if hit is not None:
                name, code = hit
                return action, (f"Container {name} for pod {o.namespace(pod)}/{o.name(pod)} "
                                f"failed with exit code {code} matching {action} rule at "
                                f"index {index}")
        for pattern in rule.get("onPodConditions") or ():
            if isinstance(pattern, dict) and _condition_match(pod, pattern):
                return action, (f"Pod {o.namespace(pod)}/{o.name(pod)} has condition "
                                f"{pattern.get('type')} matching {action} rule at index {index}")
    return None


def _exit_code_match(pod: Obj, requirement: Obj) -> tuple[str, int] | None:
    wanted = str(requirement.get("containerName") or "")
    values = {int(v) for v in requirement.get("values") or ()}
    negate = requirement.get("operator") == "NotIn"
    for status in _container_statuses(pod):
        terminated = (status.get("state") or {}).get("terminated")
        if not isinstance(terminated, dict) or (wanted and status.get("name") != wanted):
            continue
        code = int(terminated.get("exitCode") or 0)
        if code != 0 and (code in values) != negate:
            return str(status.get("name") or ""), code
    return None


def _condition_match(pod: Obj, pattern: Obj) -> bool:
    found = o.condition(pod, str(pattern.get("type") or ""))
    return found is not None and found.get("status") == pattern.get("status", "True")


# -- indexes ----------------------------------------------------------------------------------

def pod_index(pod: Obj) -> int | None:
    """The completion index of a pod of an Indexed Job (annotation, else label)."""
    for source in (o.meta(pod).get("annotations") or {}, o.labels(pod)):
        text = source.get(INDEX_KEY)
        if isinstance(text, str) and text.isdigit():
            return int(text)
    return None


def parse_intervals(text: object) -> set[int]:
    """``completedIndexes`` ("1,3-5,7") as a set."""
    found: set[int] = set()
    if not isinstance(text, str):
        return found
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            found.update(range(int(low), int(high or low) + 1))
    return found


def format_intervals(indexes: set[int]) -> str:
    """A set of indexes as kube's compressed intervals ("1,3-5,7")."""
    parts: list[str] = []
    ordered = sorted(indexes)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        low, high = ordered[start], ordered[end]
        parts.append(str(low) if low == high else f"{low}-{high}")
        start = end + 1
    return ",".join(parts)


# -- new pods ---------------------------------------------------------------------------------

def new_pod(job: Obj, index: int | None) -> Obj:
    """A pod of the Job's template, controlled by it and carrying the tracking finalizer;
    for an Indexed Job also its index (annotation, label, env, hostname)."""
    template = o.spec(job).get("template") or {}
    tmeta = o.meta(template)
    name = o.name(job)
    metadata: Obj = {"generateName": f"{name}-" if index is None else f"{name}-{index}-",
                     "ownerReferences": [o.new_controller_ref(job)]}
    for member in ("labels", "annotations"):
        if tmeta.get(member):
            metadata[member] = dict(tmeta[member])
    metadata["finalizers"] = [*(tmeta.get("finalizers") or ()), TRACKING_FINALIZER]
    spec = copy.deepcopy(o.spec(template))
    if index is not None:
        metadata.setdefault("annotations", {})[INDEX_KEY] = str(index)
        metadata.setdefault("labels", {})[INDEX_KEY] = str(index)
        if not spec.get("hostname"):
            spec["hostname"] = f"{name}-{index}"
        for member in ("initContainers", "containers"):
            for container in spec.get(member) or ():
                _add_index_env(container)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _add_index_env(container: Obj) -> None:
    env = container.setdefault("env", [])
    if any(isinstance(e, dict) and e.get("name") == INDEX_ENV for e in env):
        return
    env.append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}})
