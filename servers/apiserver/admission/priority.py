"""The Priority admission plugin, and the apiserver's in-memory view of PriorityClasses.

On pod create it resolves ``spec.priorityClassName`` to ``spec.priority`` (and
``spec.preemptionPolicy``): the named class, else the global default class (whose name the
pod then carries), else priority 0 and PreemptLowerPriority. A class that does not exist, or a
client-set priority or preemption policy that disagrees with the class, is 403 Forbidden. On
pod update it keeps the stored priority when the new object leaves it out (validation forbids
changing it). On PriorityClass writes it keeps a second global default out, and the two
system classes cannot be deleted.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/admission/priority/admission.go
and pkg/registry/scheduling/priorityclass/storage/storage.go (Delete).

``PriorityClasses`` lists the classes once and then follows the registry's watch cache (as
kube's plugin reads an informer), so a pod create pays no storage read — except for a name it
does not know yet: that is read from storage once, so a class created a moment ago is found
before its watch event arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery import errors
from servers.apiserver import resources, stored
from servers.apiserver.kinds import priorityclass as pcs
from servers.apiserver.routing import Target
from servers.apiserver.storage import interface as st
from servers.apiserver.watchcache import WatchCache

if TYPE_CHECKING:
    from servers.apiserver.registry import Registry

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PREFIX = "/registry/priorityclasses/"
RETRY_SECONDS = 0.5


class PriorityClasses:
    """Every PriorityClass by name, kept current from storage and the watch cache.

    It always knows the two system classes, which every apiserver creates before it serves
    and which cannot be deleted.
    """

    def __init__(self, storage: st.Storage, watch_cache: WatchCache) -> None:
        self.storage = storage
        self.watch_cache = watch_cache
        self.classes: dict[str, Obj] = {name: pcs.system_class(name)
                                        for name in pcs.SYSTEM_CLASSES}
        self._synced: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """List the classes and follow their changes; returns once listed (cheap after).

        A first list that fails raises its error (storage unavailable: 503) and the next
        call tries again, so no request waits on a view that will never fill.
        """
        if self._task is None or self._task.done():
            self._synced = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._synced))
        assert self._synced is not None
        if not self._synced.done():
            await asyncio.shield(self._synced)
        elif self._synced.exception() is not None:
            raise self._synced.exception()  # type: ignore[misc]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def lookup(self, name: str) -> Obj | None:
        """The class ``name``, from the view or (when the view does not know it) storage."""
        found = self.classes.get(name)
        if found is not None:
            return found
        try:
            kv = await self.storage.get(PREFIX + name)
        except st.KeyNotFound:
            return None
        return stored.decode(kv)

    def global_default(self) -> Obj | None:
        """The global default class; of several (a race), the lowest value, as kube picks."""
        defaults = [pc for pc in self.classes.values() if pc.get("globalDefault")]
        return min(defaults, key=lambda pc: pc.get("value", 0)) if defaults else None

    async def _run(self, synced: asyncio.Future[None]) -> None:
        try:
            while True:
                try:
                    listed = await self.storage.list(PREFIX)
                    system = {name: pcs.system_class(name) for name in pcs.SYSTEM_CLASSES}
                    self.classes = system | {pc["metadata"]["name"]: pc
                                             for pc in map(stored.decode, listed.items)}
                    if not synced.done():
                        synced.set_result(None)
                    await self._follow(listed.revision)
                except (st.Compacted, st.WatchClosed, st.Unavailable) as exc:
                    if not synced.done():
                        raise
                    log.info("priority classes: watch ended (%s); listing again", exc)
                await asyncio.sleep(RETRY_SECONDS)
        except st.StorageError as exc:  # the first list failed: its waiters get the error
            if synced.done():
                raise
            synced.set_exception(exc)

    async def _follow(self, rev: int) -> None:
        async for batch in self.watch_cache.batches(PREFIX, rev):
            for event in batch:
                pc = stored.decode(event.kv)
                name = pc["metadata"]["name"]
                if event.type == "DELETE":
                    self.classes.pop(name, None)
                else:
                    self.classes[name] = pc


def _forbidden(resource: str, obj: Obj, why: str, group: str = "") -> errors.Forbidden:
    name = str((obj.get("metadata") or {}).get("name") or "")
    return errors.Forbidden(resource, name, why, group=group)


async def admit_pod_create(classes: PriorityClasses, pod: Obj) -> None:
    """Fill ``spec.priority`` and ``spec.preemptionPolicy`` of a new pod (403 on misuse)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("priorityClassName") or ""
    if name:
        if not isinstance(name, str):
            return  # validation says what is wrong with it
        pc = await classes.lookup(name)
        if pc is None:
            raise _forbidden("pods", pod, f"no PriorityClass with name {name} was found")
    else:
        pc = classes.global_default()
        if pc is not None:
            spec["priorityClassName"] = pc["metadata"]["name"]
    priority = pc.get("value", 0) if pc is not None else pcs.DEFAULT_PRIORITY
    policy = (pc.get("preemptionPolicy") if pc is not None else None) or \
        pcs.PREEMPT_LOWER_PRIORITY
    given = spec.get("priority")
    if given is not None and given != priority:
        raise _forbidden("pods", pod, f"the integer value of priority ({given}) must not be "
                         f"provided in pod spec; priority admission controller computed "
                         f"{priority} from the given PriorityClass name")
    spec["priority"] = priority
    given = spec.get("preemptionPolicy")
    if given is not None and given != policy:
        raise _forbidden("pods", pod, f"the string value of PreemptionPolicy ({given}) must "
                         f"not be provided in pod spec; priority admission controller "
                         f"computed {policy} from the given PriorityClass name")
    spec["preemptionPolicy"] = policy


def admit_pod_update(pod: Obj, old: Obj) -> None:
    """Keep the priority set at create when an update leaves it out."""
    spec, old_spec = pod.get("spec"), old.get("spec")
    if not isinstance(spec, dict) or not isinstance(old_spec, dict):
        return
    for member in ("priority", "preemptionPolicy"):
        if spec.get(member) is None and old_spec.get(member) is not None:
            spec[member] = old_spec[member]


def validate_class(classes: PriorityClasses, pc: Obj, old: Obj | None) -> None:
    """At most one global default: 403 for a second one (created, or an existing class
    marked default while another is)."""
    if not pc.get("globalDefault"):
        return
    current = classes.global_default()
    if current is None:
        return
    name = (pc.get("metadata") or {}).get("name")
    if old is None or current["metadata"]["name"] != name:
        raise _forbidden("priorityclasses", pc, f"PriorityClass {current['metadata']['name']} "
                         "is already marked as default. Only one default can exist",
                         pcs.GROUP)


def validate_delete(pc: Obj) -> None:
    """The system classes cannot be deleted (403)."""
    if (pc.get("metadata") or {}).get("name") in pcs.SYSTEM_CLASSES:
        raise _forbidden("priorityclasses", pc, "this is a system priority class and cannot be "
                         "deleted", pcs.GROUP)


async def ensure_system_classes(registry: Registry) -> None:
    """Create system-cluster-critical and system-node-critical unless they exist (at start,
    like kube-apiserver's scheduling post-start hook)."""
    resource = resources.by_plural(pcs.GROUP, "v1", "priorityclasses")
    assert resource is not None
    for name in pcs.SYSTEM_CLASSES:
        with contextlib.suppress(errors.AlreadyExists):
            await registry.create(Target(resource, None), pcs.system_class(name))
            log.info("created PriorityClass %s", name)
