"""The Node and Lease objects of a hollow node, shaped as a kubelet writes them.

A kubelet registers its Node with the whole status (kubernetes
``pkg/kubelet/kubelet_node_status.go`` ``initialNode`` and the setters of
``pkg/kubelet/nodestatus/setters.go``): labels ``kubernetes.io/hostname``, ``kubernetes.io/os``,
``kubernetes.io/arch`` (and their ``beta.`` twins) plus ``--node-labels``; capacity and
allocatable; the pressure conditions and Ready, Ready last; InternalIP and Hostname
addresses; the kubelet's port; nodeInfo. It keeps a Lease ``kube-node-lease/NAME`` held by
itself and owned by its Node (``k8s.io/component-helpers/apimachinery/lease/controller.go``,
``setNodeOwnerFunc`` in ``pkg/kubelet/kubelet.go``). Pure functions over plain dicts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from servers.apimachinery.meta import now_rfc3339
from servers.hollow_node.addresses import node_ip

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["LEASE_NAMESPACE", "NodeShape", "conditions", "lease_object", "micro_time",
           "node_labels", "node_object", "status", "status_patch", "transitions"]

LEASE_NAMESPACE = "kube-node-lease"
KUBELET_VERSION = "v1.32.0-km-hollow"
RUNTIME_VERSION = "hollow://0.1"
OS_IMAGE = "km hollow node"
KERNEL_VERSION = "hollow"
OS, ARCH = "linux", "amd64"
ATTACH_DETACH = "volumes.kubernetes.io/controller-managed-attach-detach"

# The healthy side of each condition, as pkg/kubelet/nodestatus/setters.go writes it; Ready
# comes last, as the kubelet orders them.
_HEALTHY = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


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
    """The kubelet's default labels (pkg/kubelet/kubelet_node_status.go) plus --node-labels."""
    return {"beta.kubernetes.io/arch": ARCH, "beta.kubernetes.io/os": OS,
            "kubernetes.io/arch": ARCH, "kubernetes.io/hostname": name, "kubernetes.io/os": OS,
            **shape.labels}


def conditions(since: dict[str, str] | None = None, now: str | None = None) -> list[Obj]:
    """The four healthy conditions, heartbeat ``now``.

    ``since`` maps a condition type to its lastTransitionTime when its status is unchanged
    (an adopted node keeps its transition times; one that was NotReady transitions now).
    """
    now = now or now_rfc3339()
    since = since or {}
    return [{"type": kind, "status": status, "lastHeartbeatTime": now,
             "lastTransitionTime": since.get(kind, now), "reason": reason, "message": message}
            for kind, status, reason, message in _HEALTHY]


def transitions(node: Obj | None, now: str | None = None) -> dict[str, str]:
    """Condition type -> lastTransitionTime once ``node`` is healthy: kept where ``node``'s
    condition already had the healthy status, ``now`` for the others (and for a new node)."""
    now = now or now_rfc3339()
    healthy = {kind: status for kind, status, _, _ in _HEALTHY}
    found = dict.fromkeys(healthy, now)
    for cond in ((node or {}).get("status") or {}).get("conditions") or ():
        kind = cond.get("type")
        if healthy.get(kind) == cond.get("status") and cond.get("lastTransitionTime"):
            found[kind] = cond["lastTransitionTime"]
    return found


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


def micro_time(moment: datetime | None = None) -> str:
    """A ``metav1.MicroTime``: RFC 3339 in UTC with six fraction digits."""
    moment = moment or datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_object(name: str, node_uid: str, shape: NodeShape, *,
                 renew_time: str | None = None) -> Obj:
    """The node's Lease: held by the node, owned by its Node object."""
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                              "name": name, "uid": node_uid}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": shape.lease_duration,
                     "renewTime": renew_time or micro_time()}}
