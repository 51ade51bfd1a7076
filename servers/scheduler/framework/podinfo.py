"""``PodInfo``: one pod parsed once for the scheduler (requests, tolerations, affinity, ...).

After ``pkg/scheduler/framework/types.go`` (``PodInfo``, ``AffinityTerm``) and
``k8s.io/component-helpers/resource/helpers.go`` (``PodRequests``). Every number the filters
and scores read is computed here once, as plain ints: cpu in millicores, memory and
ephemeral-storage in bytes, extended resources in units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.quantity import milli, value
from servers.apimachinery.selectors import NOTHING, LabelSelector, label_selector_from_object
from servers.scheduler.framework.nodeaffinity import NodeSelector, required_node_selector

Obj = dict[str, Any]

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
# pkg/scheduler/util/pod_resources.go: what a container without requests counts for scoring.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def is_scalar_resource(name: str) -> bool:
    """``schedutil.IsScalarResourceName``: extended, hugepages-, attachable-volumes- names."""
    return (("/" in name and not name.startswith("requests."))
            or name.startswith(("hugepages-", "attachable-volumes-")))


def selector(obj: object) -> LabelSelector:
    """``metav1.LabelSelectorAsSelector``: None selects nothing; malformed selects nothing."""
    if not isinstance(obj, dict):
        return NOTHING
    try:
        return label_selector_from_object(obj)
    except BadRequest:
        return NOTHING


@dataclass(frozen=True)
class Toleration:
    """One ``spec.tolerations`` entry (``v1.Toleration.ToleratesTaint``)."""

    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, key: str, val: str, effect: str) -> bool:
        """Whether this toleration tolerates the taint ``key=val:effect``."""
        if self.effect and self.effect != effect:
            return False
        if self.key and self.key != key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == val
        return self.operator == "Exists"


def tolerated(tolerations: tuple[Toleration, ...], key: str, val: str, effect: str) -> bool:
    """``v1helper.TolerationsTolerateTaint``."""
    return any(t.tolerates(key, val, effect) for t in tolerations)


@dataclass(frozen=True)
class AffinityTerm:
    """A pod (anti-)affinity term with its namespaces resolved (``framework.AffinityTerm``).

    ``namespace_selector`` is ``NOTHING`` unless the term had one; ``weight`` is 0 for
    required terms.
    """

    namespaces: frozenset[str]
    selector: LabelSelector
    topology_key: str
    namespace_selector: LabelSelector
    weight: int = 0

    def matches(self, pod: PodInfo, ns_labels: Mapping[str, str] | None) -> bool:
        """Whether ``pod`` is selected (namespace listed or selected, then labels)."""
        if pod.namespace in self.namespaces or self.namespace_selector.matches(ns_labels):
            return self.selector.matches(pod.labels)
        return False


@dataclass(frozen=True)
class SpreadConstraint:
    """One ``topologySpreadConstraints`` entry, selector merged with ``matchLabelKeys``."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: LabelSelector
    min_domains: int
    honor_affinity: bool
    honor_taints: bool


def normalized_image(name: str) -> str:
    """``normalizedImageName`` (imagelocality): a name without tag or digest gets ":latest"."""
    if name.rfind(":") <= name.rfind("/"):
        return f"{name}:latest"
    return name


def _add(total: dict[str, int], requests: dict[str, int]) -> None:
    for name, amount in requests.items():
        total[name] = total.get(name, 0) + amount


def _max(total: dict[str, int], requests: dict[str, int]) -> None:
    for name, amount in requests.items():
        if amount > total.get(name, 0):
            total[name] = amount


def _parse_requests(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict) or not raw:
        return {}
    out = {}
    for name, amount in raw.items():
        try:
            out[name] = milli(amount) if name == CPU else value(amount)
        except (ValueError, TypeError):
            continue
    return out


def _non_zero(requests: dict[str, int]) -> dict[str, int]:
    # applyNonMissing: only a missing request gets the default (an explicit 0 stays 0).
    if CPU in requests and MEMORY in requests:
        return requests
    out = dict(requests)
    out.setdefault(CPU, DEFAULT_MILLI_CPU)
    out.setdefault(MEMORY, DEFAULT_MEMORY)
    return out


def pod_requests(spec: Obj, non_zero: bool) -> dict[str, int]:
    """``resource.PodRequests``: app containers and sidecars summed, the max against each
    init container (plus the sidecars started before it), then ``overhead`` added."""
    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        requests = _parse_requests((container.get("resources") or {}).get("requests"))
        _add(total, _non_zero(requests) if non_zero else requests)
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        requests = _parse_requests((container.get("resources") or {}).get("requests"))
        if non_zero:
            requests = _non_zero(requests)
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            _max(init_max, sidecars)
        else:
            during = dict(requests)
            _add(during, sidecars)
            _max(init_max, during)
    _max(total, init_max)
    _add(total, _parse_requests(spec.get("overhead")))
    return total


def _tolerations(spec: Obj) -> tuple[Toleration, ...]:
    return tuple(
        Toleration(str(t.get("key") or ""), str(t.get("operator") or ""),
                   str(t.get("value") or ""), str(t.get("effect") or ""))
        for t in spec.get("tolerations") or () if isinstance(t, dict))


def _host_ports(spec: Obj) -> tuple[tuple[str, str, int], ...]:
    ports = []
    for container in spec.get("containers") or ():
        for port in container.get("ports") or ():
            host_port = port.get("hostPort") or 0
            if isinstance(host_port, int) and host_port > 0:
                ports.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP",
                              host_port))
    return tuple(ports)


def _affinity_term(raw: Obj, namespace: str, weight: int = 0) -> AffinityTerm:
    namespaces = raw.get("namespaces") or []
    ns_selector = raw.get("namespaceSelector")
    if not namespaces and ns_selector is None:
        namespaces = [namespace]
    # matchLabelKeys/mismatchLabelKeys of pod affinity are merged into labelSelector by the
    # apiserver (1.31+), so the scheduler reads the selector as stored.
    return AffinityTerm(frozenset(namespaces), selector(raw.get("labelSelector")),
                        str(raw.get("topologyKey") or ""),
                        NOTHING if ns_selector is None else selector(ns_selector), weight)


def _terms(block: object, field: str, namespace: str, weighted: bool) -> tuple[AffinityTerm, ...]:
    if not isinstance(block, dict):
        return ()
    terms = []
    for raw in block.get(field) or ():
        if not isinstance(raw, dict):
            continue
        if weighted:
            weight = raw.get("weight") or 0
            term = raw.get("podAffinityTerm") or {}
            if weight:
                terms.append(_affinity_term(term, namespace, int(weight)))
        else:
            terms.append(_affinity_term(raw, namespace))
    return tuple(terms)


def _spread_constraints(spec: Obj, labels: dict[str, str]) -> tuple[SpreadConstraint, ...]:
    out = []
    for raw in spec.get("topologySpreadConstraints") or ():
        if not isinstance(raw, dict):
            continue
        constraint_selector = selector(raw.get("labelSelector"))
        keys = [k for k in raw.get("matchLabelKeys") or () if k in labels]
        if keys and raw.get("labelSelector") is not None:
            extra = {"matchExpressions": [{"key": k, "operator": "In", "values": [labels[k]]}
                                          for k in keys]}
            merged = dict(raw["labelSelector"])
            merged["matchExpressions"] = list(merged.get("matchExpressions") or ()) + \
                extra["matchExpressions"]
            constraint_selector = selector(merged)
        out.append(SpreadConstraint(
            int(raw.get("maxSkew") or 1), str(raw.get("topologyKey") or ""),
            str(raw.get("whenUnsatisfiable") or "DoNotSchedule"), constraint_selector,
            int(raw.get("minDomains") or 1),
            (raw.get("nodeAffinityPolicy") or "Honor") == "Honor",
            (raw.get("nodeTaintsPolicy") or "Ignore") == "Honor"))
    return tuple(out)


class PodInfo:
    """A pod parsed for scheduling (``PodInfo.of(pod)``); treat it as read-only."""

    __slots__ = (
        "affinity_preferred",
        "affinity_required",
        "anti_affinity_preferred",
        "anti_affinity_required",
        "cpu",
        "deleting",
        "ephemeral",
        "has_affinity",
        "has_required_anti_affinity",
        "host_ports",
        "images",
        "key",
        "labels",
        "memory",
        "name",
        "namespace",
        "node_affinity",
        "node_name",
        "nominated_node_name",
        "nz_cpu",
        "nz_memory",
        "owner",
        "pod",
        "preemption_policy",
        "preferred_node_terms",
        "priority",
        "requests",
        "scalar",
        "spread_constraints",
        "start_time",
        "tolerations",
        "uid",
    )

    pod: Obj
    name: str
    namespace: str
    key: str
    uid: str
    labels: dict[str, str]
    deleting: bool
    owner: Obj | None
    start_time: str
    nominated_node_name: str
    priority: int
    preemption_policy: str
    node_name: str
    requests: dict[str, int]
    cpu: int
    memory: int
    ephemeral: int
    scalar: dict[str, int]
    nz_cpu: int
    nz_memory: int
    tolerations: tuple[Toleration, ...]
    host_ports: tuple[tuple[str, str, int], ...]
    node_affinity: NodeSelector | None
    preferred_node_terms: tuple[tuple[int, NodeSelector], ...]
    affinity_required: tuple[AffinityTerm, ...]
    anti_affinity_required: tuple[AffinityTerm, ...]
    affinity_preferred: tuple[AffinityTerm, ...]
    anti_affinity_preferred: tuple[AffinityTerm, ...]
    has_affinity: bool
    has_required_anti_affinity: bool
    spread_constraints: tuple[SpreadConstraint, ...]
    images: tuple[str, ...]

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        """Parse ``pod`` (a v1 Pod as JSON)."""
        info = cls()
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        info.pod = pod
        info.name = meta.get("name") or ""
        info.namespace = meta.get("namespace") or "default"
        info.key = f"{info.namespace}/{info.name}"
        info.uid = str(meta.get("uid") or info.key)
        info.labels = meta.get("labels") or {}
        info.deleting = meta.get("deletionTimestamp") is not None
        info.owner = next((ref for ref in meta.get("ownerReferences") or ()
                           if isinstance(ref, dict) and ref.get("controller")), None)
        status = pod.get("status") or {}
        info.start_time = status.get("startTime") or ""
        info.nominated_node_name = status.get("nominatedNodeName") or ""
        priority = spec.get("priority")
        info.priority = priority if isinstance(priority, int) else 0
        info.preemption_policy = spec.get("preemptionPolicy") or "PreemptLowerPriority"
        info.node_name = spec.get("nodeName") or ""
        info._set_requests(spec)
        info.tolerations = _tolerations(spec)
        info.host_ports = _host_ports(spec)
        info._set_affinity(spec)
        info.spread_constraints = _spread_constraints(spec, info.labels)
        info.images = tuple(normalized_image(str(c.get("image") or ""))
                            for c in (*(spec.get("initContainers") or ()),
                                      *(spec.get("containers") or ())))
        return info

    def _set_requests(self, spec: Obj) -> None:
        requests = pod_requests(spec, non_zero=False)
        self.requests = requests
        self.cpu = requests.get(CPU, 0)
        self.memory = requests.get(MEMORY, 0)
        self.ephemeral = requests.get(EPHEMERAL, 0)
        self.scalar = {k: v for k, v in requests.items() if v and is_scalar_resource(k)}
        non_zero = pod_requests(spec, non_zero=True)
        self.nz_cpu = non_zero.get(CPU, 0)
        self.nz_memory = non_zero.get(MEMORY, 0)

    def _set_affinity(self, spec: Obj) -> None:
        affinity = spec.get("affinity") or {}
        node_affinity = affinity.get("nodeAffinity") or {}
        self.node_affinity = required_node_selector(
            spec.get("nodeSelector"), node_affinity)
        self.preferred_node_terms = tuple(
            (int(p.get("weight") or 0), NodeSelector.of_terms([p.get("preference") or {}]))
            for p in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
            if isinstance(p, dict) and p.get("weight"))
        pod_affinity = affinity.get("podAffinity")
        anti = affinity.get("podAntiAffinity")
        ns = self.namespace
        required = "requiredDuringSchedulingIgnoredDuringExecution"
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        self.affinity_required = _terms(pod_affinity, required, ns, weighted=False)
        self.anti_affinity_required = _terms(anti, required, ns, weighted=False)
        self.affinity_preferred = _terms(pod_affinity, preferred, ns, weighted=True)
        self.anti_affinity_preferred = _terms(anti, preferred, ns, weighted=True)
        # NodeInfo.PodsWithAffinity / PodsWithRequiredAntiAffinity (types.go).
        self.has_affinity = pod_affinity is not None or anti is not None
        self.has_required_anti_affinity = bool(self.anti_affinity_required)

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"
