"""Pure helpers of the deployment controller: kube's ``pkg/controller/deployment/util``
(``deployment_util.go``) over plain JSON objects — the pod-template hash, the rolling-update
fenceposts, revisions and annotations, conditions and the status a Deployment should show.

Standard library only; no I/O. Times are Unix seconds passed in, so tests need no clock.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timezone
from typing import Any

from servers.controller_manager.controllers import objects as o

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"  # apps/v1 DefaultDeploymentUniqueLabelKey
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# skipCopyAnnotation: these never go from the Deployment to its ReplicaSets.
NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                        MAX_REPLICAS, ROLLBACK_TO})
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

PROGRESSING, AVAILABLE, REPLICA_FAILURE = "Progressing", "Available", "ReplicaFailure"
# Reasons (deployment_util.go).
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"

# k8s.io/apimachinery/pkg/util/rand: SafeEncodeString's alphabet (no vowels, no 0/1/3).
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# -- the pod-template hash ---------------------------------------------------------------------

def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """``controller.ComputeHash``: FNV-32a of the template, then the collision count, the
    decimal of the sum mapped into ``_ALPHANUMS``. kube hashes a spew dump of the Go struct,
    which JSON cannot reproduce; km hashes canonical JSON, so the same template always gives
    the same name, and names differ from kube's."""
    data = json.dumps(_semantic(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += int(collision_count & 0xFFFFFFFF).to_bytes(4, "little")
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in str(value))


def _semantic(value: Any) -> Any:
    """``value`` without null members: Go decodes a null and a missing field alike (a
    template's ``creationTimestamp: null``, which kubectl's ``rollout undo`` sends back)."""
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _without_hash(template: Obj) -> Obj:
    labels = o.labels(template)
    if HASH_LABEL not in labels:
        return template
    clone = copy.copy(template)
    clone["metadata"] = {**o.meta(template),
                         "labels": {k: v for k, v in labels.items() if k != HASH_LABEL}}
    return clone


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """``EqualIgnoreHash``: the templates are equal but for the pod-template-hash label
    (compared as Go's semantic equality would: nulls as missing)."""
    return bool(_semantic(_without_hash(a)) == _semantic(_without_hash(b)))


# -- numbers -------------------------------------------------------------------------------------

def replicas(obj: Obj) -> int:
    value = o.spec(obj).get("replicas")
    return 1 if value is None else int(value)


def rs_status(rs: Obj, field: str) -> int:
    return int(o.status(rs).get(field) or 0)


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or "N%" of ``total``."""
    if isinstance(value, int):
        return value
    text = str(value or "0")
    if not text.endswith("%"):
        return int(text)
    exact = int(text[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def is_rolling(d: Obj) -> bool:
    return (o.spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def fenceposts(d: Obj) -> tuple[int, int]:
    """``ResolveFenceposts``: (surge, unavailable); both 0 makes unavailable 1."""
    rolling = (o.spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 0), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


def total_spec(rss: list[Obj]) -> int:
    return sum(replicas(rs) for rs in rss)


def total_status(rss: list[Obj], field: str) -> int:
    return sum(rs_status(rs, field) for rs in rss)


def active(rss: list[Obj]) -> list[Obj]:
    """``FilterActiveReplicaSets``: those with spec.replicas > 0."""
    return [rs for rs in rss if replicas(rs) > 0]


# -- order ---------------------------------------------------------------------------------------

def by_creation(rs: Obj) -> tuple[str, str]:
    """``ReplicaSetsByCreationTimestamp`` (ties by name)."""
    return str(o.meta(rs).get("creationTimestamp") or ""), o.name(rs)


def revision(obj: Obj) -> int:
    """The revision annotation as a number (0 when missing or not a number)."""
    text = (o.meta(obj).get("annotations") or {}).get(REVISION)
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def by_revision(rs: Obj) -> tuple[int, str, str]:
    return (revision(rs), *by_creation(rs))


def find_new(d: Obj, rss: list[Obj]) -> Obj | None:
    """``FindNewReplicaSet``: the oldest RS whose template equals the Deployment's."""
    template = o.spec(d).get("template") or {}
    for rs in sorted(rss, key=by_creation):
        if equal_ignore_hash(o.spec(rs).get("template") or {}, template):
            return rs
    return None


# -- annotations ---------------------------------------------------------------------------------

def copy_annotations(d: Obj, rs: Obj) -> bool:
    """``copyDeploymentAnnotationsToReplicaSet``; True if ``rs`` changed."""
    target = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in (o.meta(d).get("annotations") or {}).items():
        if key in NOT_COPIED or target.get(key) == value:
            continue
        target[key] = value
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    """``SetReplicasAnnotations``; True if they changed."""
    target = rs.setdefault("metadata", {}).setdefault("annotations", {})
    wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(maximum)}
    if all(target.get(k) == v for k, v in wanted.items()):
        return False
    target.update(wanted)
    return True


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = o.meta(rs).get("annotations") or {}
    return (annotations.get(DESIRED_REPLICAS) != str(desired)
            or annotations.get(MAX_REPLICAS) != str(maximum))


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """``SetNewReplicaSetAnnotations``: copy the Deployment's annotations, raise the revision
    (keeping the ones it had in revision-history: a rollback reused this RS) and, for an RS
    about to be created, the replicas annotations. True if ``rs`` changed."""
    changed = copy_annotations(d, rs)
    annotations = rs["metadata"]["annotations"]
    old_text = annotations.get(REVISION)
    try:
        old = int(old_text) if old_text else 0
    except ValueError:
        return changed
    if old < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old_text:
            _append_history(annotations, old_text)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def _append_history(annotations: dict[str, str], old: str) -> None:
    history = [r for r in (annotations.get(REVISION_HISTORY) or "").split(",") if r]
    history.append(old)
    while len(",".join(history)) > MAX_REV_HISTORY_CHARS and len(history) > 1:
        history.pop(0)
    annotations[REVISION_HISTORY] = ",".join(history)


def set_deployment_revision(d: Obj, value: str) -> bool:
    annotations = d.setdefault("metadata", {}).setdefault("annotations", {})
    if annotations.get(REVISION) == value:
        return False
    annotations[REVISION] = value
    return True


# -- conditions ----------------------------------------------------------------------------------

def stamp(now: float) -> str:
    """metav1.Time as JSON: RFC 3339 in seconds."""
    return datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or () if c.get("type") == type_), None)


def new_condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    when = stamp(now)
    return {"type": type_, "status": status, "lastUpdateTime": when,
            "lastTransitionTime": when, "reason": reason, "message": message}


def set_condition(status: Obj, condition: Obj) -> None:
    """``SetDeploymentCondition``: unchanged status and reason keep the old one; the same
    status keeps its lastTransitionTime; the condition goes last."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"]:
        if current.get("reason") == condition["reason"]:
            return
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: Obj, type_: str) -> None:
    kept = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    deadline = o.spec(d).get("progressDeadlineSeconds")
    return deadline is not None and int(deadline) != MAX_INT32


# -- status --------------------------------------------------------------------------------------

def calculate_status(all_rss: list[Obj], new_rs: Obj | None, d: Obj, now: float) -> Obj:
    """``calculateStatus``: counts summed over the RSs, the Available condition."""
    available = total_status(all_rss, "availableReplicas")
    status: Obj = {
        "observedGeneration": o.meta(d).get("generation", 0),
        "replicas": total_status(all_rss, "replicas"),
        "updatedReplicas": rs_status(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": total_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total_spec(all_rss) - available),
    }
    old = o.status(d)
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.",
                                            now))
    return status


def complete(d: Obj, status: Obj) -> bool:
    """``DeploymentComplete``: every replica updated and available, the spec observed."""
    want = replicas(d)
    return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0) >= o.meta(d).get("generation", 0))


def progressing(d: Obj, new: Obj) -> bool:
    """``DeploymentProgressing``: more updated, ready or available pods, or fewer old ones."""
    old = o.status(d)
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or new_old < old_old
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def timed_out(d: Obj, status: Obj, now: float) -> bool:
    """``DeploymentTimedOut``: no progress since the Progressing condition's last update for
    progressDeadlineSeconds."""
    if not has_progress_deadline(d):
        return False
    condition = get_condition(status, PROGRESSING)
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    since = o.seconds_since(condition.get("lastUpdateTime"), now)
    deadline = int(o.spec(d).get("progressDeadlineSeconds") or 0)
    return since is not None and since > deadline


def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """``NewRSNewReplicas``: how far the new RS may grow now."""
    want = replicas(d)
    if not is_rolling(d):
        return want
    current = total_spec(all_rss)
    most = want + max_surge(d)
    if current >= most:
        return replicas(new_rs)
    return replicas(new_rs) + min(most - current, want - replicas(new_rs))


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """``IsSaturated``: the RS has all the Deployment's replicas, all available."""
    if rs is None:
        return False
    desired = (o.meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
    want = replicas(d)
    return (replicas(rs) == want and desired == str(want)
            and rs_status(rs, "availableReplicas") == want)


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """``GetProportion``: this RS's share of a scaling of the whole Deployment."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: Obj, d: Obj) -> int:
    if replicas(d) == 0:
        return -replicas(rs)
    whole = replicas(d) + max_surge(d)
    text = (o.meta(rs).get("annotations") or {}).get(MAX_REPLICAS)
    try:
        annotated = int(text) if text else int(o.status(d).get("replicas") or 0)
    except ValueError:
        annotated = int(o.status(d).get("replicas") or 0)
    if annotated == 0:
        return 0
    size = replicas(rs) * whole / annotated
    return math.floor(size + 0.5) - replicas(rs)  # integer.RoundToInt32
