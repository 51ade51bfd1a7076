"""Keeping the node's certificates fresh: a new CSR before each one expires.

The time to renew is kube's certificate manager's (client-go ``util/certificate/
certificate_manager.go``, ``nextRotationDeadline``): a random point between 70 % and 90 % of
the certificate's lifetime, so a fleet of nodes started together does not renew together.
The new certificate is asked for with the node's own credentials, ``system:node:NAME`` (the
kubelet's rotation, which kube's csrapproving approves as ``selfnodeclient``; km's approver
takes the proxy's ``system:kube-proxy`` request from a node too); when those are refused or
expired and the minion has its join token, the bootstrap token asks instead. A failed
renewal is retried after 10 s, doubling to 10 min.

After each new certificate ``on_change(role)`` runs: the minion restarts the children that
use it (they read their kubeconfig once, at start; pods outlive a kubelet restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING

from hyperkube.backoff import Backoff
from servers.apimachinery.errors import StatusError
from servers.client.errors import ClientError
from servers.client.kubeconfig import Config, load_kubeconfig
from servers.client.rest import Client
from servers.minion import certificates, join

if TYPE_CHECKING:
    from collections.abc import Callable

    from servers.minion.store import Store
    from servers.minion.token import Token

log = logging.getLogger(__name__)

LOW, HIGH = 0.7, 0.9  # the share of a lifetime after which a certificate is renewed
RETRY = (10.0, 600.0)
MAX_SLEEP = 3600.0  # look again at least hourly (a suspended host's clock jumps)


def rotation_deadline(not_before: float, not_after: float,
                      rand: Callable[[], float] = random.random) -> float:
    """When to renew a certificate valid from ``not_before`` to ``not_after`` (Unix times)."""
    return not_before + (not_after - not_before) * (LOW + (HIGH - LOW) * rand())


class Keeper:
    """Renews the certificates of ``identities`` under ``store`` until stopped."""

    def __init__(self, store: Store, identities: list[certificates.Identity], *,
                 node_name: str, server: str, token: Token | None,
                 on_change: Callable[[str], None], timeout: float,
                 sans: tuple[str, ...] = ()) -> None:
        self.store = store
        self.identities = identities
        self.node_name = node_name
        self.server = server
        self.token = token
        self.on_change = on_change
        self.timeout = timeout
        self.sans = sans

    async def run(self, stop: asyncio.Event) -> None:
        """One loop per identity, until ``stop``."""
        await asyncio.gather(*(self._keep(i, stop) for i in self.identities))

    def due(self, identity: certificates.Identity) -> float:
        """When ``identity``'s certificate should be renewed (0 when there is none)."""
        if not self.store.has(identity.role):
            return 0.0
        try:
            start, end = certificates.validity(self.store.cert(identity.role).read_bytes())
        except (OSError, ValueError):
            return 0.0
        return rotation_deadline(start, end)

    async def _keep(self, identity: certificates.Identity, stop: asyncio.Event) -> None:
        backoff = Backoff(*RETRY)
        when = self.due(identity)
        while not stop.is_set():
            wait = when - time.time()
            if wait > 0:
                await _sleep(stop, min(wait, MAX_SLEEP))
                continue
            try:
                await self.renew(identity)
            except (StatusError, ClientError, OSError, certificates.CertificateError,
                    join.JoinError) as exc:
                delay = backoff.delay(0)
                log.warning("renewing the %s certificate failed (again in %gs): %s",
                            identity.role, delay, exc)
                await _sleep(stop, delay)
                continue
            backoff = Backoff(*RETRY)
            when = self.due(identity)
            log.info("%s certificate renewed; next renewal at %s", identity.role,
                     time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)))
            self.on_change(identity.role)

    async def renew(self, identity: certificates.Identity) -> None:
        """One new certificate for ``identity``: with the node's credentials, else the token."""
        own = "kubelet-client"  # the node's identity asks for each of its certificates
        errors: list[str] = []
        if self._valid(own):
            try:
                await self._obtain(load_kubeconfig(str(self.store.kubeconfig(own))), identity)
            except (StatusError, certificates.CertificateError) as exc:
                if self.token is None:
                    raise
                errors.append(str(exc))
            else:
                return
        if self.token is None:
            msg = f"the {own} certificate has expired and there is no join token to ask anew"
            raise join.JoinError(msg)
        config = Config(server=self.server, ca_data=self.store.ca.read_text(),
                        token=self.token.bearer)
        await self._obtain(config, identity)
        if errors:
            log.info("renewed the %s certificate with the join token (%s)", identity.role,
                     errors[0])

    async def _obtain(self, config: Config, identity: certificates.Identity) -> None:
        async with Client(config, user_agent=join.USER_AGENT, request_timeout=15.0) as client:
            await join.obtain(client, self.store, identity, self.node_name,
                              timeout=self.timeout, sans=self.sans)

    def _valid(self, role: str) -> bool:
        if not self.store.has(role):
            return False
        try:
            _, end = certificates.validity(self.store.cert(role).read_bytes())
        except (OSError, ValueError):
            return False
        return end > time.time()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
