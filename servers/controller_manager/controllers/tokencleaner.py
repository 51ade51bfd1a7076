"""tokencleaner: delete bootstrap token Secrets once they expire (kube's
``pkg/controller/bootstrap/tokencleaner.go``).

Watches Secrets of type ``bootstrap.kubernetes.io/token`` in kube-system (the apiserver's
field selector on ``type``); an expired one (its ``expiration`` passed, or no RFC 3339 time)
is deleted with its uid as the precondition, one not yet expired is looked at again when it
expires. A token without ``expiration`` lives until someone deletes it. Off unless named in
--controllers (``tokencleaner``), as in kube.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import Conflict, NotFound
from servers.apiserver.auth import bootstrap as bt
from servers.client.resources import ResourceRef
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "token-cleaner-controller"
SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")


class TokenCleaner:
    """Deletes expired bootstrap token Secrets, each when it expires."""

    def __init__(self, ctx: Context) -> None:
        self.name = "tokencleaner"
        self.client = ctx.client
        self.secrets = ctx.factory.informer(SECRETS, namespace=bt.NAMESPACE,
                                            field_selector=f"type={bt.SECRET_TYPE}")
        self.queue = ctx.queue("token_cleaner")
        self.secrets.add_handler(self._enqueue, lambda _, new: self._enqueue(new), None)

    def _enqueue(self, secret: Obj) -> None:
        self.queue.add((secret.get("metadata") or {}).get("name", ""))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.secrets):
            return
        await run_workers(self.queue, self.sync, 1, stop)

    async def sync(self, name: str, now: datetime.datetime | None = None) -> None:
        secret = self.secrets.get(name, bt.NAMESPACE)
        if secret is None or secret.get("type") != bt.SECRET_TYPE:
            return
        moment = now or datetime.datetime.now(datetime.timezone.utc)
        ends = bt.expiration(secret)
        if ends is None:
            return
        if moment <= ends:  # again when it ends (kube's AddAfter)
            self.queue.add_after(name, (ends - moment).total_seconds() + 1)
            return
        try:
            await self.client.delete(SECRETS, name, bt.NAMESPACE,
                                     uid=(secret.get("metadata") or {}).get("uid"))
        except (NotFound, Conflict):
            return
        log.info("deleted expired bootstrap token secret %s/%s", bt.NAMESPACE, name)


def new(ctx: Context) -> TokenCleaner:
    return TokenCleaner(ctx)
