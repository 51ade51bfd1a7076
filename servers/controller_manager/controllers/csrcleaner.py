"""csrcleaner: delete CertificateSigningRequests that have served their time (kube's
``pkg/controller/certificates/cleaner/cleaner.go``, its ages):

    approved and issued     1 hour after the Approved condition's lastUpdateTime
    denied, failed          1 hour after that condition's lastUpdateTime
    pending (no condition)  24 hours after creation
    issued                  once the certificate's notAfter has passed

Like kube's, it looks at every request at start and then every hour (``interval``), from the
informer's cache; a request that changes is looked at too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound
from servers.apimachinery.meta import parse_rfc3339
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import csrutil as cu
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "certificatesigningrequest-cleaner-controller"
POLLING_SECONDS = 3600.0
APPROVED_AGE = datetime.timedelta(hours=1)
DENIED_AGE = datetime.timedelta(hours=1)
PENDING_AGE = datetime.timedelta(hours=24)


def _older(text: Any, age: datetime.timedelta, now: datetime.datetime) -> bool:
    try:
        return bool(text) and now - parse_rfc3339(str(text)) > age
    except ValueError:
        return False


def _cert_expired(csr: Obj, now: datetime.datetime) -> bool:
    from cryptography import x509

    try:
        pem = base64.b64decode(str((csr.get("status") or {}).get("certificate") or ""))
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return False
    return now > cert.not_valid_after_utc


def why_delete(csr: Obj, now: datetime.datetime) -> str:
    """Which of kube's rules deletes ``csr`` now ("" for none)."""
    conditions = cu.conditions(csr)
    for cond in conditions:
        kind, updated = cond.get("type"), cond.get("lastUpdateTime")
        if kind == "Approved" and cu.issued(csr) and _older(updated, APPROVED_AGE, now):
            return "issued more than an hour ago"
        if kind == "Denied" and _older(updated, DENIED_AGE, now):
            return "denied more than an hour ago"
        if kind == "Failed" and _older(updated, DENIED_AGE, now):
            return "failed more than an hour ago"
    created = (csr.get("metadata") or {}).get("creationTimestamp")
    if not conditions and _older(created, PENDING_AGE, now):
        return "pending for more than a day"
    if cu.has_type(csr, "Approved") and cu.issued(csr) and _cert_expired(csr, now):
        return "its certificate has expired"
    return ""


class CSRCleaner:
    """Deletes CSRs past kube's ages, at start and every ``interval`` seconds."""

    def __init__(self, ctx: Context, *, interval: float = POLLING_SECONDS) -> None:
        self.name = "csrcleaner"
        self.client = ctx.client
        self.interval = interval
        self.csrs = ctx.factory.informer(cu.CSRS)
        self.queue = ctx.queue("csrcleaner")
        self.csrs.add_handler(self._enqueue, lambda _, new: self._enqueue(new), None)

    def _enqueue(self, csr: Obj) -> None:
        self.queue.add((csr.get("metadata") or {}).get("name", ""))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.csrs):
            return
        poll = asyncio.ensure_future(self._poll(stop))
        try:
            await run_workers(self.queue, self.sync, 1, stop)
        finally:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            for csr in self.csrs.list():
                self._enqueue(csr)

    async def sync(self, name: str, now: datetime.datetime | None = None) -> None:
        csr = self.csrs.get(name)
        if csr is None:
            return
        why = why_delete(csr, now or datetime.datetime.now(datetime.timezone.utc))
        if not why:
            return
        try:
            await self.client.delete(cu.CSRS, name, uid=(csr.get("metadata") or {}).get("uid"))
        except NotFound:
            return
        log.info("deleted csr %s: %s", name, why)


def new(ctx: Context) -> CSRCleaner:
    return CSRCleaner(ctx)
