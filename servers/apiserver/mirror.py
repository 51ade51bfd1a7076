"""An in-apiserver informer: list one resource from the registry, then follow its watch.

The apiserver keeps a few objects at hand for its own decisions: the RBAC policy
(``authz.cache``), the Node authorizer's pod graph (``authz.nodegraph``) and the bootstrap
token Secrets (``app``, for ``auth.bootstrap``). Each is a ``Mirror`` over the registry, and so over
the shared watch cache: no storage read per request. A watch that ends (compaction, a watcher
that fell behind, the store restarting) is followed by a fresh list, so a mirror never misses
a change for long. ``synced()`` returns once the first list is in.

    mirror = Mirror(registry, target, sink, "node graph")   # sink: replace, put, remove
    mirror.start(); await mirror.synced(); ...; await mirror.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

from servers.apimachinery import errors
from servers.apiserver import stored
from servers.apiserver.storage import interface as st

if TYPE_CHECKING:
    from servers.apiserver.registry import Registry
    from servers.apiserver.routing import Target

__all__ = ["RETRY_SECONDS", "Mirror", "Sink"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5  # between a watch's end and the next list

Obj = dict[str, Any]


class Sink(Protocol):
    """What a mirror keeps current: all objects at once after a list, then one by one."""

    def replace(self, items: list[Obj]) -> None: ...
    def put(self, obj: Obj) -> None: ...
    def remove(self, obj: Obj) -> None: ...


class Mirror:
    """Fills ``sink`` with ``target``'s objects; ``what`` names it in the log."""

    def __init__(self, registry: Registry, target: Target, sink: Sink, what: str) -> None:
        self.registry = registry
        self.target = target
        self.sink = sink
        self.what = what
        self._listed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def synced(self) -> None:
        """Return once the first list has reached the sink."""
        await self._listed.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        from servers.apiserver.registry import Filter  # the registry's admission imports authz

        while True:
            try:
                found = await self.registry.list(self.target, Filter())
                self.sink.replace(found["items"])
                self._listed.set()
                await self._follow(int(found["metadata"]["resourceVersion"]))
            except (st.Compacted, st.WatchClosed, st.Unavailable, errors.StatusError) as exc:
                log.info("%s: %s watch ended (%s); listing again", self.what,
                         self.target.resource.plural, exc)
            await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self, rev: int) -> None:
        async for batch in self.registry.watch(self.target, rev):
            for event in batch:
                obj = stored.decode(event.kv)
                if event.type == "DELETE":
                    self.sink.remove(obj)
                else:
                    self.sink.put(obj)
