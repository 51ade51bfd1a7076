"""replicationcontroller: core/v1 ReplicationControllers over the generic replica controller.

As kube's ``pkg/controller/replication`` (``NewReplicationManager``), which runs the
ReplicaSet code with an RC adapter: the selector is a plain label map, the queue is
``replicationmanager`` and events come from ``replication-controller``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.selectors import NOTHING, LabelSelector, label_selector_from_dict
from servers.client.resources import REPLICATION_CONTROLLERS
from servers.controller_manager.controllers.replicaset import Kind, ReplicaController

if TYPE_CHECKING:
    from servers.controller_manager.controllers.base import Context

NAME = "replicationcontroller-controller"


def rc_selector(rc: dict[str, Any]) -> LabelSelector:
    """An RC's ``spec.selector`` map as a selector; an empty one selects nothing."""
    selector = (rc.get("spec") or {}).get("selector")
    if not isinstance(selector, dict) or not selector:
        return NOTHING
    return _selector(tuple(sorted((str(k), str(v)) for k, v in selector.items())))


@functools.lru_cache(maxsize=4096)
def _selector(pairs: tuple[tuple[str, str], ...]) -> LabelSelector:
    try:
        return label_selector_from_dict(dict(pairs))
    except BadRequest:  # the apiserver validates selectors; a bad one selects nothing
        return NOTHING


KIND = Kind(REPLICATION_CONTROLLERS, "replicationmanager", "replication-controller",
            rc_selector)


def new(ctx: Context) -> ReplicaController:
    return ReplicaController(ctx, KIND, workers=ctx.opts.concurrent_rc_syncs)
