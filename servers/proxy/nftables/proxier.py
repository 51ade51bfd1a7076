"""The nftables proxier: each sync one atomic ``nft -j -f -`` transaction.

    proxier = NftablesProxier(table_name("node1"), cluster_cidr="10.244.0.0/16")
    await proxier.sync(ports)               # the first one takes the table over
    await proxier.sync(ports, full=True)    # the periodic resync: every chain rewritten

What the last successful transaction made is remembered, so the next one writes only the
service chains that changed; a failed transaction forgets it, so the next sync takes the table
over again (delete and recreate in one batch). UDP flows to endpoints that went are flushed
from conntrack after the rules changed.
"""

from __future__ import annotations

import ipaddress
import logging

from servers.proxy import addresses
from servers.proxy.model import ServicePort
from servers.proxy.nftables import conntrack, nft
from servers.proxy.nftables.ruleset import FAMILY, Ruleset

__all__ = ["NftablesProxier"]

log = logging.getLogger(__name__)


class NftablesProxier:
    """Programs one nftables table from the service ports it is given."""

    def __init__(self, table: str, *, cluster_cidr: str = "",
                 nodeport_cidrs: list[ipaddress.IPv4Network] | None = None) -> None:
        self.table = table
        self.cluster_cidr = cluster_cidr
        self.nodeport_cidrs = nodeport_cidrs or []
        self._applied: Ruleset | None = None
        self._ports: list[ServicePort] = []
        self._nodeport_ips: list[str] | None = None

    async def sync(self, ports: list[ServicePort], full: bool = False) -> None:
        """Program ``ports``; ``NftError`` (one line) if nft refused the transaction."""
        if self.nodeport_cidrs and (full or self._nodeport_ips is None):
            self._nodeport_ips = await addresses.nodeport_addresses(self.nodeport_cidrs)
        want = Ruleset.build(self.table, ports, cluster_cidr=self.cluster_cidr,
                             nodeport_ips=self._nodeport_ips)
        commands = want.transaction(self._applied, full=full)
        try:
            await nft.apply(want.document(commands))
        except nft.NftError:
            self._applied = None
            raise
        if self._applied is None:
            log.info("nftables table %s %s taken over: %d service ports", FAMILY, self.table,
                     len(ports))
        self._applied = want
        stale = conntrack.stale_udp(self._ports, ports)
        self._ports = ports
        await conntrack.flush(stale)

    async def cleanup(self) -> None:
        """Remove the table (kube-proxy --cleanup)."""
        await nft.delete_table(FAMILY, self.table)
        self._applied = None

    async def close(self) -> None:
        """Leave the rules in place: traffic keeps flowing while the proxy is away."""
