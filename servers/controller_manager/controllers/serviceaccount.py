"""serviceaccount: a ``default`` ServiceAccount in every active namespace
(``pkg/controller/serviceaccount/serviceaccounts_controller.go``).

Namespaces added or updated, and ServiceAccounts deleted, enqueue their namespace; a sync
creates each ensured account the cache does not hold. Namespaces that are not Active get
nothing (they are being emptied), and an AlreadyExists or a NamespaceTerminating refusal is
no failure.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, StatusError
from servers.client.resources import NAMESPACES, SERVICEACCOUNTS
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import namespace_terminating, wait_synced

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "serviceaccount-controller"
# serviceaccounts_controller.go DefaultServiceAccountsControllerOptions.
ENSURED: tuple[Obj, ...] = ({"metadata": {"name": "default"}},)
WORKERS = 1  # kube runs it with one worker


class ServiceAccountsController:
    """Keeps the ensured ServiceAccounts in every active namespace."""

    def __init__(self, ctx: Context, *, workers: int = WORKERS) -> None:
        self.name = "serviceaccount"
        self.client = ctx.client
        self.workers = workers
        self.namespaces = ctx.factory.informer(NAMESPACES)
        self.accounts = ctx.factory.informer(SERVICEACCOUNTS)
        self.queue = ctx.queue("serviceaccount")
        self.namespaces.add_handler(self._namespace, lambda _, new: self._namespace(new), None)
        self.accounts.add_handler(None, None, self._account_deleted)

    def _namespace(self, ns: Obj) -> None:
        self.queue.add(o.name(ns))

    def _account_deleted(self, sa: Obj) -> None:
        if any(o.name(sa) == o.name(wanted) for wanted in ENSURED):
            self.queue.add(o.namespace(sa))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.namespaces, self.accounts):
            return
        await run_workers(self.queue, self.sync, self.workers, stop)

    async def sync(self, namespace: str) -> None:
        """Create what ``namespace`` lacks (kube's syncNamespace)."""
        ns = self.namespaces.get(namespace)
        if ns is None or o.status(ns).get("phase") != "Active":
            return
        for wanted in ENSURED:
            if self.accounts.get(o.name(wanted), namespace) is not None:
                continue
            try:
                await self.client.create(SERVICEACCOUNTS, copy.deepcopy(wanted), namespace)
            except AlreadyExists:
                continue
            except StatusError as exc:
                if not namespace_terminating(exc):
                    raise


def new(ctx: Context) -> ServiceAccountsController:
    return ServiceAccountsController(ctx)
