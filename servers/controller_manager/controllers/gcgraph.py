"""The garbage collector's graph of owners and dependents, kept from informer events.

As ``pkg/controller/garbagecollector/graph_builder.go``: one node per object uid (its
identity, its ownerReferences, whether it is being deleted and with which finalizers), each
owner knowing its dependents. Owners that were never observed become *virtual* nodes, to
be checked against the apiserver (an owner deleted while the controller-manager was down is
found this way). The builder only enqueues uids:

* ``attempt_to_delete``: a dependent whose owner disappeared or is deleting in the
  foreground; an owner in foreground deletion (its blocking dependents changed); a virtual
  node to verify;
* ``attempt_to_orphan``: an owner being deleted with the ``orphan`` finalizer.

Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from servers.controller_manager.controllers import objects as o

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.client.resources import ResourceRef

Obj = dict[str, Any]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass
class Node:
    """One object in the graph (``observed`` False: known only as someone's owner)."""

    uid: str
    api_version: str
    kind: str
    name: str
    namespace: str
    owners: list[Obj] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)
    deleting: bool = False
    finalizers: tuple[str, ...] = ()
    observed: bool = True

    def deleting_dependents(self) -> bool:
        return self.deleting and FOREGROUND in self.finalizers

    def blocking(self, owner_uid: str) -> bool:
        """Whether this dependent's reference to ``owner_uid`` blocks its deletion."""
        return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") is True
                   for r in self.owners)


class Graph:
    """Owners and dependents by uid; ``enqueue_delete``/``enqueue_orphan`` take uids."""

    def __init__(self, enqueue_delete: Callable[[str], None],
                 enqueue_orphan: Callable[[str], None]) -> None:
        self.nodes: dict[str, Node] = {}
        self.enqueue_delete = enqueue_delete
        self.enqueue_orphan = enqueue_orphan

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    # -- events -------------------------------------------------------------------------------

    def observe(self, resource: ResourceRef, obj: Obj) -> None:
        """An object was added or changed."""
        uid = o.uid(obj)
        if not uid:
            return
        node = self.nodes.get(uid)
        owners = [dict(r) for r in o.owner_references(obj)]
        finalizers = tuple(str(f) for f in o.meta(obj).get("finalizers") or ())
        if node is None:
            node = Node(uid, obj.get("apiVersion") or resource.api_version,
                        obj.get("kind") or resource.kind, o.name(obj), o.namespace(obj))
            self.nodes[uid] = node
        elif not node.observed:  # a virtual owner turned out to exist
            node.observed = True
            node.api_version = obj.get("apiVersion") or resource.api_version
            node.kind = obj.get("kind") or resource.kind
        old_owners = node.owners
        was_deleting_dependents = node.deleting_dependents()
        node.deleting, node.finalizers = o.deleting(obj), finalizers
        node.owners = owners
        self._relink(node, old_owners, owners)
        if node.deleting and ORPHAN in finalizers:
            self.enqueue_orphan(uid)
        if node.deleting_dependents():
            if not was_deleting_dependents:
                for dependent in node.dependents:  # foreground: dependents go first
                    self.enqueue_delete(dependent)
            self.enqueue_delete(uid)

    def forget(self, obj: Obj) -> None:
        """An object was deleted: its dependents may now be garbage."""
        uid = o.uid(obj)
        node = self.nodes.pop(uid, None)
        if node is None:
            return
        self._relink(node, node.owners, [])
        for dependent in node.dependents:
            self.enqueue_delete(dependent)
        if node.dependents:  # dependents still point here: keep it as a known-absent owner
            self.nodes[uid] = Node(uid, node.api_version, node.kind, node.name,
                                   node.namespace, dependents=set(node.dependents),
                                   observed=False)

    def forget_virtual(self, uid: str) -> None:
        """A virtual owner was verified absent: drop it and requeue its dependents."""
        node = self.nodes.get(uid)
        if node is None or node.observed:
            return
        del self.nodes[uid]
        for dependent in node.dependents:
            self.enqueue_delete(dependent)

    # -- links ------------------------------------------------------------------------------

    def _relink(self, node: Node, old: list[Obj], new: list[Obj]) -> None:
        old_uids = {str(r.get("uid")) for r in old}
        new_uids = {str(r.get("uid")) for r in new}
        for owner_uid in old_uids - new_uids:
            owner = self.nodes.get(owner_uid)
            if owner is None:
                continue
            owner.dependents.discard(node.uid)
            if owner.deleting_dependents():
                self.enqueue_delete(owner_uid)  # one blocking dependent fewer
            if not owner.observed and not owner.dependents:
                del self.nodes[owner_uid]
        for ref in new:
            owner_uid = str(ref.get("uid"))
            owner = self.nodes.get(owner_uid)
            if owner is None:
                owner = Node(owner_uid, str(ref.get("apiVersion", "")), str(ref.get("kind", "")),
                             str(ref.get("name", "")), node.namespace, observed=False)
                self.nodes[owner_uid] = owner
                self.enqueue_delete(owner_uid)  # verify it exists
            owner.dependents.add(node.uid)
            if owner.deleting_dependents() and owner_uid not in old_uids:
                self.enqueue_delete(owner_uid)
