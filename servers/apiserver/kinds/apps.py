"""apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and ControllerRevision: defaults and
validation.

Kubernetes references (k8s.io/kubernetes at v1.32): pkg/apis/apps/v1/defaults.go
(``SetDefaults_Deployment``: replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10,
progressDeadlineSeconds 600; ``SetDefaults_ReplicaSet``; ``SetDefaults_StatefulSet``:
OrderedReady, RollingUpdate partition 0, Retain/Retain; ``SetDefaults_DaemonSet``:
RollingUpdate maxUnavailable 1 maxSurge 0), pkg/apis/apps/validation/validation.go
(``ValidateDeploymentSpec``, ``ValidateReplicaSetSpec``, ``ValidateStatefulSetSpec``,
``ValidateDaemonSetSpec`` and their ``...Update``: the selector is immutable) and the
registry strategies' ``PrepareForCreate`` (status starts empty). km has no persistent volumes
yet, so a StatefulSet's ``volumeClaimTemplates`` are refused with their own 422.
"""

from __future__ import annotations

from servers.apimachinery import field
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict, as_list, nonnegative, one_of
from servers.apiserver.kinds.workload import (
    default_template,
    immutable,
    int_or_percent,
    is_zero,
    required_selector,
    template_for_selector,
)

GROUP = "apps"
DEPLOYMENT_STRATEGIES = ("Recreate", "RollingUpdate")
STATEFULSET_STRATEGIES = ("OnDelete", "RollingUpdate")
DAEMONSET_STRATEGIES = ("OnDelete", "RollingUpdate")
POD_MANAGEMENT = ("OrderedReady", "Parallel")
PVC_RETENTION = ("Delete", "Retain")
NO_VOLUMES = ("km has no persistent volumes yet: a StatefulSet may not have "
              "volumeClaimTemplates")
STATEFULSET_UPDATABLE = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
    "forbidden"
)
_STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                        "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _spec(obj: Obj) -> Obj | None:
    spec = obj.setdefault("spec", {})
    return spec if isinstance(spec, dict) else None


def _child(parent: Obj, key: str) -> Obj:
    """``parent[key]``, made an empty object first when it is missing or not one."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


# -- defaults ---------------------------------------------------------------------------------

def default_deployment(deploy: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_Deployment``; a new Deployment starts with an empty status."""
    spec = _spec(deploy)
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    strategy = _child(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_template(spec.get("template"))
    if old is None:
        deploy["status"] = {}


def default_replicaset(rs: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_ReplicaSet``: replicas 1; a new one starts with ``status.replicas`` 0."""
    spec = _spec(rs)
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    default_template(spec.get("template"))
    if old is None:
        rs["status"] = {"replicas": 0}


def default_statefulset(sts: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_StatefulSet``."""
    spec = _spec(sts)
    if spec is None:
        return
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("partition", 0)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    default_template(spec.get("template"))
    if old is None:
        sts["status"] = {"replicas": 0, "availableReplicas": 0}


def default_daemonset(ds: Obj, old: Obj | None = None) -> None:
    """``SetDefaults_DaemonSet``."""
    spec = _spec(ds)
    if spec is None:
        return
    strategy = _child(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_template(spec.get("template"))
    if old is None:
        ds["status"] = {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                        "desiredNumberScheduled": 0, "numberReady": 0}


# -- validation -------------------------------------------------------------------------------

def _replica_rules(spec: Obj, kind: str, template_kind: str) -> list[Cause]:
    """Counts, the selector (``empty selector is invalid for <kind>``) and the template
    (``activeDeadlineSeconds in <template_kind> is not Supported``)."""
    return [
        *nonnegative("spec.replicas", spec.get("replicas")),
        *nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")),
        *nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")),
        *required_selector(spec, kind),
        *template_for_selector(spec, kind=template_kind),
    ]


def _selector_update(obj: Obj, old: Obj | None) -> list[Cause]:
    if old is None:
        return []
    return immutable("spec.selector", as_dict(obj.get("spec")).get("selector"),
                     as_dict(old.get("spec")).get("selector"))


def _rolling_update(rolling: Obj, path: str) -> list[Cause]:
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    causes = [*int_or_percent(f"{path}.maxUnavailable", unavailable),
              *int_or_percent(f"{path}.maxSurge", surge)]
    if not causes and is_zero(surge) and is_zero(unavailable):
        causes.append(field.invalid(f"{path}.maxUnavailable", unavailable,
                                    "may not be 0 when `maxSurge` is 0"))
    return causes


def _deployment_strategy(spec: Obj) -> list[Cause]:
    strategy = as_dict(spec.get("strategy"))
    kind = strategy.get("type")
    causes = one_of("spec.strategy.type", kind, DEPLOYMENT_STRATEGIES)
    if kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        causes.append(field.forbidden("spec.strategy.rollingUpdate", "may not be specified "
                                      "when strategy `type` is 'Recreate'"))
    elif kind == "RollingUpdate":
        causes += _rolling_update(as_dict(strategy.get("rollingUpdate")),
                                  "spec.strategy.rollingUpdate")
    return causes


def validate_deployment(deploy: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateDeploymentSpec`` (and the immutable selector on update)."""
    spec = as_dict(deploy.get("spec"))
    # A Deployment's template is checked as a ReplicaSet's (ValidateDeploymentSpec).
    causes = [*_replica_rules(spec, "deployment", "ReplicaSet"), *_deployment_strategy(spec)]
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int):
        causes += nonnegative("spec.progressDeadlineSeconds", deadline)
        if deadline <= ready:
            causes.append(field.invalid("spec.progressDeadlineSeconds", deadline,
                                        "must be greater than minReadySeconds"))
    return causes + _selector_update(deploy, old)


def validate_replicaset(rs: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateReplicaSetSpec`` (and the immutable selector on update)."""
    return _replica_rules(as_dict(rs.get("spec")), "ReplicaSet", "ReplicaSet") + \
        _selector_update(rs, old)


def validate_statefulset(sts: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateStatefulSetSpec``; an update may change only the mutable members."""
    spec = as_dict(sts.get("spec"))
    causes = _replica_rules(spec, "StatefulSet", "StatefulSet")
    causes += one_of("spec.podManagementPolicy", spec.get("podManagementPolicy"), POD_MANAGEMENT)
    strategy = as_dict(spec.get("updateStrategy"))
    causes += one_of("spec.updateStrategy.type", strategy.get("type"), STATEFULSET_STRATEGIES)
    if strategy.get("type") == "OnDelete" and strategy.get("rollingUpdate") is not None:
        causes.append(field.invalid("spec.updateStrategy.rollingUpdate",
                                    strategy["rollingUpdate"],
                                    "only allowed for updateStrategy 'RollingUpdate'"))
    causes += nonnegative("spec.updateStrategy.rollingUpdate.partition",
                          as_dict(strategy.get("rollingUpdate")).get("partition"))
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for member in ("whenDeleted", "whenScaled"):
        causes += one_of(f"spec.persistentVolumeClaimRetentionPolicy.{member}",
                         retention.get(member), PVC_RETENTION)
    if as_list(spec.get("volumeClaimTemplates")):
        causes.append(field.forbidden("spec.volumeClaimTemplates", NO_VOLUMES))
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        rest = {k: v for k, v in spec.items() if k not in _STATEFULSET_MUTABLE}
        old_rest = {k: v for k, v in old_spec.items() if k not in _STATEFULSET_MUTABLE}
        if rest != old_rest:
            causes.append(field.forbidden("spec", STATEFULSET_UPDATABLE))
    return causes


def validate_daemonset(ds: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateDaemonSetSpec`` (and the immutable selector on update)."""
    spec = as_dict(ds.get("spec"))
    causes = [*required_selector(spec, "daemonset"),
              *template_for_selector(spec, kind="DaemonSet"),
              *nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")),
              *nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))]
    strategy = as_dict(spec.get("updateStrategy"))
    causes += one_of("spec.updateStrategy.type", strategy.get("type"), DAEMONSET_STRATEGIES)
    if strategy.get("type") == "RollingUpdate":
        causes += _rolling_update(as_dict(strategy.get("rollingUpdate")),
                                  "spec.updateStrategy.rollingUpdate")
    return causes + _selector_update(ds, old)


def validate_controllerrevision(revision: Obj, old: Obj | None = None) -> list[Cause]:
    """``ValidateControllerRevision``: data is mandatory, revision a nonnegative integer;
    ``ValidateControllerRevisionUpdate``: data is immutable (revision may change: that is how
    a controller marks an old revision as the newest again)."""
    causes: list[Cause] = []
    if revision.get("data") is None:
        causes.append(field.required("data", "data is mandatory"))
    number = revision.get("revision", 0)
    if not isinstance(number, int) or isinstance(number, bool):
        causes.append(field.invalid("revision", number, "must be an integer"))
    else:
        causes += nonnegative("revision", number)
    if old is not None:
        causes += immutable("data", revision.get("data"), old.get("data"))
    return causes
