"""Builders of a kubelet's Node and Lease, shared by km's kubelet and hollow-node.

As kube's ``pkg/kubelet/kubelet_node_status.go`` (``initialNode``) and the setters of
``pkg/kubelet/nodestatus/setters.go``: the default labels ``kubernetes.io/hostname``,
``kubernetes.io/os``, ``kubernetes.io/arch`` (and their ``beta.`` twins); the pressure
conditions and Ready, Ready last, each keeping its lastTransitionTime while its status holds;
the Lease ``kube-node-lease/NAME`` held by the node and owned by its Node
(``k8s.io/component-helpers/apimachinery/lease/controller.go``, ``setNodeOwnerFunc`` in
``pkg/kubelet/kubelet.go``). Pure functions over plain dicts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from servers.apimachinery.meta import now_rfc3339

if TYPE_CHECKING:
    from collections.abc import Mapping

    from servers.apimachinery.meta import Obj

__all__ = ["ARCH", "ATTACH_DETACH", "LEASE_NAMESPACE", "OS", "conditions", "default_labels",
           "lease", "micro_time", "transitions"]

LEASE_NAMESPACE = "kube-node-lease"
ATTACH_DETACH = "volumes.kubernetes.io/controller-managed-attach-detach"
OS, ARCH = "linux", "amd64"

# The healthy side of each condition, as pkg/kubelet/nodestatus/setters.go writes it; Ready
# comes last, as the kubelet orders them.
HEALTHY = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def default_labels(name: str, extra: Mapping[str, str] | None = None,
                   arch: str = ARCH) -> dict[str, str]:
    """The kubelet's default labels plus ``--node-labels``."""
    return {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": OS,
            "kubernetes.io/arch": arch, "kubernetes.io/hostname": name, "kubernetes.io/os": OS,
            **(extra or {})}


def conditions(since: dict[str, str] | None = None, now: str | None = None) -> list[Obj]:
    """The four healthy conditions, heartbeat ``now``.

    ``since`` maps a condition type to its lastTransitionTime when its status is unchanged
    (an adopted node keeps its transition times; one that was NotReady transitions now).
    """
    now = now or now_rfc3339()
    since = since or {}
    return [{"type": kind, "status": status, "lastHeartbeatTime": now,
             "lastTransitionTime": since.get(kind, now), "reason": reason, "message": message}
            for kind, status, reason, message in HEALTHY]


def transitions(node: Obj | None, now: str | None = None) -> dict[str, str]:
    """Condition type -> lastTransitionTime once ``node`` is healthy: kept where ``node``'s
    condition already had the healthy status, ``now`` for the others (and for a new node)."""
    now = now or now_rfc3339()
    healthy = {kind: status for kind, status, _, _ in HEALTHY}
    found = dict.fromkeys(healthy, now)
    for cond in ((node or {}).get("status") or {}).get("conditions") or ():
        kind = cond.get("type")
        if healthy.get(kind) == cond.get("status") and cond.get("lastTransitionTime"):
            found[kind] = cond["lastTransitionTime"]
    return found


def micro_time(moment: datetime | None = None) -> str:
    """A ``metav1.MicroTime``: RFC 3339 in UTC with six fraction digits."""
    moment = moment or datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(name: str, node_uid: str, duration: int, *, renew_time: str | None = None) -> Obj:
    """The node's Lease: held by the node, owned by its Node object."""
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                              "name": name, "uid": node_uid}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": duration,
                     "renewTime": renew_time or micro_time()}}
