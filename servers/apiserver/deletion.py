"""Deletion rules: preconditions, grace periods for bound pods, finalizers, propagation.

A pod bound to a node is not deleted at once: it gets deletionTimestamp and
deletionGracePeriodSeconds and waits for its kubelet's final delete (grace period 0). An
object with finalizers waits for them to be removed. Everything else goes at once.

A DELETE's ``propagationPolicy`` (or the older ``orphanDependents``) becomes the garbage
collector's finalizers, as kube's generic store does (``deletionFinalizersForGarbageCollection``
in staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go): Foreground adds
``foregroundDeletion``, Orphan adds ``orphan``, Background neither; without a policy the
object's own finalizers decide, then the kind's default (Orphan for core/v1
ReplicationControllers and batch/v1 Jobs, "for back compatibility"). A repeated DELETE of an
object being deleted rewrites those finalizers and keeps its deletionTimestamp.

Namespaces are deleted in two steps (pkg/registry/core/namespace/storage/storage.go): the
first DELETE only marks them Terminating; the namespace controller empties them and removes
``spec.finalizers`` through ``namespaces/NAME/finalize``, and the namespace goes when both
finalizer lists are empty.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from servers.apimachinery import errors, field
from servers.apimachinery.meta import Obj, format_rfc3339, now_rfc3339
from servers.apimachinery.validation import is_qualified_name
from servers.apiserver.resources import Resource
from servers.apiserver.routing import Target

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
KUBERNETES = "kubernetes"  # the namespace controller's spec.finalizers token
POLICIES = ("Foreground", "Background", "Orphan")
STANDARD_FINALIZERS = (KUBERNETES, ORPHAN, FOREGROUND)  # core/helper IsStandardFinalizerName
# DefaultGarbageCollectionPolicy of kube's strategies for the versions km serves:
# pkg/registry/core/replicationcontroller/strategy.go (v1) and pkg/registry/batch/job/
# strategy.go (batch/v1) answer OrphanDependents; apps/v1 kinds and batch/v1 CronJobs
# DeleteDependents; events Unsupported (pkg/registry/core/event/strategy.go).
ORPHAN_BY_DEFAULT = frozenset({("", "replicationcontrollers"), ("batch", "jobs")})
GC_UNSUPPORTED = frozenset({("", "events"), ("events.k8s.io", "events")})
# plugin/pkg/admission/namespace/lifecycle: immortalNamespaces.
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
TERMINATING_MESSAGE = ("unable to create new content in namespace {} because it is being "
                       "terminated")


def parse_options(body: Obj, query: Any) -> Obj:
    """DeleteOptions from a body and the query (kube takes both); 422 on a bad policy, as
    ``ValidateDeleteOptions``."""
    options = dict(body)
    policy = query.get("propagationPolicy")
    if policy is not None:
        options["propagationPolicy"] = policy
    orphan = query.get("orphanDependents")
    if orphan is not None:
        options["orphanDependents"] = orphan.lower() == "true"
    causes = []
    policy = options.get("propagationPolicy")
    if options.get("orphanDependents") is not None and policy is not None:
        causes.append(field.invalid("propagationPolicy", policy,
                                    "orphanDependents and deletionPropagation cannot be both set"))
    if policy is not None and policy not in POLICIES:
        causes.append(field.not_supported("propagationPolicy", policy, (*POLICIES, "nil")))
    if options.get("orphanDependents") not in (None, True, False):
        raise errors.BadRequest("DeleteOptions.orphanDependents must be a boolean")
    if causes:
        raise errors.Invalid("DeleteOptions", "", causes, group="meta.k8s.io")
    return options


def gc_finalizers(resource: Resource, finalizers: list[str], options: Obj) -> list[str]:
    """The finalizers after a DELETE with ``options``: the GC's two rewritten, others kept."""
    if (resource.group, resource.plural) in GC_UNSUPPORTED:
        return finalizers
    new = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if _should_orphan(resource, finalizers, options):
        new.append(ORPHAN)
    if _should_foreground(finalizers, options):
        new.append(FOREGROUND)
    return finalizers if set(new) == set(finalizers) else new


def _should_orphan(resource: Resource, finalizers: list[str], options: Obj) -> bool:
    # store.go shouldOrphanDependents: the request, then the object, then the kind.
    if options.get("orphanDependents") is not None:
        return bool(options["orphanDependents"])
    if options.get("propagationPolicy") is not None:
        return bool(options["propagationPolicy"] == "Orphan")
    for name in finalizers:
        if name in (ORPHAN, FOREGROUND):
            return name == ORPHAN
    return (resource.group, resource.plural) in ORPHAN_BY_DEFAULT


def _should_foreground(finalizers: list[str], options: Obj) -> bool:
    # store.go shouldDeleteDependents.
    if options.get("orphanDependents") is not None:
        return False
    if options.get("propagationPolicy") is not None:
        return bool(options["propagationPolicy"] == "Foreground")
    return FOREGROUND in finalizers


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
                return obj  # pending: finalizers are not rewritten (rest.BeforeDelete)
        _set_gc_finalizers(resource, meta, options)
        try:
            until = datetime.now(timezone.utc) + timedelta(seconds=grace)
        except OverflowError:  # beyond year 9999
            raise errors.BadRequest(f"gracePeriodSeconds is too large: {grace}") from None
        meta["deletionTimestamp"] = format_rfc3339(until)
        meta["deletionGracePeriodSeconds"] = grace
        return obj
    _set_gc_finalizers(resource, meta, options)
    if meta.get("finalizers"):
        # store.go markAsDeleting: the first mark bumps generation; a later one keeps the
        # timestamp.
        if not meta.get("deletionTimestamp"):
            if meta.get("generation", 0) > 0 and resource.plural != "pods":
                meta["generation"] += 1
            meta["deletionTimestamp"] = now_rfc3339()
        meta["deletionGracePeriodSeconds"] = 0
        return obj
    return None


def _set_gc_finalizers(resource: Resource, meta: Obj, options: Obj) -> None:
    current = list(meta.get("finalizers") or [])
    new = gc_finalizers(resource, current, options)
    if new is not current:
        if new:
            meta["finalizers"] = new
        else:
            meta.pop("finalizers", None)


def check_namespace_delete(name: str) -> None:
    """403 for the namespaces kube never deletes (NamespaceLifecycle admission)."""
    if name in IMMORTAL_NAMESPACES:
        raise errors.Forbidden("namespaces", name, "this namespace may not be deleted")


def mark_namespace(ns: Obj, options: Obj) -> Obj | None:
    """The first DELETE of a namespace: deletionTimestamp, phase Terminating, the GC
    finalizers as the options say (namespace storage.go Delete). None when it already is
    terminating: then the ordinary delete applies (see ``namespace_pending``)."""
    meta = ns["metadata"]
    if meta.get("deletionTimestamp"):
        return None
    meta["deletionTimestamp"] = now_rfc3339()
    ns.setdefault("status", {})["phase"] = "Terminating"
    current = list(meta.get("finalizers") or [])
    wanted = {ORPHAN: _namespace_orphans(options, ORPHAN in current),
              FOREGROUND: _namespace_foreground(options, FOREGROUND in current)}
    new = [f for f in current if f not in wanted] + [f for f, on in wanted.items() if on]
    if new:
        meta["finalizers"] = new
    else:
        meta.pop("finalizers", None)
    return ns


def validate_spec_finalizers(names: Any) -> list[field.Cause]:
    """A namespace's spec.finalizers (core validation.go validateFinalizerName): qualified
    names, and an unqualified one must be a standard finalizer."""
    if names is None:
        return []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return [field.invalid("spec.finalizers", names, "must be a list of strings")]
    causes = []
    for i, name in enumerate(names):
        path = f"spec.finalizers[{i}]"
        causes += [field.invalid(path, name, m) for m in is_qualified_name(name)]
        if "/" not in name and name not in STANDARD_FINALIZERS:
            causes.append(field.invalid(
                path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return causes


def namespace_pending(resource: Resource, obj: Obj) -> bool:
    """A terminating namespace whose spec.finalizers are not done: a DELETE answers it as it
    is and writes nothing (namespace storage.go Delete)."""
    return resource.plural == "namespaces" and not resource.group and bool(
        obj["metadata"].get("deletionTimestamp")) and bool((obj.get("spec") or {}).get(
            "finalizers"))


def _namespace_orphans(options: Obj, has: bool) -> bool:
    if options.get("orphanDependents") is not None:
        return bool(options["orphanDependents"])
    if options.get("propagationPolicy") is not None:
        return bool(options["propagationPolicy"] == "Orphan")
    return has


def _namespace_foreground(options: Obj, has: bool) -> bool:
    if options.get("orphanDependents") is not None:
        return not options["orphanDependents"]
    if options.get("propagationPolicy") is not None:
        return bool(options["propagationPolicy"] == "Foreground")
    return has


def delete_on_update(resource: Resource, obj: Obj) -> bool:
    """An update that empties the finalizers of an object being deleted deletes it
    (store.go ShouldDeleteDuringUpdate; namespaces also need empty spec.finalizers)."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers") or graceful_pod(resource, obj):
        return False
    return not (resource.plural == "namespaces" and (obj.get("spec") or {}).get("finalizers"))


def keep_namespace_finalizers(resource: Resource, subresource: str, current: Obj,
                              new: Obj) -> None:
    """spec.finalizers of a namespace change only through ``/finalize`` (namespace
    strategy.go PrepareForUpdate), and its finalize keeps all else."""
    if resource.plural != "namespaces" or resource.group:
        return
    if subresource == "finalize":
        wanted = (new.get("spec") or {}).get("finalizers")
        new.clear()
        new.update(copy.deepcopy(current))
        new.setdefault("spec", {})["finalizers"] = wanted
        if not wanted:
            del new["spec"]["finalizers"]
        return
    spec = new.setdefault("spec", {})
    old = (current.get("spec") or {}).get("finalizers")
    if isinstance(spec, dict):
        if old:
            spec["finalizers"] = old
        else:
            spec.pop("finalizers", None)


def grace_period(resource: Resource, obj: Obj, options: Obj) -> int:
    grace = options.get("gracePeriodSeconds")
    if grace is None and resource.plural == "pods":
        grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    if not isinstance(grace, int) or isinstance(grace, bool):
        return 0
    return max(grace, 0)
