"""What a joined node learns from the apiserver before its children start.

- The cluster domain: ``clusterDomain`` of kubeadm's ``kube-system/kubelet-config`` ConfigMap
  (its ``kubelet`` key holds a KubeletConfiguration) when the cluster publishes one and the
  node may read it; else kube's default ``cluster.local``.
- With a pod network (--isolation namespaces), the node's podCIDR: the minion registers its
  Node (a node may create its own, NodeRestriction) and waits for the controller-manager's
  node IPAM to give it one. The cluster DNS address is then the podCIDR's first address, the
  node bridge's, where this node's km dns answers (km's design: dns on every node, as the
  all-in-one runs it).

Every request is retried every 0.5 s until it answers or ``stop`` is set: an apiserver that
restarts meanwhile delays the node, it does not end it. Credentials refused (401) or unusable
end it: they will not start working.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import (
    AlreadyExists,
    Forbidden,
    NotFound,
    StatusError,
    Unauthorized,
)
from servers.client.errors import ClientError, ConfigError
from servers.client.resources import CONFIGMAPS, NODES
from servers.client.rest import Client

if TYPE_CHECKING:
    from servers.client.kubeconfig import Config

log = logging.getLogger(__name__)

DEFAULT_DOMAIN = "cluster.local"
KUBELET_CONFIG = ("kube-system", "kubelet-config")
POLL = 0.5


@dataclass(frozen=True)
class Facts:
    """The cluster domain, and with a pod network the podCIDR and the DNS address."""

    cluster_domain: str = DEFAULT_DOMAIN
    pod_cidr: str = ""

    @property
    def dns(self) -> str:
        """This node's cluster DNS address ("" without a podCIDR)."""
        return str(ipaddress.ip_network(self.pod_cidr)[1]) if self.pod_cidr else ""


async def learn(config: Config, node_name: str, *, pod_network: bool,
                stop: asyncio.Event) -> Facts | None:
    """The Facts, or None when ``stop`` came first."""
    async with Client(config, user_agent="km-minion") as client:
        domain = await _retry(stop, lambda: _domain(client))
        if domain is None:
            return None
        if not pod_network:
            return Facts(cluster_domain=domain)
        if await _retry(stop, lambda: _register(client, node_name)) is None:
            return None
        said = False
        while not stop.is_set():
            cidr = await _retry(stop, lambda: _pod_cidr(client, node_name))
            if cidr:
                return Facts(cluster_domain=domain, pod_cidr=cidr)
            if not said:
                log.info("waiting for node %s's podCIDR (the controller-manager's node IPAM)",
                         node_name)
                said = True
            await _sleep(stop, POLL)
    return None


def domain_of(configmap: dict[str, Any]) -> str:
    """``clusterDomain`` of a kubelet-config ConfigMap (the default when it says none)."""
    import yaml

    try:
        doc = yaml.safe_load((configmap.get("data") or {}).get("kubelet") or "") or {}
        domain = str(doc.get("clusterDomain") or "") if isinstance(doc, dict) else ""
    except yaml.YAMLError:
        domain = ""
    return domain.strip(".") or DEFAULT_DOMAIN


async def _domain(client: Client) -> str:
    try:
        configmap = await client.get(CONFIGMAPS, KUBELET_CONFIG[1], KUBELET_CONFIG[0])
    except (NotFound, Forbidden):
        return DEFAULT_DOMAIN
    return domain_of(configmap)


async def _register(client: Client, node_name: str) -> bool:
    with contextlib.suppress(AlreadyExists):
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                    "metadata": {"name": node_name}})
    return True


async def _pod_cidr(client: Client, node_name: str) -> str:
    node = await client.get(NODES, node_name)
    return str((node.get("spec") or {}).get("podCIDR") or "")


async def _retry(stop: asyncio.Event, step: Any) -> Any:
    """``await step()`` until it answers (its result) or ``stop`` is set (None)."""
    tries = 0
    while not stop.is_set():
        try:
            return await step()
        except (Unauthorized, ConfigError):  # credentials that will not start working
            raise
        except (StatusError, ClientError, OSError) as exc:
            if tries % 20 == 0:
                log.warning("asking the apiserver: %s (retrying)", exc)
            tries += 1
        await _sleep(stop, POLL)
    return None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
