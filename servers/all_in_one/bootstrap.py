"""What the all-in-one does as admin once its apiserver answers, before the node side starts.

1. Wait for the apiserver (every 50 ms: the other servers wait on this, so start-up time is
   the apiserver's own plus one poll), then set ``api_ready``; publish what lets other hosts
   join (``join``: the token's Secret, kube-public/cluster-info).
2. With a pod network (--isolation namespaces): make sure the Node exists (the kubelet takes
   an existing one over), wait for the controller-manager's node IPAM to give it a podCIDR,
   and point dns (``--bind-address``) and the kubelet (``--cluster-dns``) at the podCIDR's
   first address, the node bridge's; then set ``node_ready``. Without one, at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import AlreadyExists, StatusError
from servers.client.errors import ClientError
from servers.client.kubeconfig import load_kubeconfig
from servers.client.resources import NODES
from servers.client.rest import Client

if TYPE_CHECKING:
    from pathlib import Path

    from hyperkube.together import Member

log = logging.getLogger(__name__)

POLL = 0.05
USER_AGENT = "km-all-in-one"
Obj = dict[str, Any]


class Steps:
    """The steps above, and the two events the other servers wait on."""

    def __init__(self, admin_kubeconfig: Path, node_name: str, *, pod_network: bool,
                 join: Callable[[Client], Awaitable[None]] | None = None) -> None:
        self.kubeconfig = admin_kubeconfig
        self.join = join
        self.node_name = node_name
        self.pod_network = pod_network
        self.api_ready = asyncio.Event()
        self.node_ready = asyncio.Event()
        self.failed = False  # set by the caller when run() raised

    async def run(self, stop: asyncio.Event, members: dict[str, Member]) -> None:
        """Every step, each retried until it is done or ``stop`` is set."""
        async with Client(load_kubeconfig(self.kubeconfig), user_agent=USER_AGENT) as client:
            if not await _retry(stop, lambda: client.request("GET", "/version")):
                return
            self.api_ready.set()
            join = self.join
            if join is not None and not await _retry(stop, lambda: join(client)):
                return
            if self.pod_network:
                if not await _retry(stop, lambda: self._ensure_node(client)):
                    return
                cidr = await self._pod_cidr(client, stop)
                if not cidr:
                    return
                gateway = str(ipaddress.ip_network(cidr)[1])
                log.info("node %s has podCIDR %s: cluster DNS on %s", self.node_name, cidr,
                         gateway)
                members["kubelet"].opts.cluster_dns = gateway
                if "dns" in members:
                    members["dns"].opts.bind_address = gateway
            self.node_ready.set()

    async def _ensure_node(self, client: Client) -> None:
        with contextlib.suppress(AlreadyExists):
            await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": self.node_name}})

    async def _pod_cidr(self, client: Client, stop: asyncio.Event) -> str:
        while not stop.is_set():
            with contextlib.suppress(StatusError, ClientError):
                node = await client.get(NODES, self.node_name)
                cidr = str((node.get("spec") or {}).get("podCIDR") or "")
                if cidr:
                    return cidr
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL)
        return ""


async def _retry(stop: asyncio.Event, step: Any) -> bool:
    """Call ``step()`` every POLL seconds until it succeeds (True) or ``stop`` is set (False).

    A 4xx other than 429 is not going to change: it is logged once per 100 tries.
    """
    tries = 0
    while not stop.is_set():
        try:
            await step()
        except (StatusError, ClientError, OSError) as exc:
            if tries % 100 == 0 and isinstance(exc, StatusError) and exc.code < 500:
                log.warning("all-in-one set-up: %s", exc)
            tries += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL)
            continue
        return True
    return False
