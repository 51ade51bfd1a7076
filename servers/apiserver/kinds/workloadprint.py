"""Table rows of the workload kinds: deployments, replica sets, stateful sets, daemon sets,
jobs, cron jobs, disruption budgets, endpoint slices and service accounts.

Each function returns the *wide* row (priority 0 and 1 cells) for one object, as
k8s.io/kubernetes pkg/printers/internalversion/printers.go at v1.32 computes it
(``printDeployment``, ``printReplicaSet``, ``printStatefulSet``, ``printDaemonSet``,
``printJob``, ``printCronJob``, ``printPodDisruptionBudget``, ``printEndpointSlice``,
``printServiceAccount``). Selectors print as ``metav1.FormatLabelSelector`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.apimachinery import errors, selectors
from servers.apimachinery.meta import parse_rfc3339
from servers.apiserver.kinds._common import Obj, as_dict, as_list, dicts
from servers.apiserver.kinds.printers import NONE, age, format_labels, human_duration

Cell = Any
_JOB_STATES = ("Complete", "Failed")


def format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``app=web``, ``<none>`` when empty, ``<error>``."""
    if selector is None:
        return NONE
    try:
        text = str(selectors.label_selector_from_object(as_dict(selector)))
    except errors.StatusError:
        return "<error>"
    return text or NONE


def _name(obj: Obj) -> str:
    return str(as_dict(obj.get("metadata")).get("name", ""))


def _created(obj: Obj, now: datetime) -> str:
    return age(as_dict(obj.get("metadata")).get("creationTimestamp"), now)


def _containers(template: Any) -> list[str]:
    """The CONTAINERS and IMAGES cells of a pod template."""
    containers = dicts(as_dict(as_dict(template).get("spec")).get("containers"))
    return [",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers)]


def _int(obj: Obj, key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) else 0


def deployment_row(deploy: Obj, now: datetime) -> list[Cell]:
    """NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR."""
    spec, status = as_dict(deploy.get("spec")), as_dict(deploy.get("status"))
    return [_name(deploy), f"{_int(status, 'readyReplicas')}/{_int(spec, 'replicas')}",
            _int(status, "updatedReplicas"), _int(status, "availableReplicas"),
            _created(deploy, now), *_containers(spec.get("template")),
            format_selector(spec.get("selector"))]


def replicaset_row(rs: Obj, now: datetime) -> list[Cell]:
    """NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR."""
    spec, status = as_dict(rs.get("spec")), as_dict(rs.get("status"))
    return [_name(rs), _int(spec, "replicas"), _int(status, "replicas"),
            _int(status, "readyReplicas"), _created(rs, now), *_containers(spec.get("template")),
            format_selector(spec.get("selector"))]


def statefulset_row(sts: Obj, now: datetime) -> list[Cell]:
    """NAME READY AGE | CONTAINERS IMAGES."""
    spec, status = as_dict(sts.get("spec")), as_dict(sts.get("status"))
    return [_name(sts), f"{_int(status, 'readyReplicas')}/{_int(spec, 'replicas')}",
            _created(sts, now), *_containers(spec.get("template"))]


def daemonset_row(ds: Obj, now: datetime) -> list[Cell]:
    """NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE | CONTAINERS IMAGES
    SELECTOR."""
    spec, status = as_dict(ds.get("spec")), as_dict(ds.get("status"))
    node_selector = as_dict(as_dict(as_dict(spec.get("template")).get("spec")).get(
        "nodeSelector"))
    return [_name(ds), _int(status, "desiredNumberScheduled"),
            _int(status, "currentNumberScheduled"), _int(status, "numberReady"),
            _int(status, "updatedNumberScheduled"), _int(status, "numberAvailable"),
            format_labels(node_selector), _created(ds, now), *_containers(spec.get("template")),
            format_selector(spec.get("selector"))]


def controllerrevision_row(revision: Obj, now: datetime) -> list[Cell]:
    """NAME CONTROLLER REVISION AGE; the controller as ``kind.group/name``
    (``printControllerRevision``)."""
    meta = as_dict(revision.get("metadata"))
    ref = next((r for r in dicts(meta.get("ownerReferences")) if r.get("controller") is True),
               None)
    controller = NONE
    if ref is not None:
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind = str(ref.get("kind") or "").lower()
        controller = f"{kind}.{group}/{ref.get('name', '')}" if group else \
            f"{kind}/{ref.get('name', '')}"
    number = revision.get("revision", 0)
    return [_name(revision), controller, number if isinstance(number, int) else 0,
            _created(revision, now)]


def _condition(status: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in dicts(status.get("conditions")))


def job_status(job: Obj) -> str:
    """The STATUS cell (1.30+): Complete, Failed, Terminating, Suspended, FailureTarget,
    Running."""
    status = as_dict(job.get("status"))
    for kind in _JOB_STATES:
        if _condition(status, kind):
            return kind
    if as_dict(job.get("metadata")).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget"):
        if _condition(status, kind):
            return kind
    return "Running"


def _completions(spec: Obj, status: Obj) -> str:
    succeeded = _int(status, "succeeded")
    if isinstance(spec.get("completions"), int):
        return f"{succeeded}/{spec['completions']}"
    parallelism = _int(spec, "parallelism")
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _duration(status: Obj, now: datetime) -> str:
    start = status.get("startTime")
    if not start:
        return ""
    try:
        begun = parse_rfc3339(start)
        end = parse_rfc3339(status["completionTime"]) if status.get("completionTime") else now
    except ValueError:
        return ""
    return human_duration((end - begun).total_seconds())


def job_row(job: Obj, now: datetime) -> list[Cell]:
    """NAME STATUS COMPLETIONS DURATION AGE | CONTAINERS IMAGES SELECTOR."""
    spec, status = as_dict(job.get("spec")), as_dict(job.get("status"))
    return [_name(job), job_status(job), _completions(spec, status), _duration(status, now),
            _created(job, now), *_containers(spec.get("template")),
            format_selector(spec.get("selector"))]


def cronjob_row(cj: Obj, now: datetime) -> list[Cell]:
    """NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE | CONTAINERS IMAGES SELECTOR."""
    spec, status = as_dict(cj.get("spec")), as_dict(cj.get("status"))
    suspend = spec.get("suspend")
    job_spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    last = status.get("lastScheduleTime")
    return [_name(cj), spec.get("schedule", ""), spec.get("timeZone") or NONE,
            "<unset>" if suspend is None else str(bool(suspend)),
            len(as_list(status.get("active"))), age(last, now) if last else NONE,
            _created(cj, now), *_containers(job_spec.get("template")),
            format_selector(job_spec.get("selector"))]


def pdb_row(pdb: Obj, now: datetime) -> list[Cell]:
    """NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE."""
    spec, status = as_dict(pdb.get("spec")), as_dict(pdb.get("status"))
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [_name(pdb), "N/A" if low is None else str(low),
            "N/A" if high is None else str(high), _int(status, "disruptionsAllowed"),
            _created(pdb, now)]


def endpointslice_row(slice_: Obj, now: datetime) -> list[Cell]:
    """NAME ADDRESSTYPE PORTS ENDPOINTS AGE (``formatDiscoveryPorts``/``...Endpoints``)."""
    ports = [str(p["port"]) for p in dicts(slice_.get("ports")) if p.get("port") is not None]
    addresses = [str(a) for e in dicts(slice_.get("endpoints"))
                 for a in as_list(e.get("addresses"))]
    shown = ",".join(addresses[:3])
    if len(addresses) > 3:
        shown += f" + {len(addresses) - 3} more..."
    return [_name(slice_), slice_.get("addressType", ""), ",".join(ports) or "<unset>",
            shown or "<unset>", _created(slice_, now)]


def serviceaccount_row(sa: Obj, now: datetime) -> list[Cell]:
    """NAME SECRETS AGE."""
    return [_name(sa), len(as_list(sa.get("secrets"))), _created(sa, now)]
