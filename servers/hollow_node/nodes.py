"""The Node and Lease objects of a hollow node, shaped as a kubelet writes them.

A kubelet registers its Node with the whole status (kubernetes
``pkg/kubelet/kubelet_node_status.go`` ``initialNode`` and the setters of
``pkg/kubelet/nodestatus/setters.go``): labels ``kubernetes.io/hostname``, ``kubernetes.io/os``,
``kubernetes.io/arch`` (and their ``beta.`` twins) plus ``--node-labels``; capacity and
allocatable; the pressure conditions and Ready, Ready last; InternalIP and Hostname
addresses; the kubelet's port; nodeInfo. It keeps a Lease ``kube-node-lease/NAME`` held by
itself and owned by its Node (``k8s.io/component-helpers/apimachinery/lease/controller.go``,
``setNodeOwnerFunc`` in ``pkg/kubelet/kubelet.go``). Pure functions over plain dicts; the
builders km's real kubelet shares (labels, conditions, Lease) are in
``servers.kubelet.nodestatus``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from servers.hollow_node.addresses import node_ip
from servers.kubelet.nodestatus import (
    ARCH,
    ATTACH_DETACH,
    LEASE_NAMESPACE,
    OS,
    conditions,
    default_labels,
    lease,
    micro_time,
    transitions,
)

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["LEASE_NAMESPACE", "NodeShape", "conditions", "lease_object", "micro_time",
           "node_labels", "node_object", "status", "status_patch", "transitions"]

KUBELET_VERSION = "v1.32.0-km-hollow"
RUNTIME_VERSION = "hollow://0.1"
OS_IMAGE = "km hollow node"
KERNEL_VERSION = "hollow"


@dataclass(frozen=True)
class NodeShape:
    """What every node of one hollow-node process has in common (from the flags)."""

    cpu: str = "32"
    memory: str = "256Gi"
    ephemeral_storage: str = "100Gi"
    max_pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    kubelet_port: int = 0
    lease_duration: int = 40

    def resources(self) -> dict[str, str]:
        return {"cpu": self.cpu, "ephemeral-storage": self.ephemeral_storage,
                "memory": self.memory, "pods": str(self.max_pods)}


def node_labels(name: str, shape: NodeShape) -> dict[str, str]:
    """The kubelet's default labels plus --node-labels."""
    return default_labels(name, shape.labels)


def _node_info(name: str) -> dict[str, str]:
    # Stable per name, so a restarted hollow-node is the same machine that did not reboot
    # (a new bootID makes kube record a Rebooted event).
    ident = hashlib.sha256(name.encode()).hexdigest()
    boot = hashlib.sha256(f"{name}/boot".encode()).hexdigest()
    return {"machineID": ident[:32], "systemUUID": _uuid(ident[32:]), "bootID": _uuid(boot),
            "kernelVersion": KERNEL_VERSION, "osImage": OS_IMAGE,
            "containerRuntimeVersion": RUNTIME_VERSION, "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": OS, "architecture": ARCH}


def _uuid(hexdigits: str) -> str:
    h = hexdigits[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def status(name: str, index: int, shape: NodeShape, *,
           since: dict[str, str] | None = None) -> Obj:
    """The whole node status a kubelet posts at registration."""
    resources = shape.resources()
    return {"capacity": dict(resources), "allocatable": dict(resources),
            "conditions": conditions(since),
            "addresses": [{"type": "InternalIP", "address": node_ip(index)},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": shape.kubelet_port}},
            "nodeInfo": _node_info(name)}


def node_object(name: str, index: int, shape: NodeShape) -> Obj:
    """The Node a kubelet creates: metadata, an empty spec and its full status."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": node_labels(name, shape),
                         "annotations": {ATTACH_DETACH: "true"}},
            "spec": {}, "status": status(name, index, shape)}


def status_patch(since: dict[str, str]) -> Obj:
    """A strategic merge patch of nodes/NAME/status refreshing the conditions' heartbeat.

    ``since`` keeps each condition's lastTransitionTime (the kubelet changes it only when the
    status flips). Conditions merge by ``type`` on the server, so those others own stay.
    """
    return {"status": {"conditions": conditions(since)}}


def lease_object(name: str, node_uid: str, shape: NodeShape, *,
                 renew_time: str | None = None) -> Obj:
    """The node's Lease: held by the node, owned by its Node object."""
    return lease(name, node_uid, shape.lease_duration, renew_time=renew_time)
