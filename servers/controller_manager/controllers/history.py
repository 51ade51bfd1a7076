"""history: ControllerRevisions, the saved pod templates of StatefulSets and DaemonSets.

After ``pkg/controller/history/controller_history.go`` and the two users of it
(``pkg/controller/statefulset/stateful_set_utils.go``, ``pkg/controller/daemon/update.go``):

* a revision's ``data`` is the strategic merge patch that puts the template back,
  ``{"spec": {"template": {..., "$patch": "replace"}}}`` — the very body ``kubectl rollout
  undo`` sends, so an undo is the apiserver's ordinary patch;
* it is named ``PARENT-HASH``, labelled with the template's labels plus
  ``controller-revision-hash: HASH``, carries the parent's annotations (``kubectl rollout
  history`` reads ``kubernetes.io/change-cause`` there) and is controlled by the parent;
* ``revision`` numbers grow: a template the parent had before gets its old revision back,
  renumbered as the newest (a rollback), instead of a copy;
* a name taken by a revision with other data is a hash collision: the parent's
  ``status.collisionCount`` grows and the hash is taken again;
* the history is cut to ``spec.revisionHistoryLimit`` (default 10) revisions besides the
  live ones (the current and update revisions and any a pod still carries), oldest first.

Unlike kube, revisions are not adopted by selector: a revision left without its controller
(an orphaning delete) stays an orphan.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, Conflict, NotFound
from servers.client.resources import CONTROLLERREVISIONS
from servers.controller_manager.controllers import objects as o

if TYPE_CHECKING:
    from servers.client.informer import Informer
    from servers.client.rest import Client

Obj = dict[str, Any]
log = logging.getLogger(__name__)

REVISION_LABEL = "controller-revision-hash"
DEFAULT_HISTORY_LIMIT = 10
# kube truncates the parent's name so that NAME-HASH stays a valid object name.
_NAME_PREFIX_MAX = 223
_MAX_COLLISIONS = 20


def template_patch(parent: Obj) -> Obj:
    """The revision data of ``parent``: a patch that replaces its pod template."""
    template = copy.deepcopy(o.spec(parent).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def hash_of(revision: Obj) -> str:
    return o.labels(revision).get(REVISION_LABEL, "")


def history_limit(parent: Obj) -> int:
    limit = o.spec(parent).get("revisionHistoryLimit")
    return DEFAULT_HISTORY_LIMIT if limit is None else max(int(limit), 0)


def collision_count(parent: Obj) -> int:
    return int(o.status(parent).get("collisionCount") or 0)


def new_revision(parent: Obj, data: Obj, revision: int, digest: str) -> Obj:
    """A ControllerRevision of ``parent`` holding ``data`` (``NewControllerRevision``)."""
    template = o.spec(parent).get("template") or {}
    labels = dict(o.labels(template))
    labels[REVISION_LABEL] = digest
    metadata: Obj = {"name": f"{o.name(parent)[:_NAME_PREFIX_MAX]}-{digest}",
                     "namespace": o.namespace(parent), "labels": labels,
                     "ownerReferences": [o.new_controller_ref(parent)]}
    annotations = o.meta(parent).get("annotations")
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": metadata,
            "data": data, "revision": revision}


def next_number(revisions: list[Obj]) -> int:
    return max((number(r) for r in revisions), default=0) + 1


class History:
    """ControllerRevisions by their controller, kept from an informer; written through
    the client."""

    def __init__(self, client: Client, informer: Informer) -> None:
        self.client = client
        self.informer = informer
        self._by_owner: dict[str, dict[str, Obj]] = {}
        informer.add_handler(self._add, self._update, self._delete)

    def _add(self, revision: Obj) -> None:
        owner = (o.controller_ref(revision) or {}).get("uid")
        if owner:
            self._by_owner.setdefault(owner, {})[o.uid(revision)] = revision

    def _update(self, old: Obj, new: Obj) -> None:
        self._delete(old)
        self._add(new)

    def _delete(self, revision: Obj) -> None:
        owner = (o.controller_ref(revision) or {}).get("uid")
        mine = self._by_owner.get(owner or "")
        if mine is not None:
            mine.pop(o.uid(revision), None)
            if not mine:
                del self._by_owner[owner or ""]

    def of(self, parent: Obj) -> list[Obj]:
        """``parent``'s revisions, oldest first (by number, then name)."""
        mine = self._by_owner.get(o.uid(parent), {}).values()
        return sorted(mine, key=lambda r: (number(r), o.name(r)))

    async def record(self, parent: Obj, revisions: list[Obj], digest_of: Any
                     ) -> tuple[Obj, int]:
        """The revision for ``parent``'s template now: the newest one if it already holds
        it, an older one renumbered as the newest (a rollback), else a new one. Returns it
        and the collision count it was named under (more than the parent's status says
        when a name was taken by other data).

        ``digest_of(parent, data, collisions)`` names the data (a StatefulSet hashes its
        revision data, a DaemonSet its template, as kube's two controllers do)."""
        data = template_patch(parent)
        collisions = collision_count(parent)
        equal = [r for r in revisions if r.get("data") == data]
        if equal:
            found = equal[-1]
            if revisions and found is revisions[-1]:
                return found, collisions
            renumbered = await self._renumber(found, next_number(revisions))
            return renumbered, collisions
        wanted = next_number(revisions)
        for _ in range(_MAX_COLLISIONS):
            body = new_revision(parent, data, wanted, digest_of(parent, data, collisions))
            try:
                made = await self.client.create(CONTROLLERREVISIONS, body, o.namespace(parent))
                return made, collisions
            except AlreadyExists:
                taken = await self._get(body)
                if taken is not None and taken.get("data") == data and \
                        (o.controller_ref(taken) or {}).get("uid") == o.uid(parent):
                    return taken, collisions  # our own, not yet in the cache
                collisions += 1
        msg = f"{o.name(parent)}: no free ControllerRevision name after {collisions} collisions"
        raise Conflict(msg)

    async def truncate(self, parent: Obj, revisions: list[Obj], live: set[str]) -> None:
        """Delete the oldest revisions not in ``live`` (names) past the parent's limit."""
        spare = [r for r in revisions if o.name(r) not in live]
        for revision in spare[:max(len(spare) - history_limit(parent), 0)]:
            try:
                await self.client.delete(CONTROLLERREVISIONS, o.name(revision),
                                         o.namespace(revision), uid=o.uid(revision))
            except (NotFound, Conflict):
                continue

    async def _renumber(self, revision: Obj, to: int) -> Obj:
        log.info("ControllerRevision %s/%s: revision %d becomes %d", o.namespace(revision),
                 o.name(revision), number(revision), to)
        return await self.client.patch(CONTROLLERREVISIONS, o.name(revision),
                                       {"revision": to}, namespace=o.namespace(revision))

    async def _get(self, body: Obj) -> Obj | None:
        try:
            return await self.client.get(CONTROLLERREVISIONS, body["metadata"]["name"],
                                         body["metadata"]["namespace"])
        except NotFound:
            return None
