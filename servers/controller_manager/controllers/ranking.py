"""Which pods a scale-down removes first: kube's ``ActivePodsWithRanks`` order.

``pkg/controller/controller_utils.go`` sorts candidates so the least valuable come first;
each rule only breaks the ties the one before left:

1. unassigned before assigned;
2. Pending, then Unknown, then Running;
3. not ready before ready;
4. lower ``controller.kubernetes.io/pod-deletion-cost`` first;
5. more sibling pods on the same node first (the rank);
6. ready for less time first (both ready; compared on a log2 scale of seconds);
7. more container restarts first;
8. newer first (log2 scale of age), then by uid.

Standard library only.
"""

from __future__ import annotations

from typing import Any

from servers.controller_manager.controllers import objects as o

Obj = dict[str, Any]

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {o.PENDING: 0, o.UNKNOWN: 1, o.RUNNING: 2}


def _deletion_cost(pod: Obj) -> int:
    text = (o.meta(pod).get("annotations") or {}).get(DELETION_COST)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


def _restarts(pod: Obj) -> int:
    statuses = o.status(pod).get("containerStatuses") or []
    counts = [int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)]
    return max(counts, default=0)


def deletion_key(pod: Obj, rank: int, now: float) -> tuple[Any, ...]:
    """A sort key: smaller means deleted sooner."""
    ready = o.is_ready(pod)
    ready_since = o.seconds_since((o.condition(pod, "Ready") or {}).get("lastTransitionTime"),
                                  now) if ready else None
    age = o.seconds_since(o.meta(pod).get("creationTimestamp"), now)
    return (
        1 if o.spec(pod).get("nodeName") else 0,
        _PHASE_ORDER.get(o.phase(pod), 0 if not o.phase(pod) else 1),
        1 if ready else 0,
        _deletion_cost(pod),
        -rank,
        o.log2_bucket(ready_since) if ready else 0,
        -_restarts(pod),
        o.log2_bucket(age),
        o.uid(pod),
    )


def pods_to_delete(active: list[Obj], count: int, now: float,
                   related: list[Obj] | None = None) -> list[Obj]:
    """The ``count`` least valuable of ``active``, ranked by how many ``related`` pods (by
    default ``active`` itself; for a Deployment's ReplicaSet, the pods of all its RSs, as
    kube's ``getIndirectlyRelatedPods``) share their node."""
    per_node: dict[str, int] = {}
    for pod in active if related is None else related:
        node = o.spec(pod).get("nodeName") or ""
        if node:
            per_node[node] = per_node.get(node, 0) + 1
    ranked = sorted(active, key=lambda pod: deletion_key(
        pod, per_node.get(o.spec(pod).get("nodeName") or "", 0), now))
    return ranked[:count]
