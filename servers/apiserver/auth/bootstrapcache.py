"""Keep ``BootstrapTokens`` current: list kube-system's Secrets, then follow their watch.

The shape of ``authz.cache.PolicyCache`` (kube's Secret informer and lister): one loop over
the registry and so the shared watch cache, a fresh list whenever the watch ends, and
``synced()`` for the apiserver to await before it serves, so no bootstrap token is refused
for want of a first list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from servers.apimachinery import errors
from servers.apiserver import resources, stored
from servers.apiserver.auth.bootstrap import NAMESPACE, BootstrapTokens
from servers.apiserver.registry import Filter, Registry
from servers.apiserver.routing import Target
from servers.apiserver.storage import interface as st

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5


class BootstrapTokenCache:
    """Runs the list-and-watch loop that fills ``tokens``."""

    def __init__(self, registry: Registry, tokens: BootstrapTokens | None = None) -> None:
        self.registry = registry
        self.tokens = tokens if tokens is not None else BootstrapTokens()
        self._listed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def synced(self) -> None:
        await self._listed.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        resource = resources.by_plural("", "v1", "secrets")
        assert resource is not None
        target = Target(resource, NAMESPACE)
        while True:
            try:
                found = await self.registry.list(target, Filter())
                self.tokens.replace(found["items"])
                self._listed.set()
                await self._follow(target, int(found["metadata"]["resourceVersion"]))
            except (st.Compacted, st.WatchClosed, st.Unavailable, errors.StatusError) as exc:
                log.info("bootstrap tokens: secrets watch ended (%s); listing again", exc)
            await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self, target: Target, rev: int) -> None:
        async for batch in self.registry.watch(target, rev):
            for event in batch:
                secret = stored.decode(event.kv)
                if event.type == "DELETE":
                    self.tokens.remove(secret)
                else:
                    self.tokens.put(secret)
