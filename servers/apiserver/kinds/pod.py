"""Pod: defaults on every write, the status a new pod starts with, and what an update may change.

Kubernetes references (k8s.io/kubernetes at v1.32): ``SetDefaults_Pod`` (requests default to
limits, ``enableServiceLinks``), ``podStrategy.PrepareForCreate`` (status reset to phase
``Pending`` with its QoS class), ``ValidatePodCreate`` and ``ValidatePodUpdate`` — a pod's spec
is immutable except ``containers[*].image``, ``initContainers[*].image``,
``activeDeadlineSeconds`` (set or lowered), ``tolerations`` (additions only),
``schedulingGates`` (removals only) and ``terminationGracePeriodSeconds`` (from negative to 1).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from servers.apimachinery import field
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, as_list, dicts
from servers.apiserver.kinds.affinity import validate_gates_update
from servers.apiserver.kinds.podspec import default_pod_spec, qos_class, validate_pod_spec

SPEC_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)
_MAX_DIFF_LINES = 8


def default(pod: Obj, old: Obj | None = None) -> None:
    """Apply Pod defaults in place; on create (``old`` is None) also start the status afresh."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    for container in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        resources = as_dict(container.get("resources"))
        limits = as_dict(resources.get("limits"))
        if limits:
            requests = resources.setdefault("requests", {})
            for name, amount in limits.items():
                requests.setdefault(name, amount)
    spec.setdefault("enableServiceLinks", True)
    default_pod_spec(spec)
    if old is None:
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}


def validate(pod: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidatePodCreate`` / ``ValidatePodUpdate`` for the spec (metadata is checked by the
    caller). Call after ``default``."""
    spec = as_dict(pod.get("spec"))
    causes = validate_pod_spec(spec)
    if old is None and spec.get("nodeName") and spec.get("schedulingGates"):
        causes.append(field.forbidden("spec.nodeName", "cannot be set until all "
                                      "schedulingGates have been cleared"))
    if old is not None:
        causes += validate_update(spec, as_dict(old.get("spec")))
    return causes


def _deadline_update(new: Any, old: Any) -> list[Cause]:
    path = "spec.activeDeadlineSeconds"
    if new is None:
        if old is not None:
            return [field.invalid(path, None, "must not update from a positive integer to nil "
                                              "value")]
        return []
    if old is not None and new > old:
        return [field.invalid(path, new, "must be less than or equal to previous value")]
    return []


def _without_seconds(toleration: Obj) -> Obj:
    return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}


def _tolerations_update(new: list[Any], old: list[Any]) -> list[Cause]:
    remaining = [_without_seconds(t) for t in dicts(new)]
    for toleration in dicts(old):
        if _without_seconds(toleration) not in remaining:
            return [field.forbidden("spec.tolerations", "existing toleration can not be modified "
                                                        "except its tolerationSeconds")]
        remaining.remove(_without_seconds(toleration))
    return []


def _munge(new: Obj, old: Obj) -> Obj:
    """``new`` with every field an update may change set back to its ``old`` value."""
    munged = copy.deepcopy(new)
    for kind in ("containers", "initContainers"):
        olds, news = dicts(old.get(kind)), dicts(munged.get(kind))
        if len(olds) == len(news):
            for before, after in zip(olds, news, strict=True):
                if "image" in before:
                    after["image"] = before["image"]
    for member in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(member, None)
        if member in old:
            munged[member] = old[member]
    grace, old_grace = munged.get("terminationGracePeriodSeconds"), old.get(
        "terminationGracePeriodSeconds")
    if grace == 1 and isinstance(old_grace, int) and old_grace < 0:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _diff(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [line for k in keys for line in _diff(old.get(k), new.get(k), f"{path}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True))
                for line in _diff(a, b, f"{path}[{i}]")]
    if old == new:
        return []
    return [f"  {path}: {json.dumps(old)} -> {json.dumps(new)}"]


def validate_update(new: Obj, old: Obj) -> list[Cause]:
    """The rules of ``ValidatePodUpdate`` for ``spec`` (both specs already defaulted)."""
    causes = _deadline_update(new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds"))
    causes += _tolerations_update(as_list(new.get("tolerations")), as_list(old.get("tolerations")))
    causes += validate_gates_update(new.get("schedulingGates"), old.get("schedulingGates"),
                                    "spec.schedulingGates")
    munged = _munge(new, old)
    if munged != old:
        changes = _diff(old, munged, "spec")[:_MAX_DIFF_LINES]
        causes.append(field.forbidden("spec", SPEC_UPDATE_FORBIDDEN + "\n" + "\n".join(changes)))
    return causes
