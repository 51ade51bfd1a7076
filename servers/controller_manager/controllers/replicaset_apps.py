"""replicaset: apps/v1 ReplicaSets over the generic replica controller.

kube's ``pkg/controller/replicaset`` (``NewReplicaSetController``): the same sync as the
ReplicationController's (adoption, slow-start creates, least valuable pods deleted first,
status through /status), with a ``metav1.LabelSelector`` (matchLabels and set-based
matchExpressions), the queue ``replicaset`` and events from ``replicaset-controller``.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.selectors import NOTHING, LabelSelector, label_selector_from_object
from servers.client.resources import REPLICASETS
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.replicaset import Kind, ReplicaController

if TYPE_CHECKING:
    from servers.controller_manager.controllers.base import Context

NAME = "replicaset-controller"


def rs_selector(rs: dict[str, Any]) -> LabelSelector:
    """An RS's ``spec.selector``; a missing, empty or invalid one selects nothing (kube's
    controller refuses to manage pods with an empty selector)."""
    selector = (rs.get("spec") or {}).get("selector")
    if not isinstance(selector, dict) or not selector:
        return NOTHING
    return _selector(json.dumps(selector, sort_keys=True))


@functools.lru_cache(maxsize=4096)
def _selector(text: str) -> LabelSelector:
    try:
        return label_selector_from_object(json.loads(text))
    except BadRequest:
        return NOTHING


def siblings(rs: dict[str, Any], replicasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The RSs under the same controller as ``rs`` (a Deployment's other revisions), whose
    pods rank the deletions (``getIndirectlyRelatedPods``)."""
    ref = o.controller_ref(rs)
    if ref is None:
        return []
    return [other for other in replicasets if o.namespace(other) == o.namespace(rs)
            and (o.controller_ref(other) or {}).get("uid") == ref.get("uid")]


KIND = Kind(REPLICASETS, "replicaset", "replicaset-controller", rs_selector, siblings)


def new(ctx: Context) -> ReplicaController:
    return ReplicaController(ctx, KIND, workers=ctx.opts.concurrent_replicaset_syncs)
