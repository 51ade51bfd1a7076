"""Claiming pods for a controller: kube's ``ControllerRefManager.ClaimPods``
(``pkg/controller/controller_ref_manager.go``), shared by every pod-owning controller.

Of the pods in the owner's namespace: those another controller owns are never touched;
owned pods that still match are kept; owned pods that stop matching are released (the
owner's reference removed); matching orphans are adopted (the owner's controller reference
added), but only after one uncached read of the owner proves it still exists with the same
uid and is not being deleted (``RecheckDeletionTimestamp``) — so a cache that is behind never
lets a dying owner grab pods. Patches name the pod's uid, so they never reach a new pod of
the same name.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound, StatusError
from servers.client.informer import object_key
from servers.client.resources import PODS
from servers.controller_manager.controllers import objects as o

if TYPE_CHECKING:
    from servers.apimachinery.selectors import LabelSelector
    from servers.client.resources import ResourceRef

Obj = dict[str, Any]
log = logging.getLogger(__name__)


async def claim_pods(client: Any, resource: ResourceRef, owner: Obj, selector: LabelSelector,
                     pods: list[Obj]) -> list[Obj]:
    """The pods ``owner`` controls after adopting and releasing (see the module doc)."""
    owner_uid = o.uid(owner)
    claimed: list[Obj] = []
    fresh_checked: bool | None = None
    for pod in pods:
        ref = o.controller_ref(pod)
        matches = not selector.empty() and selector.matches(o.labels(pod))
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue  # another controller's pod
            if matches or o.deleting(owner) or await release(client, owner, pod) is False:
                claimed.append(pod)
            continue
        if not matches or o.deleting(pod) or o.deleting(owner):
            continue
        if fresh_checked is None:
            fresh_checked = await still_ours(client, resource, owner)
        if fresh_checked and await adopt(client, owner, pod):
            claimed.append(pod)
    return claimed


async def still_ours(client: Any, resource: ResourceRef, owner: Obj) -> bool:
    """``RecheckDeletionTimestamp``: an uncached read before adopting anything."""
    try:
        fresh = await client.get(resource, o.name(owner), o.namespace(owner))
    except NotFound:
        return False
    return bool(o.uid(fresh) == o.uid(owner) and not o.deleting(fresh))


async def adopt(client: Any, owner: Obj, pod: Obj) -> bool:
    """Add ``owner``'s controller reference to ``pod``; False if it could not be."""
    patch = {"metadata": {"ownerReferences": [o.new_controller_ref(owner)],
                          "uid": o.uid(pod)}}
    try:
        await client.patch(PODS, o.name(pod), patch, patch_type="strategic",
                           namespace=o.namespace(pod))
    except (NotFound, Conflict):
        return False  # gone, or someone else's meanwhile: the next sync sees it
    log.info("%s %s adopted pod %s", owner.get("kind"), object_key(owner), o.name(pod))
    return True


async def release(client: Any, owner: Obj, pod: Obj) -> bool | None:
    """Remove ``owner``'s reference from ``pod``: True, False (failed), None (pod gone)."""
    patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": o.uid(owner)}],
                          "uid": o.uid(pod)}}
    try:
        await client.patch(PODS, o.name(pod), patch, patch_type="strategic",
                           namespace=o.namespace(pod))
    except NotFound:
        return None
    except StatusError as exc:
        log.info("releasing pod %s: %s", o.name(pod), exc)
        return False
    log.info("%s %s released pod %s", owner.get("kind"), object_key(owner), o.name(pod))
    return True
