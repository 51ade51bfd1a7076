"""InterPodAffinity: required (anti-)affinity filter and preferred (anti-)affinity score.

After ``pkg/scheduler/framework/plugins/interpodaffinity/`` (``filtering.go``,
``scoring.go``). Counts are kept per topology pair ``(key, value)``:

* ``existing``: existing pods whose required anti-affinity terms match the incoming pod;
* ``affinity``: existing pods matching *all* of the incoming pod's required affinity terms;
* ``anti``: existing pods matching each of the incoming pod's required anti-affinity terms.

A pod whose affinity finds no match anywhere passes when it matches its own terms (the first
pod of a self-affine group). Terms without namespaces or namespaceSelector mean the pod's
own namespace; a namespaceSelector is resolved to names through the Lister.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from servers.apimachinery.selectors import NOTHING
from servers.scheduler.framework.lister import Lister
from servers.scheduler.framework.nodeinfo import NodeInfo, Snapshot
from servers.scheduler.framework.podinfo import AffinityTerm, PodInfo
from servers.scheduler.framework.status import (
    S_AFFINITY,
    S_ANTI_AFFINITY,
    S_EXISTING_ANTI_AFFINITY,
    Status,
)

Pairs = Counter[tuple[str, str]]


def resolve_namespaces(terms: Sequence[AffinityTerm], lister: Lister) -> list[AffinityTerm]:
    """``mergeAffinityTermNamespacesIfNotEmpty``: a non-empty namespaceSelector becomes names."""
    out = []
    for term in terms:
        ns_selector = term.namespace_selector
        if ns_selector is NOTHING or ns_selector.empty():
            out.append(term)
            continue
        names = {name for name, labels in lister.namespaces() if ns_selector.matches(labels)}
        out.append(replace(term, namespaces=term.namespaces | names, namespace_selector=NOTHING))
    return out


def _matches_all(terms: Sequence[AffinityTerm], pod: PodInfo) -> bool:
    return bool(terms) and all(t.matches(pod, None) for t in terms)


class AffinityFilter:
    """PreFilter state; ``check`` is the Filter, ``update`` the AddPod/RemovePod extension."""

    def __init__(self, pod: PodInfo, snapshot: Snapshot, lister: Lister) -> None:
        self.pod = pod
        self.ns_labels = dict(lister.namespace_labels(pod.namespace) or {})
        self.affinity_terms = resolve_namespaces(pod.affinity_required, lister)
        self.anti_terms = resolve_namespaces(pod.anti_affinity_required, lister)
        self.existing: Pairs = Counter()
        self.affinity: Pairs = Counter()
        self.anti: Pairs = Counter()
        for node in snapshot.with_required_anti_affinity():
            for other in node.pods_with_required_anti_affinity:
                self._existing(other, node, 1)
        if self.affinity_terms or self.anti_terms:
            for node in snapshot.node_list:
                for other in node._pods.values():
                    self._incoming(other, node, 1)

    @property
    def active(self) -> bool:
        """Whether the filter can reject anything (else kube's PreFilter says Skip)."""
        return bool(self.existing or self.affinity_terms or self.anti_terms)

    def _existing(self, other: PodInfo, node: NodeInfo, sign: int) -> None:
        for term in other.anti_affinity_required:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(self.pod, self.ns_labels):
                self.existing[(term.topology_key, value)] += sign

    def _incoming(self, other: PodInfo, node: NodeInfo, sign: int) -> None:
        labels = node.labels
        if _matches_all(self.affinity_terms, other):
            for term in self.affinity_terms:
                value = labels.get(term.topology_key)
                if value is not None:
                    self.affinity[(term.topology_key, value)] += sign
        for term in self.anti_terms:
            value = labels.get(term.topology_key)
            if value is not None and term.matches(other, None):
                self.anti[(term.topology_key, value)] += sign

    def update(self, other: PodInfo, node: NodeInfo, sign: int) -> None:
        """Count (sign 1) or uncount (-1) ``other`` on ``node`` (preemption's what-if)."""
        self._existing(other, node, sign)
        self._incoming(other, node, sign)

    def check(self, node: NodeInfo) -> Status | None:
        """The Filter: affinity, then anti-affinity, then existing pods' anti-affinity."""
        labels = node.labels
        if self.affinity_terms and not self._affinity_ok(labels):
            return S_AFFINITY
        if self.anti_terms:
            for term in self.anti_terms:
                value = labels.get(term.topology_key)
                if value is not None and self.anti[(term.topology_key, value)] > 0:
                    return S_ANTI_AFFINITY
        if self.existing:
            for pair in labels.items():
                if self.existing[pair] > 0:
                    return S_EXISTING_ANTI_AFFINITY
        return None

    def _affinity_ok(self, labels: Mapping[str, str]) -> bool:
        pods_exist = True
        for term in self.affinity_terms:
            value = labels.get(term.topology_key)
            if value is None:
                return False
            if self.affinity[(term.topology_key, value)] <= 0:
                pods_exist = False
        if pods_exist:
            return True
        # The first pod of a group with affinity to itself.
        nothing_matched = not any(n > 0 for n in self.affinity.values())
        return nothing_matched and _matches_all(self.affinity_terms, self.pod)


def _add_terms(scores: dict[tuple[str, str], int], terms: Sequence[AffinityTerm],
               pod: PodInfo, ns_labels: Mapping[str, str] | None, node: NodeInfo,
               sign: int, weight: int | None = None) -> None:
    for term in terms:
        if term.matches(pod, ns_labels):
            value = node.labels.get(term.topology_key)
            if value is not None:
                pair = (term.topology_key, value)
                scores[pair] = scores.get(pair, 0) + sign * (term.weight if weight is None
                                                               else weight)


def affinity_scores(pod: PodInfo, feasible: Sequence[NodeInfo], snapshot: Snapshot,
                    lister: Lister, hard_weight: int = 1,
                    ignore_existing: bool = False) -> list[int] | None:
    """PreScore + Score + NormalizeScore (0..100), or None when nothing contributes.

    ``ignore_existing`` is ``ignorePreferredTermsOfExistingPods``: a pod without preferred
    terms of its own is then not scored at all.
    """
    preferred = resolve_namespaces(pod.affinity_preferred, lister)
    anti = resolve_namespaces(pod.anti_affinity_preferred, lister)
    own = bool(preferred or anti)
    if ignore_existing and not own:
        return None
    ns_labels = dict(lister.namespace_labels(pod.namespace) or {})
    pairs: dict[tuple[str, str], int] = {}
    for node in snapshot.node_list if own else snapshot.with_affinity():
        if not node.labels:
            continue
        for other in (node._pods.values() if own else node.pods_with_affinity):
            _add_terms(pairs, preferred, other, None, node, 1)
            _add_terms(pairs, anti, other, None, node, -1)
            if hard_weight > 0:
                _add_terms(pairs, other.affinity_required, pod, ns_labels, node, 1, hard_weight)
            _add_terms(pairs, other.affinity_preferred, pod, ns_labels, node, 1)
            _add_terms(pairs, other.anti_affinity_preferred, pod, ns_labels, node, -1)
    if not pairs:
        return None
    raw = [sum(pairs.get(pair, 0) for pair in node.labels.items()) for node in feasible]
    low, high = min(raw), max(raw)
    if high - low <= 0:
        return [0] * len(raw)
    return [int(100 * ((s - low) / (high - low))) for s in raw]
