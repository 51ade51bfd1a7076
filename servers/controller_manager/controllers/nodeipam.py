"""nodeipam: give every node a pod CIDR from ``--cluster-cidr`` (``--allocate-node-cidrs``).

kube's range allocator (``pkg/controller/nodeipam/ipam/range_allocator.go`` over
``cidrset``): the cluster CIDR is cut into blocks of ``--node-cidr-mask-size``; a node
without ``spec.podCIDR`` gets the next free block in ``spec.podCIDR`` and ``spec.podCIDRs``
(immutable once set). Blocks already on nodes are marked used as the informer lists them,
so a restart never hands out a block twice; a deleted node's block is released. When none
is left the node gets the event ``CIDRNotAvailable`` and is retried with backoff.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound
from servers.client.events import NORMAL
from servers.client.informer import object_key
from servers.client.resources import NODES
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import objects as o
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "node-ipam-controller"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# range_allocator.go: cidrUpdateWorkers. Allocation itself is synchronous (no await between
# choosing a block and marking it used), so workers never pick the same block.
CIDR_UPDATE_WORKERS = 30


class CIDRSet:
    """The blocks of one cluster CIDR, each free or used (``cidrset.CidrSet``)."""

    def __init__(self, cluster: str, mask: int) -> None:
        self.cluster: Network = ipaddress.ip_network(cluster, strict=False)
        self.mask = mask
        self.size = 1 << (mask - self.cluster.prefixlen)
        self.used: set[int] = set()
        self._next = 0

    def _index(self, cidr: str) -> int | None:
        try:
            block = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if block.version != self.cluster.version or block.prefixlen != self.mask:
            return None
        if not block.subnet_of(self.cluster):  # type: ignore[arg-type]
            return None
        offset = int(block.network_address) - int(self.cluster.network_address)
        return offset >> (self.cluster.max_prefixlen - self.mask)

    def _block(self, index: int) -> str:
        step = 1 << (self.cluster.max_prefixlen - self.mask)
        address = ipaddress.ip_address(int(self.cluster.network_address) + index * step)
        return f"{address}/{self.mask}"

    def occupy(self, cidr: str) -> bool:
        index = self._index(cidr)
        if index is None:
            return False
        self.used.add(index)
        return True

    def release(self, cidr: str) -> None:
        index = self._index(cidr)
        if index is not None:
            self.used.discard(index)

    def allocate(self) -> str | None:
        """The next free block after the last one given (round robin), or None."""
        for step in range(self.size):
            index = (self._next + step) % self.size
            if index not in self.used:
                self.used.add(index)
                self._next = (index + 1) % self.size
                return self._block(index)
        return None


class NodeIpam:
    """Allocates pod CIDRs to nodes; see the module docstring."""

    def __init__(self, ctx: Context, *, cluster_cidr: str, mask: int) -> None:
        self.name = "nodeipam"
        self.client = ctx.client
        self.cidrs = CIDRSet(cluster_cidr, mask)
        self.nodes = ctx.factory.informer(NODES)
        self.recorder = ctx.recorder("cidrAllocator")
        self.queue = ctx.queue("nodeipam")
        self.nodes.add_handler(self._node_seen, lambda old, new: self._node_seen(new),
                               self._node_deleted)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.nodes):
            return
        for node in self.nodes.list():
            if not o.spec(node).get("podCIDR"):
                self.queue.add(object_key(node))
        await run_workers(self.queue, self.sync, CIDR_UPDATE_WORKERS, stop)

    def _node_seen(self, node: Obj) -> None:
        cidr = o.spec(node).get("podCIDR")
        if cidr:
            if not self.cidrs.occupy(str(cidr)):
                log.debug("node %s: podCIDR %s is outside %s", o.name(node), cidr,
                          self.cidrs.cluster)
            return
        self.queue.add(object_key(node))

    def _node_deleted(self, node: Obj) -> None:
        cidr = o.spec(node).get("podCIDR")
        if cidr:
            self.cidrs.release(str(cidr))

    async def sync(self, name: str) -> None:
        """Give the node ``name`` a pod CIDR unless it has one."""
        node = self.nodes.get(name)
        if node is None or o.spec(node).get("podCIDR"):
            return
        cidr = self.cidrs.allocate()
        if cidr is None:
            self.recorder.event(node, NORMAL, "CIDRNotAvailable",
                                f"Node {name} status is now: CIDRNotAvailable")
            msg = f"no pod CIDR left in {self.cidrs.cluster} for node {name}"
            raise RuntimeError(msg)
        patch = {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
        try:
            await self.client.patch(NODES, name, patch, patch_type="merge")
        except NotFound:
            self.cidrs.release(cidr)
            return
        except BaseException:
            self.cidrs.release(cidr)
            raise
        log.info("node %s: allocated pod CIDR %s", name, cidr)


def new(ctx: Context) -> NodeIpam | None:
    opts = ctx.opts
    if not opts.allocate_node_cidrs:
        return None
    return NodeIpam(ctx, cluster_cidr=opts.cluster_cidr, mask=opts.node_cidr_mask_size)
