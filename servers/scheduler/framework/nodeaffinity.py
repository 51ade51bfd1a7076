"""Node selectors: ``nodeSelector`` and node affinity terms matched against a node.

After ``k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go``: terms are
ORed, the requirements inside a term ANDed; label operators In, NotIn, Exists, DoesNotExist,
Gt, Lt (integers); ``matchFields`` knows only ``metadata.name`` with In/NotIn and one value.
A term that does not parse matches nothing (kube ignores parse errors for backwards
compatibility), and so does an empty term.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Obj = dict[str, Any]
Labels = Mapping[str, str]
_INT = re.compile(r"[+-]?[0-9]+")
Check = Callable[[Labels, str], bool]


def _integer(text: object) -> int | None:
    if isinstance(text, str) and _INT.fullmatch(text):
        number = int(text)
        if -(2**63) <= number < 2**63:
            return number
    return None


def _label_check(raw: Obj) -> Check | None:
    key, operator = raw.get("key"), raw.get("operator")
    values = raw.get("values") or []
    if not isinstance(key, str) or not key or not isinstance(values, list):
        return None
    if operator in ("In", "NotIn"):
        if not values:
            return None
        allowed = frozenset(values)
        if operator == "In":
            return lambda labels, _name: labels.get(key) in allowed
        return lambda labels, _name: labels.get(key) not in allowed
    if operator in ("Exists", "DoesNotExist"):
        if values:
            return None
        want = operator == "Exists"
        return lambda labels, _name: (key in labels) == want
    if operator in ("Gt", "Lt") and len(values) == 1:
        bound = _integer(values[0])
        if bound is None:
            return None
        return _compare(key, bound, operator == "Gt")
    return None


def _compare(key: str, bound: int, greater: bool) -> Check:
    def check(labels: Labels, _name: str) -> bool:
        have = _integer(labels.get(key))
        if have is None:
            return False
        return have > bound if greater else have < bound
    return check


def _field_check(raw: Obj) -> Check | None:
    values = raw.get("values") or []
    if raw.get("key") != "metadata.name" or not isinstance(values, list) or len(values) != 1:
        return None
    wanted = values[0]
    if raw.get("operator") == "In":
        return lambda _labels, name: name == wanted
    if raw.get("operator") == "NotIn":
        return lambda _labels, name: name != wanted
    return None


def _term(raw: object) -> tuple[Check, ...] | None:
    """The checks of one term, or None if it matches nothing (empty or unparsable)."""
    if not isinstance(raw, dict):
        return None
    expressions = raw.get("matchExpressions") or []
    fields = raw.get("matchFields") or []
    if not expressions and not fields:
        return None
    checks = [_label_check(e) if isinstance(e, dict) else None for e in expressions]
    checks += [_field_check(f) if isinstance(f, dict) else None for f in fields]
    if any(check is None for check in checks):
        return None
    return tuple(c for c in checks if c is not None)


def _node_names(raw: object) -> frozenset[str] | None:
    """The names a term's ``metadata.name In`` fields allow (intersected), or None."""
    names: frozenset[str] | None = None
    if isinstance(raw, dict):
        for field in raw.get("matchFields") or ():
            if (isinstance(field, dict) and field.get("key") == "metadata.name"
                    and field.get("operator") == "In"):
                these = frozenset(v for v in field.get("values") or () if isinstance(v, str))
                names = these if names is None else names & these
    return names


class NodeSelector:
    """``nodeSelector`` labels AND (when ``terms`` is not None) any one of the terms."""

    __slots__ = ("labels", "names", "terms")

    def __init__(self, labels: Labels | None, terms: list[object] | None) -> None:
        self.labels = dict(labels or {})
        self.terms: tuple[tuple[Check, ...], ...] | None = None
        # PreFilterResult of NodeAffinity: the node names every term pins (None: no pin).
        self.names: frozenset[str] | None = None
        if terms is not None:
            parsed = (_term(t) for t in terms)
            self.terms = tuple(t for t in parsed if t is not None)
            self.names = _pinned_names(terms)

    @classmethod
    def of_terms(cls, terms: list[object]) -> NodeSelector:
        """A selector of just these terms (a preferred term's ``preference``)."""
        return cls(None, terms)

    def matches(self, labels: Labels, name: str) -> bool:
        """Whether a node with these labels and this name is selected."""
        for key, wanted in self.labels.items():
            if labels.get(key) != wanted:
                return False
        if self.terms is None:
            return True
        return any(all(check(labels, name) for check in term) for term in self.terms)


def _pinned_names(terms: list[object]) -> frozenset[str] | None:
    # NodeAffinity.PreFilter: a union over terms of each term's pinned names; one term
    # without a pin means every node may match.
    if not terms:
        return None
    union: frozenset[str] = frozenset()
    for term in terms:
        names = _node_names(term)
        if names is None:
            return None
        union |= names
    return union


def required_node_selector(node_selector: object, node_affinity: Obj) -> NodeSelector | None:
    """``GetRequiredNodeAffinity``: None when the pod constrains nothing."""
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    labels = node_selector if isinstance(node_selector, dict) and node_selector else None
    if labels is None and required is None:
        return None
    terms = None
    if isinstance(required, dict):
        terms = list(required.get("nodeSelectorTerms") or [])
    return NodeSelector(labels, terms)
