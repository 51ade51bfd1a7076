"""namespace: empty a namespace being deleted, then release it (``pkg/controller/namespace``).

A DELETE of a namespace only marks it (deletionTimestamp, phase Terminating; the apiserver
refuses new content in it). This controller, after ``deletion/namespaced_resources_deleter.go``:

1. waits 5 s after the namespace event (``namespaceDeletionGracePeriod``: late creates
   accepted by another apiserver land first), then reads the namespace live;
2. discovers every namespaced resource with ``delete`` (preferred versions) and, for each,
   deletes the collection (or each item when ``deletecollection`` is not served) with
   propagationPolicy Background, then lists what is left, metadata only;
3. records the outcome in five conditions (``deletion/status_condition_utils.go``: a
   failure's reason and message, else the "ok" ones);
4. when something is left it comes back later: after half the pods' grace estimate (+1 s),
   or 15 s for content held by finalizers; otherwise it removes ``kubernetes`` from
   spec.finalizers through ``namespaces/NAME/finalize``, and the apiserver deletes the
   namespace once no finalizer is left.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound, StatusError
from servers.apimachinery.meta import now_rfc3339
from servers.client.errors import ClientError
from servers.client.resources import NAMESPACES, PODS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "namespace-controller"
FINALIZER = "kubernetes"
DELETION_GRACE = 5.0  # namespace_controller.go namespaceDeletionGracePeriod
FINALIZER_ESTIMATE = 15  # namespaced_resources_deleter.go finalizerEstimateSeconds
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
# status_condition_utils.go: each condition type with its "ok" reason and message.
CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered",
     "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions",
     "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers",
     "All content-preserving finalizers finished"),
)


@dataclass(frozen=True)
class Kind:
    """A namespaced resource as discovery lists it."""

    group: str
    version: str
    plural: str
    verbs: frozenset[str]

    def path(self, namespace: str, name: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}" + (f"/{name}" if name else "")

    def __str__(self) -> str:  # Go's GroupVersionResource.String()
        return f"{self.group}/{self.version}, Resource={self.plural}"


@dataclass
class Outcome:
    """What one pass over a namespace's content found (kube's allGVRDeletionMetadata)."""

    estimate: int = 0
    discovery_failures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)
    finalizers: collections.Counter[str] = field(default_factory=collections.Counter)


async def discover(client: Any) -> tuple[list[Kind], dict[str, str]]:
    """Namespaced resources with ``delete``, preferred versions; failing groups apart (they
    do not stop the others, as kube's ServerPreferredNamespacedResources)."""
    kinds = _kinds("", "v1", await client.request("GET", "/api/v1"))
    failures: dict[str, str] = {}
    for group in (await client.request("GET", "/apis")).get("groups") or ():
        version = (group.get("preferredVersion") or {}).get("version")
        if not version:
            continue
        try:
            kinds += _kinds(group["name"], version,
                            await client.request("GET", f"/apis/{group['name']}/{version}"))
        except (StatusError, ClientError) as exc:
            failures[f"{group['name']}/{version}"] = str(exc)
    return kinds, failures


def _kinds(group: str, version: str, listing: Obj) -> list[Kind]:
    return [Kind(group, version, r["name"], frozenset(r.get("verbs") or ()))
            for r in listing.get("resources") or ()
            if "/" not in r.get("name", "/") and r.get("namespaced")
            and "delete" in (r.get("verbs") or ())]


def conditions(outcome: Outcome, old: list[Obj]) -> list[Obj]:
    """The five conditions for ``outcome``; an unchanged one keeps its transition time."""
    failing = _failing(outcome)
    now = now_rfc3339()
    result = []
    for kind, ok_reason, ok_message in CONDITIONS:
        status, reason, message = failing.get(kind, ("False", ok_reason, ok_message))
        before = next((c for c in old if c.get("type") == kind), None)
        if before is not None and (before.get("status"), before.get("reason"),
                                   before.get("message")) == (status, reason, message):
            result.append(before)
            continue
        result.append({"type": kind, "status": status, "lastTransitionTime": now,
                       "reason": reason, "message": message})
    return result


def _failing(outcome: Outcome) -> dict[str, tuple[str, str, str]]:
    failing = {}
    if outcome.discovery_failures:
        groups = ", ".join(sorted(f"{gv}: {err}" for gv, err
                                  in outcome.discovery_failures.items()))
        failing["NamespaceDeletionDiscoveryFailure"] = (
            "True", "DiscoveryFailed",
            f"Discovery failed for some groups, {len(outcome.discovery_failures)} failing: "
            f"unable to retrieve the complete list of server APIs: {groups}")
    if outcome.errors:
        failing["NamespaceDeletionContentFailure"] = (
            "True", "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(outcome.errors)} remaining: "
            f"{_aggregate(outcome.errors)}")
    if outcome.remaining:
        left = ", ".join(sorted(f"{resource} has {n} resource instances"
                                for resource, n in outcome.remaining.items()))
        failing["NamespaceContentRemaining"] = (
            "True", "SomeResourcesRemain", f"Some resources are remaining: {left}")
    if outcome.finalizers:
        held = ", ".join(sorted(f"{name} in {n} resource instances"
                                for name, n in outcome.finalizers.items()))
        failing["NamespaceFinalizersRemaining"] = (
            "True", "SomeFinalizersRemain",
            f"Some content in the namespace has finalizers remaining: {held}")
    return failing


def _aggregate(messages: list[str]) -> str:
    # utilerrors.NewAggregate(...).Error(): one error as it is, more in brackets.
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


class NamespaceController:
    """Deletes the content of terminating namespaces; see the module docstring."""

    def __init__(self, ctx: Context, *, workers: int, grace: float = DELETION_GRACE) -> None:
        self.name = "namespace"
        self.client = ctx.client
        self.workers, self.grace = workers, grace
        self.namespaces = ctx.factory.informer(NAMESPACES)
        # kube's nsControllerRateLimiter: 5 ms doubling to 60 s.
        self.queue = ctx.queue("namespace", base_delay=5e-3, max_delay=60.0)
        self.namespaces.add_handler(self._enqueue, lambda _, new: self._enqueue(new), None)

    def _enqueue(self, ns: Obj) -> None:
        if o.deleting(ns):  # only namespaces being deleted are this controller's
            self.queue.add_after(o.name(ns), self.grace)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.namespaces):
            return
        await run_workers(self.queue, self.sync, self.workers, stop)

    async def sync(self, name: str) -> None:
        """One pass over namespace ``name`` (kube's namespacedResourcesDeleter.Delete)."""
        try:
            ns = await self.client.get(NAMESPACES, name)  # live: others edit it meanwhile
            if not o.deleting(ns):
                return
            ns = await self._terminating(ns)
            if FINALIZER not in (o.spec(ns).get("finalizers") or ()):
                return  # finalized already
            estimate = await self.delete_content(ns)
            if estimate > 0:
                log.info("namespace %s: content remaining, back in %ds", name,
                         estimate // 2 + 1)
                self.queue.add_after(name, estimate // 2 + 1)
                return
            await self._finalize(ns)
        except NotFound:
            return  # gone: nothing left to do

    async def _terminating(self, ns: Obj) -> Obj:
        if o.status(ns).get("phase") == "Terminating":
            return ns
        ns.setdefault("status", {})["phase"] = "Terminating"
        updated: Obj = await self.client.update(NAMESPACES, ns, "status")
        return updated

    async def _finalize(self, ns: Obj) -> None:
        names = sorted(set(o.spec(ns).get("finalizers") or ()) - {FINALIZER})
        ns["spec"] = {**o.spec(ns), "finalizers": names}
        await self.client.update(NAMESPACES, ns, "finalize")
        log.info("namespace %s: content deleted, finalized", o.name(ns))

    async def delete_content(self, ns: Obj) -> int:
        """Delete everything in ``ns``; the seconds to wait for what is left (0: done).
        Raises when something failed (the key is retried with backoff)."""
        outcome = Outcome()
        try:
            kinds, outcome.discovery_failures = await discover(self.client)
        except (StatusError, ClientError) as exc:
            kinds, outcome.discovery_failures = [], {"v1": str(exc)}
        deleted_at = _parse_time(o.meta(ns).get("deletionTimestamp"))
        for kind in kinds:
            try:
                await self._delete_kind(kind, o.name(ns), deleted_at, outcome)
            except (StatusError, ClientError) as exc:  # go on with the others, as kube
                outcome.errors.append(str(exc))
        await self._record(ns, outcome)
        problems = outcome.errors + list(outcome.discovery_failures.values())
        if problems:
            raise RuntimeError(_aggregate(problems))
        return outcome.estimate

    async def _delete_kind(self, kind: Kind, namespace: str, deleted_at: datetime | None,
                           outcome: Outcome) -> None:
        """kube's deleteAllContentForGroupVersionResource."""
        estimate = 0
        if (kind.group, kind.plural) == ("", "pods"):
            estimate = await self._pods_estimate(namespace, deleted_at)
        if "deletecollection" in kind.verbs:
            await self.client.request("DELETE", kind.path(namespace), body=BACKGROUND)
        elif "list" in kind.verbs:
            for item in await self._list(kind, namespace):
                await self._delete_one(kind, namespace, o.name(item))
        outcome.estimate = max(outcome.estimate, estimate)
        if "list" not in kind.verbs:
            return
        left = await self._list(kind, namespace)
        if not left:
            return
        held = collections.Counter(f for item in left for f in o.meta(item).get("finalizers")
                                   or ())
        outcome.remaining[f"{kind.plural}.{kind.group}"] = len(left)
        outcome.finalizers.update(held)
        if not estimate and held:
            outcome.estimate = max(outcome.estimate, FINALIZER_ESTIMATE)
        elif not estimate:
            outcome.errors.append(f"unexpected items still remain in namespace: {namespace} "
                                  f"for gvr: {kind}")

    async def _list(self, kind: Kind, namespace: str) -> list[Obj]:
        listed = await self.client.request("GET", kind.path(namespace), accept=METADATA_LIST)
        return list(listed.get("items") or ())

    async def _delete_one(self, kind: Kind, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.client.request("DELETE", kind.path(namespace, name), body=BACKGROUND)

    async def _pods_estimate(self, namespace: str, deleted_at: datetime | None) -> int:
        """The longest grace period of the pods still running (estimateGracefulTermination),
        0 once that long has passed since the namespace's deletion."""
        pods = (await self.client.list(PODS, namespace)).get("items") or ()
        estimate = max((int(o.spec(p).get("terminationGracePeriodSeconds") or 0)
                        for p in pods if o.phase(p) not in (o.SUCCEEDED, o.FAILED)), default=0)
        if deleted_at is not None and (
                datetime.now(timezone.utc) - deleted_at).total_seconds() >= estimate:
            return 0
        return estimate

    async def _record(self, ns: Obj, outcome: Outcome) -> None:
        old = list(o.status(ns).get("conditions") or ())
        new = conditions(outcome, old)
        if new == old:
            return
        ns.setdefault("status", {})["conditions"] = new
        try:
            updated = await self.client.update(NAMESPACES, ns, "status")
            ns["metadata"] = updated["metadata"]
        except (StatusError, ClientError) as exc:  # kube: HandleError, and goes on
            log.info("namespace %s: updating its conditions: %s", o.name(ns), exc)


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def new(ctx: Context) -> NamespaceController:
    return NamespaceController(ctx, workers=ctx.opts.concurrent_namespace_syncs)
