"""Keep an RBAC ``Policy`` current: list each RBAC resource, then follow its watch.

One loop per resource, like an informer, over the registry (and so the shared watch cache):
no storage read per request. A watch that ends (compaction, a watcher that fell behind, the
store restarting) is followed by a fresh list, so the policy never misses a change for long.
``synced()`` returns once every resource has been listed; the authorization middleware awaits
it, so no request is judged by a half-loaded policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from servers.apimachinery import errors
from servers.apiserver import resources, stored
from servers.apiserver.authz.rbac import PLURALS, Policy
from servers.apiserver.registry import Filter, Registry
from servers.apiserver.routing import Target
from servers.apiserver.storage import interface as st

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5


class PolicyCache:
    """Runs the list-and-watch loops that fill ``policy``."""

    def __init__(self, registry: Registry, policy: Policy) -> None:
        self.registry = registry
        self.policy = policy
        self._tasks: list[asyncio.Task[None]] = []
        self._listed: list[asyncio.Event] = []

    def start(self) -> None:
        for plural in PLURALS:
            resource = resources.by_plural(resources.RBAC, "v1", plural)
            assert resource is not None, plural
            listed = asyncio.Event()
            self._listed.append(listed)
            self._tasks.append(asyncio.create_task(self._run(Target(resource, None), listed)))

    async def synced(self) -> None:
        """Return once every RBAC resource has been listed at least once."""
        for listed in self._listed:
            await listed.wait()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, target: Target, listed: asyncio.Event) -> None:
        plural = target.resource.plural
        while True:
            try:
                found = await self.registry.list(target, Filter())
                self.policy.replace(plural, found["items"])
                listed.set()
                await self._follow(target, int(found["metadata"]["resourceVersion"]))
            except (st.Compacted, st.WatchClosed, st.Unavailable, errors.StatusError) as exc:
                log.info("rbac cache: %s watch ended (%s); listing again", plural, exc)
            await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self, target: Target, rev: int) -> None:
        plural = target.resource.plural
        async for batch in self.registry.watch(target, rev):
            for event in batch:
                obj = stored.decode(event.kv)
                if event.type == "DELETE":
                    self.policy.remove(plural, obj)
                else:
                    self.policy.put(plural, obj)
