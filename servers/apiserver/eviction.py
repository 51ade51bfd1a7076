"""``POST pods/NAME/eviction``: a graceful pod delete that respects PodDisruptionBudgets.

Follows k8s.io/kubernetes pkg/registry/core/pod/storage/eviction.go at v1.32: a pod that is
terminal, pending or already terminating is deleted without looking at budgets; otherwise the
one budget selecting the pod (more than one is a 500) must allow a disruption. Its
``status.disruptionsAllowed`` is kept by the disruption controller; the eviction decrements it
and records the pod in ``status.disruptedPods`` (written through ``/status`` with the read
resourceVersion, retried on conflicts) before it deletes the pod with the Eviction's
deleteOptions. A budget that allows none answers 429 TooManyRequests with kube's message and a
``DisruptionBudget`` cause; one not yet observed by its controller answers 429 as well.
An unready pod under ``unhealthyPodEvictionPolicy: AlwaysAllow``, or under the default
IfHealthyBudget while the budget is healthy, is deleted without using a disruption.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import errors
from servers.apimachinery.meta import Obj, now_rfc3339
from servers.apiserver import resources
from servers.apiserver.kinds.workload import selector_matches
from servers.apiserver.registry import Filter, Registry
from servers.apiserver.resources import Resource
from servers.apiserver.routing import Target

VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE = ("This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support.")
NEGATIVE = "pdb disruptions allowed is negative"
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
MAX_DISRUPTED_PODS = 2000
CONFLICT_RETRIES = 8
_FOUND = resources.by_plural("policy", "v1", "poddisruptionbudgets")
assert _FOUND is not None
_PDBS: Resource = _FOUND
SUCCESS: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "code": 201}


def too_many_requests(message: str) -> errors.TooManyRequests:
    """kube's 429 for a budget that forbids the eviction, with its one cause."""
    err = errors.TooManyRequests(VIOLATES)
    err.details = {"causes": [{"reason": DISRUPTION_BUDGET_CAUSE, "message": message}]}
    return err


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in conditions)


def _can_ignore_budget(pod: Obj) -> bool:
    """``canIgnorePDB``: terminal, pending or terminating pods are deleted directly."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(
        pod["metadata"].get("deletionTimestamp"))


def _options(eviction: Any, dry_run: bool) -> Obj:
    options = eviction.get("deleteOptions") if isinstance(eviction, dict) else None
    options = dict(options) if isinstance(options, dict) else {}
    if dry_run:
        options["dryRun"] = ["All"]
    return options


def _check_name(target: Target, eviction: Any) -> None:
    if not isinstance(eviction, dict):
        raise errors.BadRequest("the Eviction is not a JSON object")
    name = (eviction.get("metadata") or {}).get("name")
    if name and name != target.name:
        raise errors.BadRequest("name in URL does not match name in Eviction object")


async def _budgets(registry: Registry, pod: Obj) -> list[Obj]:
    listed = await registry.list(Target(_PDBS, pod["metadata"].get("namespace")), Filter())
    labels = pod["metadata"].get("labels") or {}
    return [pdb for pdb in listed["items"]
            if selector_matches((pdb.get("spec") or {}).get("selector"), labels)]


def _budget_healthy(pdb: Obj) -> bool:
    status = pdb.get("status") or {}
    desired = status.get("desiredHealthy") or 0
    return desired > 0 and (status.get("currentHealthy") or 0) >= desired


def _decrement(pdb: Obj, pod_name: str) -> Obj:
    """``checkAndDecrement``: the budget with one disruption used, or 429/403."""
    meta, status = pdb["metadata"], pdb.setdefault("status", {})
    name = meta.get("name", "")
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        raise too_many_requests(f"The disruption budget {name} is still being processed by "
                                "the server.")
    allowed = status.get("disruptionsAllowed") or 0
    if allowed < 0:
        raise errors.Forbidden("poddisruptionbudgets", name, NEGATIVE, group="policy")
    disrupted = status.get("disruptedPods") or {}
    if len(disrupted) > MAX_DISRUPTED_PODS:
        raise errors.Forbidden("poddisruptionbudgets", name, "DisruptedPods map too big - too "
                               "many evictions not confirmed by PDB controller", group="policy")
    if allowed == 0:
        raise too_many_requests(
            f"The disruption budget {name} needs {status.get('desiredHealthy') or 0} healthy "
            f"pods and has {status.get('currentHealthy') or 0} currently")
    status["disruptionsAllowed"] = allowed - 1
    status["disruptedPods"] = {**disrupted, pod_name: now_rfc3339()}
    return pdb


async def _use_disruption(registry: Registry, pdb: Obj, pod_name: str, dry_run: bool) -> None:
    """Decrement the budget through its status, re-reading it after a conflict."""
    target = Target(_PDBS, pdb["metadata"].get("namespace"), pdb["metadata"]["name"], "status")
    for attempt in range(CONFLICT_RETRIES):
        if attempt:
            pdb = await registry.get(Target(target.resource, target.namespace, target.name))
        try:
            await registry.update(target, _decrement(pdb, pod_name), dry_run=dry_run)
            return
        except errors.Conflict:
            continue
    raise errors.Conflict("poddisruptionbudgets", target.name, group="policy")


async def evict(registry: Registry, target: Target, eviction: Any, *, dry_run: bool = False
                ) -> Obj:
    """Evict the pod ``target`` names (see the module doc); the Success Status on 201."""
    _check_name(target, eviction)
    pod_target = Target(target.resource, target.namespace, target.name)
    pod = await registry.get(pod_target)
    options = _options(eviction, dry_run)
    if not _can_ignore_budget(pod):
        budgets = await _budgets(registry, pod)
        if len(budgets) > 1:
            raise errors.InternalError(MULTIPLE)
        if budgets:
            pdb = budgets[0]
            policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
            unready = not _ready(pod)
            skip = unready and (policy == "AlwaysAllow" or _budget_healthy(pdb))
            if not skip:
                await _use_disruption(registry, pdb, target.name, dry_run)
    await registry.delete(pod_target, options, dry_run=dry_run)
    return dict(SUCCESS)
