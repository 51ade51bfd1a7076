"""Small builders of Node and Pod objects for the scheduling algorithm's unit tests."""

from __future__ import annotations

from typing import Any

from servers.scheduler.framework import NodeInfo, PodInfo, Snapshot

Obj = dict[str, Any]


def node(name: str, cpu: str = "4", memory: str = "32Gi", pods: str = "110", *,
         labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
         unschedulable: bool = False, **extra: str) -> Obj:
    """A Node with allocatable resources, labels (hostname added) and taints."""
    return {"metadata": {"name": name,
                         "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods, **extra}}}


def pod(name: str, cpu: str | None = "100m", memory: str | None = "500Mi", *,
        namespace: str = "default", labels: dict[str, str] | None = None,
        priority: int | None = None, **spec: Any) -> Obj:
    """A one-container Pod requesting ``cpu``/``memory`` (None leaves the request out)."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    body: Obj = {"containers": [{"name": "c", "image": "pause",
                                 "resources": {"requests": requests}}], **spec}
    if priority is not None:
        body["priority"] = priority
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                         "labels": labels or {}},
            "spec": body}


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> Obj:
    """A node taint."""
    return {"key": key, "value": value, "effect": effect}


def snapshot(*nodes: Obj, placed: dict[str, list[Obj]] | None = None) -> Snapshot:
    """A Snapshot of these nodes with the pods in ``placed`` (node name -> pods) on them."""
    infos = {n["metadata"]["name"]: NodeInfo(n) for n in nodes}
    for name, pods in (placed or {}).items():
        for p in pods:
            infos[name].add_pod(PodInfo.of(p))
    return Snapshot(infos)
