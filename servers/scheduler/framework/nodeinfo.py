"""``NodeInfo`` (a node and the pods counted on it) and ``Snapshot`` (all nodes, in order).

After ``pkg/scheduler/framework/types.go`` (``NodeInfo``, ``HostPortInfo``) and
``backend/cache/snapshot.go``. A NodeInfo keeps integer totals (milli-cpu, bytes, pod count)
updated as pods are added and removed, so a filter is a few comparisons; ``generation``
grows with every change, which lets the scorers cache a node's score until it changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from servers.apimachinery.quantity import milli, value
from servers.scheduler.framework.podinfo import (
    CPU,
    EPHEMERAL,
    MEMORY,
    PODS,
    PodInfo,
    is_scalar_resource,
)

Obj = dict[str, Any]
ALL_IPS = "0.0.0.0"
REGION, ZONE = "topology.kubernetes.io/region", "topology.kubernetes.io/zone"
BETA_REGION = "failure-domain.beta.kubernetes.io/region"
BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
NO_SCHEDULE_EFFECTS = ("NoSchedule", "NoExecute")


class _Tally:
    """Snapshot-wide counts kept current by the NodeInfos: pods with (anti-)affinity, nodes
    with a PreferNoSchedule taint, nodes holding each image (ImageLocality's spread)."""

    __slots__ = ("affinity", "images", "prefer_tainted", "required_anti")

    def __init__(self) -> None:
        self.affinity = 0
        self.required_anti = 0
        self.prefer_tainted = 0
        self.images: Counter[str] = Counter()

    def add_images(self, names: Iterable[str], sign: int) -> None:
        for name in names:
            self.images[name] += sign
            if self.images[name] <= 0:
                del self.images[name]


class NodeInfo:
    """A node and the pods counted on it (assumed ones too).

    ``NodeInfo(None)`` is a node-less slot (pods seen before their node). Read-only for
    filters and scores; change it only through ``set_node``, ``add_pod`` and ``remove_pod``.
    """

    __slots__ = (
        "_pods", "_port_any", "_ports", "_tally", "alloc_cpu", "alloc_ephemeral", "alloc_memory",
        "alloc_pods", "alloc_scalar", "blocked", "cpu", "ephemeral", "generation", "images",
        "labels",
        "match_cache", "memory", "name", "no_schedule_taints", "node", "npods", "nz_cpu",
        "nz_memory",
        "pods_with_affinity", "pods_with_required_anti_affinity", "prefer_taints", "scalar",
        "score_cache", "taints", "unschedulable",
    )

    def __init__(self, node: Obj | None) -> None:
        self._pods: dict[str, PodInfo] = {}
        self._ports: Counter[tuple[str, str, int]] = Counter()
        self._port_any: Counter[tuple[str, int]] = Counter()
        self._tally: _Tally | None = None
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.cpu = self.memory = self.ephemeral = self.nz_cpu = self.nz_memory = 0
        self.npods = 0
        self.scalar: dict[str, int] = {}
        self.generation = 0
        self.score_cache: tuple[Any, ...] = ()
        # (selector, namespace) -> (generation, matching pods): PodTopologySpread's counts.
        self.match_cache: dict[Any, tuple[int, int]] = {}
        self.prefer_taints: tuple[tuple[str, str, str], ...] = ()
        self.images: dict[str, int] = {}
        self.set_node(node)

    # -- the node ------------------------------------------------------------------------

    def set_node(self, node: Obj | None) -> None:
        """Take (a newer version of) the Node object."""
        self.node = node
        meta = (node or {}).get("metadata") or {}
        spec = (node or {}).get("spec") or {}
        status = (node or {}).get("status") or {}
        self.name = meta.get("name") or ""
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.unschedulable = bool(spec.get("unschedulable"))
        had_prefer = bool(self.prefer_taints)
        self.taints = tuple(
            (str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect") or ""))
            for t in spec.get("taints") or () if isinstance(t, dict))
        self.no_schedule_taints = tuple(t for t in self.taints if t[2] in NO_SCHEDULE_EFFECTS)
        self.prefer_taints = tuple(t for t in self.taints if t[2] == "PreferNoSchedule")
        if self._tally is not None:
            self._tally.prefer_tainted += bool(self.prefer_taints) - had_prefer
        self.blocked = self.unschedulable or bool(self.no_schedule_taints)
        self._set_images(status.get("images") or ())
        self._set_allocatable(status.get("allocatable") or status.get("capacity") or {})
        self.generation += 1

    def _set_images(self, images: Iterable[Obj]) -> None:
        # NodeInfo.ImageStates: every name of every image, with the image's size.
        sizes: dict[str, int] = {}
        for image in images:
            if isinstance(image, dict):
                size = image.get("sizeBytes") or 0
                for name in image.get("names") or ():
                    sizes[name] = size if isinstance(size, int) else 0
        if self._tally is not None:
            self._tally.add_images(self.images, -1)
            self._tally.add_images(sizes, 1)
        self.images = sizes

    def _set_allocatable(self, allocatable: Obj) -> None:
        def amount(name: str) -> int:
            try:
                raw = allocatable.get(name)
                return 0 if raw is None else (milli(raw) if name == CPU else value(raw))
            except (ValueError, TypeError):
                return 0
        self.alloc_cpu = amount(CPU)
        self.alloc_memory = amount(MEMORY)
        self.alloc_ephemeral = amount(EPHEMERAL)
        self.alloc_pods = amount(PODS)
        self.alloc_scalar = {k: amount(k) for k in allocatable if is_scalar_resource(k)}

    # -- pods ----------------------------------------------------------------------------

    @property
    def pods(self) -> list[PodInfo]:
        """The pods counted on this node, in the order they were added."""
        return list(self._pods.values())

    @property
    def pod_count(self) -> int:
        """How many pods are counted here (``len(nodeInfo.Pods)``)."""
        return self.npods

    def has_pod(self, info: PodInfo) -> bool:
        """Whether a pod with ``info``'s uid is counted here."""
        return info.uid in self._pods

    def add_pod(self, info: PodInfo) -> None:
        """Count ``info`` on this node (replacing an older version with the same uid)."""
        if info.uid in self._pods:
            self.remove_pod(self._pods[info.uid])
        self._pods[info.uid] = info
        self._update(info, 1)
        if info.has_affinity:
            self.pods_with_affinity.append(info)
        if info.has_required_anti_affinity:
            self.pods_with_required_anti_affinity.append(info)
        self._count(info, 1)

    def remove_pod(self, info: PodInfo) -> None:
        """Stop counting the pod with ``info``'s uid here (nothing if it is not counted)."""
        counted = self._pods.pop(info.uid, None)
        if counted is None:
            return
        self._update(counted, -1)
        if counted.has_affinity:
            self.pods_with_affinity = [p for p in self.pods_with_affinity if p is not counted]
        if counted.has_required_anti_affinity:
            self.pods_with_required_anti_affinity = [
                p for p in self.pods_with_required_anti_affinity if p is not counted]
        self._count(counted, -1)

    def _update(self, info: PodInfo, sign: int) -> None:
        self.npods += sign
        self.cpu += sign * info.cpu
        self.memory += sign * info.memory
        self.ephemeral += sign * info.ephemeral
        self.nz_cpu += sign * info.nz_cpu
        self.nz_memory += sign * info.nz_memory
        for name, amount in info.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * amount
        for ip, protocol, port in info.host_ports:
            self._ports[(ip, protocol, port)] += sign
            self._port_any[(protocol, port)] += sign
        if sign < 0 and info.host_ports:
            self._ports = +self._ports
            self._port_any = +self._port_any
        self.generation += 1

    def _count(self, info: PodInfo, sign: int) -> None:
        tally = self._tally
        if tally is not None:
            tally.affinity += sign * info.has_affinity
            tally.required_anti += sign * info.has_required_anti_affinity

    # -- views ---------------------------------------------------------------------------

    @property
    def requested(self) -> dict[str, int]:
        """Summed requests of the counted pods (cpu in millicores, memory in bytes, ...)."""
        return {CPU: self.cpu, MEMORY: self.memory, EPHEMERAL: self.ephemeral, **self.scalar}

    @property
    def non_zero_requested(self) -> dict[str, int]:
        """cpu and memory with 100m/200Mi for containers without requests (for scoring)."""
        return {CPU: self.nz_cpu, MEMORY: self.nz_memory}

    @property
    def allocatable(self) -> dict[str, int]:
        """The node's allocatable resources (cpu in millicores, pods as a count)."""
        return {CPU: self.alloc_cpu, MEMORY: self.alloc_memory, EPHEMERAL: self.alloc_ephemeral,
                PODS: self.alloc_pods, **self.alloc_scalar}

    @property
    def used_ports(self) -> set[tuple[str, str, int]]:
        """``(hostIP, protocol, hostPort)`` of the counted pods' host ports."""
        return set(self._ports)

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """``HostPortInfo.CheckConflict``: 0.0.0.0 conflicts with every IP."""
        if ip == ALL_IPS:
            return (protocol, port) in self._port_any
        return (ip, protocol, port) in self._ports or (ALL_IPS, protocol, port) in self._ports

    def clone(self) -> NodeInfo:
        """A copy whose pods can be removed without touching this one (preemption)."""
        copy = NodeInfo.__new__(NodeInfo)
        for slot in NodeInfo.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy._pods = dict(self._pods)
        copy._ports = Counter(self._ports)
        copy._port_any = Counter(self._port_any)
        copy.scalar = dict(self.scalar)
        copy.pods_with_affinity = list(self.pods_with_affinity)
        copy.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        copy._tally = None
        copy.score_cache = ()
        copy.match_cache = {}
        return copy

    def __repr__(self) -> str:
        return f"NodeInfo({self.name or '<no node>'}, pods={len(self._pods)})"


def zone_key(labels: Mapping[str, str]) -> str:
    """``utilnode.GetZoneKey``: region and zone (GA labels, else the beta ones), or ""."""
    region = labels.get(REGION) or labels.get(BETA_REGION, "")
    zone = labels.get(ZONE) or labels.get(BETA_ZONE, "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_order(infos: list[NodeInfo]) -> list[NodeInfo]:
    """``nodeTree.list()``: one node of each zone in turn (zones in order of appearance),
    so a scan that stops early still sees every zone."""
    zones: dict[str, list[NodeInfo]] = {}
    for info in infos:
        zones.setdefault(zone_key(info.labels), []).append(info)
    if len(zones) < 2:
        return infos
    columns = list(zones.values())
    ordered = []
    for i in range(max(len(c) for c in columns)):
        ordered += [c[i] for c in columns if i < len(c)]
    return ordered


class Snapshot:
    """The nodes one scheduling cycle sees, in a fixed order (``node_list``: zones
    interleaved as kube's node tree lists them; nodes added later go last).

    Built from ``{name: NodeInfo}`` (node-less slots are left out). The NodeInfos are shared,
    not copied: pods added to or removed from them show at once, so a snapshot needs no
    refresh for pod changes; use ``set_node``/``remove_node`` when nodes come and go, or
    build a new one.
    """

    def __init__(self, nodes: Mapping[str, NodeInfo] | Iterable[NodeInfo] = ()) -> None:
        infos = nodes.values() if isinstance(nodes, Mapping) else nodes
        self.node_list: list[NodeInfo] = zone_order([n for n in infos if n.node is not None])
        self._index = {n.name: n for n in self.node_list}
        self._position = {n.name: i for i, n in enumerate(self.node_list)}
        self._tally = _Tally()
        for info in self.node_list:
            self._adopt(info, 1)

    def _adopt(self, info: NodeInfo, sign: int) -> None:
        info._tally = self._tally if sign > 0 else None
        self._tally.prefer_tainted += sign * bool(info.prefer_taints)
        self._tally.add_images(info.images, sign)
        self._tally.affinity += sign * len(info.pods_with_affinity)
        self._tally.required_anti += sign * len(info.pods_with_required_anti_affinity)

    def set_node(self, info: NodeInfo) -> None:
        """Add a node (or replace the NodeInfo of one with the same name)."""
        old = self._index.get(info.name)
        if old is not None:
            self._adopt(old, -1)
            self.node_list[self._position[info.name]] = info
        else:
            self._position[info.name] = len(self.node_list)
            self.node_list.append(info)
        self._index[info.name] = info
        self._adopt(info, 1)

    def remove_node(self, name: str) -> None:
        """Drop node ``name`` (nothing if it is not here)."""
        old = self._index.pop(name, None)
        if old is not None:
            self._adopt(old, -1)
            del self.node_list[self._position.pop(name)]
            self._position = {n.name: i for i, n in enumerate(self.node_list)}

    def get(self, name: str) -> NodeInfo | None:
        """The NodeInfo of node ``name``, if present."""
        return self._index.get(name)

    def __len__(self) -> int:
        return len(self.node_list)

    @property
    def has_pods_with_affinity(self) -> bool:
        """Whether any counted pod has pod affinity or anti-affinity."""
        return self._tally.affinity > 0

    @property
    def has_pods_with_required_anti_affinity(self) -> bool:
        """Whether any counted pod has required pod anti-affinity."""
        return self._tally.required_anti > 0

    @property
    def has_prefer_no_schedule_taints(self) -> bool:
        """Whether any node has a PreferNoSchedule taint (else TaintToleration's score is
        the same everywhere)."""
        return self._tally.prefer_tainted > 0

    def image_nodes(self, name: str) -> int:
        """How many nodes report image ``name`` (ImageStateSummary.NumNodes)."""
        return self._tally.images.get(name, 0)

    @property
    def has_images(self) -> bool:
        """Whether any node reports images (else ImageLocality scores 0 everywhere)."""
        return bool(self._tally.images)

    def with_affinity(self) -> list[NodeInfo]:
        """``HavePodsWithAffinityList``."""
        if not self._tally.affinity:
            return []
        return [n for n in self.node_list if n.pods_with_affinity]

    def with_required_anti_affinity(self) -> list[NodeInfo]:
        """``HavePodsWithRequiredAntiAffinityList``."""
        if not self._tally.required_anti:
            return []
        return [n for n in self.node_list if n.pods_with_required_anti_affinity]
