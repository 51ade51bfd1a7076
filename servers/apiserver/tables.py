"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``.

kubectl 1.32 has no client-side printers for built-in kinds: it asks for
``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the cells it gets. Columns and
cells follow kube-apiserver's printers (k8s.io/kubernetes pkg/printers/internalversion/
printers.go at v1.32): pods, nodes, services, endpoints, replicationcontrollers, namespaces,
events, configmaps, leases, the RBAC kinds, and a Name/Age fallback for any other kind. Like
kube-apiserver, the server should build wide tables (``wide=True``); kubectl hides
``priority`` 1 columns unless ``-o wide``.

Pure functions over JSON dicts. The cells of each kind are computed in
``servers.apiserver.kinds.printers`` (pods' READY/STATUS/RESTARTS in ``kinds.podprint``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Literal

from servers.apiserver.kinds import (
    certificates,
    podprint,
    printers,
    priorityclass,
    rbacprint,
    secret,
)
from servers.apiserver.kinds import workloadprint as wp
from servers.apiserver.kinds.printers import age, format_endpoints, format_labels, human_duration
from servers.apiserver.resources import Resource

__all__ = ["IncludeObject", "age", "columns", "format_endpoints", "format_labels",
           "human_duration", "table_for_watch_event", "to_table"]

Obj = dict[str, Any]
IncludeObject = Literal["None", "Metadata", "Object"]
Cell = Any
RowFn = Callable[[Obj, datetime], list[Cell]]

_NAME_DOC = "Name must be unique within a namespace."
_AGE_DOC = "CreationTimestamp is the time the object was created, in UTC."


def _column(name: str, doc: str, *, kind: str = "string", fmt: str = "",
            priority: int = 0) -> Obj:
    return {"name": name, "type": kind, "format": fmt, "description": doc, "priority": priority}


def _name_col(priority: int = 0) -> Obj:
    return _column("Name", _NAME_DOC, fmt="name", priority=priority)


_AGE = _column("Age", _AGE_DOC)
_PRINTERS: dict[tuple[str, str], tuple[list[Obj], RowFn]] = {
    ("", "Pod"): (
        [_name_col(), _column("Ready", "The aggregate readiness state of this pod for "
                              "accepting traffic."),
         _column("Status", "The aggregate status of the containers in this pod."),
         _column("Restarts", "The number of times the containers in this pod have been "
                 "restarted and when the last container in this pod has restarted."),
         _AGE, _column("IP", "IP address allocated to the pod.", priority=1),
         _column("Node", "The node the pod is bound to.", priority=1),
         _column("Nominated Node", "The node the pod may run on after preemption.",
                 priority=1),
         _column("Readiness Gates", "Conditions evaluated for pod readiness.", priority=1)],
        printers.pod_row,
    ),
    ("", "Node"): (
        [_name_col(), _column("Status", "The status of the node"),
         _column("Roles", "The roles of the node"), _AGE,
         _column("Version", "Kubelet Version reported by the node."),
         _column("Internal-IP", "List of internal IPs of the node.", priority=1),
         _column("External-IP", "List of external IPs of the node.", priority=1),
         _column("OS-Image", "OS Image reported by the node.", priority=1),
         _column("Kernel-Version", "Kernel Version reported by the node.", priority=1),
         _column("Container-Runtime", "Container runtime version reported by the node.",
                 priority=1)],
        printers.node_row,
    ),
    ("", "Service"): (
        [_name_col(), _column("Type", "The type of the service."),
         _column("Cluster-IP", "The cluster IP of the service."),
         _column("External-IP", "The external IPs of the service."),
         _column("Port(s)", "The ports exposed by the service."), _AGE,
         _column("Selector", "Route traffic to pods with labels matching this selector.",
                 priority=1)],
        printers.service_row,
    ),
    ("", "Endpoints"): (
        [_name_col(), _column("Endpoints", "Endpoints of the service."), _AGE],
        printers.endpoints_row,
    ),
    ("", "ReplicationController"): (
        [_name_col(), _column("Desired", "Number of desired pods.", kind="integer"),
         _column("Current", "Number of pods currently running.", kind="integer"),
         _column("Ready", "Number of ready pods.", kind="integer"), _AGE,
         _column("Containers", "Names of each container in the template.", priority=1),
         _column("Images", "Images referenced by each container in the template.",
                 priority=1),
         _column("Selector", "Label selector of the pods.", priority=1)],
        printers.rc_row,
    ),
    ("", "Namespace"): (
        [_name_col(), _column("Status", "The status of the namespace"), _AGE],
        printers.namespace_row,
    ),
    ("", "Event"): (
        [_column("Last Seen", "Time of the most recent occurrence."),
         _column("Type", "Type of this event (Normal, Warning)."),
         _column("Reason", "Why the action was taken."),
         _column("Object", "The object this event is about."),
         _column("Subobject", "The part of the object, if any.", priority=1),
         _column("Source", "The component reporting this event.", priority=1),
         _column("Message", "A human-readable description of the event."),
         _column("First Seen", "Time of the first occurrence.", priority=1),
         _column("Count", "The number of times this event has occurred.", priority=1),
         _name_col(priority=1)],
        printers.event_row,
    ),
    ("", "ConfigMap"): (
        [_name_col(), _column("Data", "Number of keys.", kind="integer"), _AGE],
        printers.configmap_row,
    ),
    ("", "Secret"): (
        [_name_col(), _column("Type", "The type of the secret."),
         _column("Data", "Number of keys.", kind="integer"), _AGE],
        secret.row,
    ),
    ("coordination.k8s.io", "Lease"): (
        [_name_col(), _column("Holder", "holderIdentity contains the identity of the holder "
                              "of a current lease."), _AGE],
        printers.lease_row,
    ),
}
_ROLE = ([_name_col(), _column("Created At", _AGE_DOC, kind="date")], rbacprint.role_row)
_BINDING = (
    [_name_col(), _column("Role", "RoleRef references a Role or a ClusterRole."), _AGE,
     _column("Users", "Users in the roleBinding", priority=1),
     _column("Groups", "Groups in the roleBinding", priority=1),
     _column("ServiceAccounts", "ServiceAccounts in the roleBinding", priority=1)],
    rbacprint.binding_row,
)
_PRINTERS.update({(rbacprint.GROUP, "Role"): _ROLE, (rbacprint.GROUP, "ClusterRole"): _ROLE,
                  (rbacprint.GROUP, "RoleBinding"): _BINDING,
                  (rbacprint.GROUP, "ClusterRoleBinding"): _BINDING})
_PRINTERS[(priorityclass.GROUP, "PriorityClass")] = (
    [_name_col(), _column("Value", "value represents the integer value of this priority "
                          "class.", kind="integer"),
     _column("Global-Default", "globalDefault specifies whether this PriorityClass should be "
             "considered as the default priority for pods that do not have any priority "
             "class.", kind="boolean"), _AGE,
     _column("PreemptionPolicy", "preemptionPolicy is the Policy for preempting pods with "
             "lower priority.")],
    priorityclass.row,
)
_PRINTERS[(certificates.GROUP, "CertificateSigningRequest")] = (
    [_name_col(), _AGE,
     _column("SignerName", "Requested signer for the request."),
     _column("Requestor", "Name of the user that created the request."),
     _column("RequestedDuration", "The requested duration of validity of the issued "
             "certificate (expirationSeconds)."),
     _column("Condition", "The Approved, Denied and Failed conditions, and Issued once a "
             "certificate is set.")],
    certificates.row,
)
_CONTAINERS = _column("Containers", "Names of each container in the template.", priority=1)
_IMAGES = _column("Images", "Images referenced by each container in the template.", priority=1)
_SELECTOR = _column("Selector", "Label selector of the pods.", priority=1)
_TEMPLATE = [_CONTAINERS, _IMAGES, _SELECTOR]
_PRINTERS.update({
    ("apps", "Deployment"): (
        [_name_col(), _column("Ready", "Number of the pod with ready state"),
         _column("Up-to-date", "Total number of non-terminated pods targeted by this "
                 "deployment that have the desired template spec.", kind="integer"),
         _column("Available", "Total number of available pods (ready for at least "
                 "minReadySeconds) targeted by this deployment.", kind="integer"),
         _AGE, *_TEMPLATE],
        wp.deployment_row,
    ),
    ("apps", "ReplicaSet"): (
        [_name_col(), _column("Desired", "Number of desired pods.", kind="integer"),
         _column("Current", "Number of pods currently running.", kind="integer"),
         _column("Ready", "Number of ready pods.", kind="integer"), _AGE, *_TEMPLATE],
        wp.replicaset_row,
    ),
    ("apps", "StatefulSet"): (
        [_name_col(), _column("Ready", "Number of the pod with ready state"), _AGE,
         _CONTAINERS, _IMAGES],
        wp.statefulset_row,
    ),
    ("apps", "DaemonSet"): (
        [_name_col(), _column("Desired", "The total number of nodes that should be running "
                              "the daemon pod.", kind="integer"),
         _column("Current", "The number of nodes running at least one daemon pod and are "
                 "supposed to.", kind="integer"),
         _column("Ready", "The number of nodes that should be running the daemon pod and "
                 "have one or more of the daemon pod running and ready.", kind="integer"),
         _column("Up-to-date", "The total number of nodes that are running updated daemon "
                 "pod", kind="integer"),
         _column("Available", "The number of nodes that should be running the daemon pod and "
                 "have one or more of the daemon pod running and available (ready for at "
                 "least spec.minReadySeconds)", kind="integer"),
         _column("Node Selector", "NodeSelector is a selector which must be true for the "
                 "pod to fit on a node."), _AGE, *_TEMPLATE],
        wp.daemonset_row,
    ),
    ("apps", "ControllerRevision"): (
        [_name_col(), _column("Controller", "Controller of the object"),
         _column("Revision", "Revision of the ControllerRevision", kind="integer"), _AGE],
        wp.controllerrevision_row,
    ),
    ("batch", "Job"): (
        [_name_col(), _column("Status", "Status of the job."),
         _column("Completions", "The completion status of the job."),
         _column("Duration", "Time required to complete the job."), _AGE, *_TEMPLATE],
        wp.job_row,
    ),
    ("batch", "CronJob"): (
        [_name_col(), _column("Schedule", "The schedule in Cron format, see "
                              "https://en.wikipedia.org/wiki/Cron."),
         _column("Timezone", "The time zone name for the given schedule, see "
                 "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
         _column("Suspend", "This flag tells the controller to suspend subsequent "
                 "executions.", kind="boolean"),
         _column("Active", "A list of pointers to currently running jobs.", kind="integer"),
         _column("Last Schedule", "Information when was the last time the job was "
                 "successfully scheduled."), _AGE, *_TEMPLATE],
        wp.cronjob_row,
    ),
    ("policy", "PodDisruptionBudget"): (
        [_name_col(), _column("Min Available", "The minimum number of pods that must be "
                              "available."),
         _column("Max Unavailable", "The maximum number of pods that may be unavailable."),
         _column("Allowed Disruptions", "Calculated number of pods that may be disrupted at "
                 "this time.", kind="integer"), _AGE],
        wp.pdb_row,
    ),
    ("discovery.k8s.io", "EndpointSlice"): (
        [_name_col(), _column("AddressType", "The type of addresses stored in this "
                              "EndpointSlice."),
         _column("Ports", "Ports stored in this EndpointSlice."),
         _column("Endpoints", "Endpoints stored in this EndpointSlice."), _AGE],
        wp.endpointslice_row,
    ),
    ("", "ServiceAccount"): (
        [_name_col(), _column("Secrets", "Secrets is a list of the secrets in the same "
                              "namespace that pods running using this ServiceAccount are "
                              "allowed to use.", kind="integer"), _AGE],
        wp.serviceaccount_row,
    ),
})
_DEFAULT = ([_name_col(), _AGE], printers.default_row)


def columns(resource: Resource, *, wide: bool = True) -> list[Obj]:
    """The column definitions for ``resource`` (priority 1 columns only when ``wide``)."""
    defs, _ = _PRINTERS.get((resource.group, resource.kind), _DEFAULT)
    return [dict(c) for c in defs if wide or c["priority"] == 0]


def _row_object(obj: Obj, include_object: IncludeObject) -> Obj | None:
    if include_object == "Object":
        return obj
    if include_object == "Metadata":
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {}}
    return None


def _row(resource: Resource, obj: Obj, wide: bool, include: IncludeObject,
         now: datetime) -> Obj:
    defs, row_fn = _PRINTERS.get((resource.group, resource.kind), _DEFAULT)
    cells = row_fn(obj, now)
    if not wide:
        cells = [cell for cell, col in zip(cells, defs, strict=True) if col["priority"] == 0]
    row: Obj = {"cells": cells}
    conditions = podprint.row_conditions(obj) if resource.kind == "Pod" else None
    if conditions:
        row["conditions"] = conditions
    target = _row_object(obj, include)
    if target is not None:
        row["object"] = target
    return row


def to_table(
    resource: Resource,
    objs: Iterable[Obj],
    *,
    wide: bool = True,
    include_object: IncludeObject = "Metadata",
    now: datetime | None = None,
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    headers: bool = True,
) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objs``: one row per object, cells as kube-apiserver
    prints them, ``rows[].object`` per ``include_object`` (a PartialObjectMetadata by default).

    ``now`` (default: the current time) is what AGE is measured against. ``headers=False``
    leaves ``columnDefinitions`` empty, as kube-apiserver does after the first watch event.
    """
    moment = now or datetime.now(timezone.utc)
    metadata: Obj = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(resource, wide=wide) if headers else [],
        "rows": [_row(resource, o, wide, include_object, moment) for o in objs],
    }


def table_for_watch_event(
    resource: Resource,
    obj: Obj,
    *,
    first: bool,
    include_object: IncludeObject = "Metadata",
    now: datetime | None = None,
) -> Obj:
    """The ``object`` of one watch event under ``as=Table``: a one-row Table carrying the
    object's resourceVersion, with column definitions only in the ``first`` event."""
    return to_table(resource, [obj], include_object=include_object, now=now,
                    resource_version=str((obj.get("metadata") or {}).get("resourceVersion", "")),
                    headers=first)
