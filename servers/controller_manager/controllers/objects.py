"""Small readers of plain JSON objects that several controllers share (stdlib only).

Pod readiness and activity as ``k8s.io/kubernetes/pkg/api/v1/pod/util.go`` and
``pkg/controller/controller_utils.go`` decide them; owner references as
``k8s.io/apimachinery/pkg/apis/meta/v1/controller_ref.go``; times as metav1.Time.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from servers.apimachinery.meta import parse_rfc3339

Obj = dict[str, Any]

SUCCEEDED, FAILED, PENDING, RUNNING, UNKNOWN = "Succeeded", "Failed", "Pending", "Running", \
    "Unknown"


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def spec(obj: Obj) -> Obj:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def status(obj: Obj) -> Obj:
    value = obj.get("status")
    return value if isinstance(value, dict) else {}


def labels(obj: Obj) -> dict[str, str]:
    value = meta(obj).get("labels")
    return value if isinstance(value, dict) else {}


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def name(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def namespace(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def owner_references(obj: Obj) -> list[Obj]:
    refs = meta(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any (``GetControllerOf``)."""
    return next((r for r in owner_references(obj) if r.get("controller") is True), None)


def new_controller_ref(owner: Obj) -> Obj:
    """An ownerReference to ``owner`` as controller, blocking its foreground deletion."""
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": name(owner), "uid": uid(owner), "controller": True,
            "blockOwnerDeletion": True}


def condition(obj: Obj, type_: str) -> Obj | None:
    conditions = status(obj).get("conditions")
    if not isinstance(conditions, list):
        return None
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == type_),
                None)


def phase(pod: Obj) -> str:
    return str(status(pod).get("phase") or "")


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True (``podutil.IsPodReady``)."""
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def is_active(pod: Obj) -> bool:
    """Neither terminal nor being deleted (``controller.IsPodActive``)."""
    return phase(pod) not in (SUCCEEDED, FAILED) and not deleting(pod)


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def seconds_since(text: object, now: float) -> float | None:
    moment = parse_time(text)
    return None if moment is None else now - moment.timestamp()


def ready_for(pod: Obj, min_ready_seconds: float, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (``podutil.IsPodAvailable``)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    ready = condition(pod, "Ready") or {}
    since = seconds_since(ready.get("lastTransitionTime"), now)
    return since is not None and since >= min_ready_seconds


def log2_bucket(seconds: float | None) -> int:
    """``int(log2(seconds))`` as kube's LogarithmicScaleDown compares ages (-1 for none)."""
    if seconds is None or seconds < 1:
        return -1
    return int(math.log2(seconds))


def rfc3339_nano(seconds: float) -> str:
    """Go's RFC3339Nano of a Unix time (trailing zeros of the fraction dropped)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"
