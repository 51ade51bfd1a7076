"""What the scheduler writes to the apiserver: bindings, the PodScheduled condition, victims.

* ``bind`` — ``POST pods/NAME/binding`` (``DefaultBinder``, ``pkg/scheduler/framework/plugins/
  defaultbinder``); a 409 saying the pod is already on the chosen node is success (a retry
  after an apiserver restart whose first answer was lost), any other 409 or a 404 means the pod
  is no longer ours (bound by another scheduler, being deleted, gone);
* ``set_unschedulable`` — the ``PodScheduled=False`` condition (and ``nominatedNodeName``) by a
  strategic merge patch of ``pods/NAME/status``, skipped when the pod already says the same
  (``updatePod`` in ``schedule_one.go``);
* ``delete_victim`` — a preemption victim marked ``DisruptionTarget`` and deleted gracefully
  (its default grace period), with the uid as precondition so a namesake is never hit.

Errors other than the ones named propagate: ``ApiUnavailable`` and ``StatusError``.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound
from servers.client.resources import PODS

if TYPE_CHECKING:
    from servers.client.rest import Client

Obj = dict[str, Any]

BOUND, GONE = "bound", "gone"
UNSCHEDULABLE_REASON = "Unschedulable"
ERROR_REASON = "SchedulerError"
_ASSIGNED = re.compile(r'already assigned to node "([^"]*)"')


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def bind(client: Client, pod: Obj, node: str) -> str:
    """Bind ``pod`` to ``node``: ``BOUND`` (done, now or before) or ``GONE`` (not ours)."""
    meta = pod["metadata"]
    binding = {"apiVersion": "v1", "kind": "Binding",
               "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                            "uid": meta.get("uid")},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
    try:
        await client.create(PODS, binding, meta["namespace"], subresource="binding")
    except NotFound:
        return GONE
    except Conflict as exc:
        match = _ASSIGNED.search(str(exc))
        return BOUND if match and match.group(1) == node else GONE
    return BOUND


def pod_scheduled_condition(pod: Obj) -> Obj | None:
    """The pod's ``PodScheduled`` condition, if it has one."""
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == "PodScheduled":
            return condition
    return None


def needs_status_update(pod: Obj, reason: str, message: str, nominated: str | None) -> bool:
    """Whether the condition or nominatedNodeName would change (``updatePod`` skips if not)."""
    current = pod_scheduled_condition(pod) or {}
    same = (current.get("status") == "False" and current.get("reason") == reason
            and current.get("message") == message)
    old_nominated = (pod.get("status") or {}).get("nominatedNodeName") or None
    return not same or (nominated is not None and nominated != old_nominated)


async def set_unschedulable(client: Client, pod: Obj, reason: str, message: str,
                            nominated: str | None = None) -> bool:
    """Patch ``PodScheduled=False`` (reason, message) and the nominated node onto the pod's
    status; ``False`` when nothing needed changing or the pod is gone."""
    if not needs_status_update(pod, reason, message, nominated):
        return False
    current = pod_scheduled_condition(pod) or {}
    transition = current.get("lastTransitionTime") if current.get("status") == "False" else None
    status: Obj = {"conditions": [{
        "type": "PodScheduled", "status": "False", "lastProbeTime": None,
        "lastTransitionTime": transition or _now(), "reason": reason, "message": message}]}
    if nominated is not None:
        status["nominatedNodeName"] = nominated
    meta = pod["metadata"]
    try:
        await client.patch(PODS, meta["name"], {"status": status}, patch_type="strategic",
                           namespace=meta["namespace"], subresource="status")
    except NotFound:
        return False
    return True


async def clear_nomination(client: Client, pod: Obj) -> None:
    """Remove ``status.nominatedNodeName`` (the pod went elsewhere or is gone)."""
    meta = pod["metadata"]
    with contextlib.suppress(NotFound):
        await client.patch(PODS, meta["name"], {"status": {"nominatedNodeName": None}},
                           patch_type="strategic", namespace=meta["namespace"],
                           subresource="status")


async def delete_victim(client: Client, victim: Obj, scheduler_name: str) -> bool:
    """Mark a preemption victim (the ``DisruptionTarget`` condition, reason
    ``PreemptionByScheduler``, as kube's ``prepareCandidate``) and delete it gracefully;
    ``False`` if it was already gone."""
    meta = victim["metadata"]
    condition = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": _now(), "reason": "PreemptionByScheduler",
                 "message": f"{scheduler_name}: preempting to accommodate a higher priority "
                 "pod"}
    try:
        await client.patch(PODS, meta["name"], {"status": {"conditions": [condition]}},
                           patch_type="strategic", namespace=meta["namespace"],
                           subresource="status")
        await client.delete(PODS, meta["name"], meta["namespace"], uid=meta.get("uid"))
    except (NotFound, Conflict):
        return False
    return True
