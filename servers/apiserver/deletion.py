"""Deletion rules: preconditions, grace periods for bound pods, finalizers.

A pod bound to a node is not deleted at once: it gets deletionTimestamp and
deletionGracePeriodSeconds and waits for its kubelet's final delete (grace period 0). An
object with finalizers waits for them to be removed. Everything else goes at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from servers.apimachinery import errors
from servers.apimachinery.meta import Obj, format_rfc3339, now_rfc3339
from servers.apiserver.resources import Resource
from servers.apiserver.routing import Target


def check_preconditions(target: Target, obj: Obj, pre: Obj) -> None:
    meta = obj["metadata"]
    uid, rv = pre.get("uid"), pre.get("resourceVersion")
    if uid and uid != meta.get("uid"):
        raise errors.Conflict(target.resource.plural, target.name,
                              f"Precondition failed: UID in precondition: {uid}, UID in object "
                              f"meta: {meta.get('uid')}", group=target.resource.group)
    if rv and rv != meta.get("resourceVersion"):
        raise errors.Conflict(target.resource.plural, target.name,
                              f"Precondition failed: ResourceVersion in precondition: {rv}, "
                              f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
                              group=target.resource.group)


def graceful_pod(resource: Resource, obj: Obj) -> bool:
    """A bound pod waits for its kubelet; an unbound one goes at once (as in Kubernetes)."""
    return resource.plural == "pods" and bool((obj.get("spec") or {}).get("nodeName")) and (
        obj["metadata"].get("deletionGracePeriodSeconds", 0) > 0)


def mark_for_deletion(resource: Resource, obj: Obj, options: Obj) -> Obj | None:
    """The object marked with deletionTimestamp, or None when it can be deleted now."""
    meta = obj["metadata"]
    grace = grace_period(resource, obj, options)
    bound_pod = resource.plural == "pods" and (obj.get("spec") or {}).get("nodeName")
    if bound_pod and grace > 0:
        if meta.get("deletionTimestamp"):
            current = meta.get("deletionGracePeriodSeconds", grace)
            if grace >= current:
                return obj
        try:
            until = datetime.now(timezone.utc) + timedelta(seconds=grace)
        except OverflowError:  # beyond year 9999
            raise errors.BadRequest(f"gracePeriodSeconds is too large: {grace}") from None
        meta["deletionTimestamp"] = format_rfc3339(until)
        meta["deletionGracePeriodSeconds"] = grace
        return obj
    if meta.get("finalizers"):
        meta.setdefault("deletionTimestamp", now_rfc3339())
        meta.setdefault("deletionGracePeriodSeconds", 0)
        return obj
    return None


def grace_period(resource: Resource, obj: Obj, options: Obj) -> int:
    grace = options.get("gracePeriodSeconds")
    if grace is None and resource.plural == "pods":
        grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    if not isinstance(grace, int) or isinstance(grace, bool):
        return 0
    return max(grace, 0)
