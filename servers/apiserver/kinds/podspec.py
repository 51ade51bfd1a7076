"""PodSpec: defaults and validation shared by Pods and pod templates (ReplicationController).

Defaults follow ``SetDefaults_PodSpec``/``_Volume`` (k8s.io/kubernetes pkg/apis/core/v1/
defaults.go); rules and messages follow ``ValidatePodSpec``, ``ValidateVolumes`` and
``validateTolerations`` (pkg/apis/core/validation/validation.go) at v1.32. ``path`` is where
the spec sits: ``spec`` for a Pod, ``spec.template.spec`` for a controller.
"""

from __future__ import annotations

from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import (
    Obj,
    as_dict,
    dicts,
    duplicates,
    nonnegative,
    one_of,
    parse_quantity,
)
from servers.apiserver.kinds.affinity import validate_scheduling
from servers.apiserver.kinds.container import default_container, validate_container

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")  # validateTaintEffect's order
_MAX_INT32 = 2**31 - 1
# Every volume source a Volume may name (exactly one is allowed).
VOLUME_SOURCES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "configMap", "csi",
    "downwardAPI", "emptyDir", "ephemeral", "fc", "flexVolume", "flocker", "gcePersistentDisk",
    "gitRepo", "glusterfs", "hostPath", "image", "iscsi", "nfs", "persistentVolumeClaim",
    "photonPersistentDisk", "portworxVolume", "projected", "quobyte", "rbd", "scaleIO",
    "secret", "storageos", "vsphereVolume",
)
_REQUIRED_SOURCE_FIELDS = {"hostPath": "path", "configMap": "name", "secret": "secretName",
                           "persistentVolumeClaim": "claimName"}


def _default_volume(volume: Obj) -> None:
    if not any(volume.get(source) is not None for source in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("configMap", "secret"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 0o644)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")


def default_pod_spec(spec: Obj) -> None:
    """Apply ``SetDefaults_PodSpec`` and the defaults of its containers and volumes."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        default_container(container)
        if spec.get("hostNetwork"):  # defaultHostNetworkPorts
            for port in dicts(container.get("ports")):
                port.setdefault("hostPort", port.get("containerPort"))
    for volume in dicts(spec.get("volumes")):
        _default_volume(volume)


def _volume(volume: Obj, path: str) -> list[Cause]:
    name = volume.get("name")
    causes = [field.required(f"{path}.name")] if not name else [
        field.invalid(f"{path}.name", name, m) for m in validation.is_dns1123_label(name)]
    sources = [s for s in VOLUME_SOURCES if volume.get(s) is not None]
    if not sources:
        causes.append(field.required(path, "must specify a volume type"))
    for extra in sources[1:]:
        causes.append(field.forbidden(f"{path}.{extra}", "may not specify more than 1 volume type"))
    for source, member in _REQUIRED_SOURCE_FIELDS.items():
        if source in sources and not as_dict(volume[source]).get(member):
            causes.append(field.required(f"{path}.{source}.{member}"))
    return causes


def validate_volumes(spec: Obj, path: str) -> list[Cause]:
    """Each volume has a DNS-label name, unique in the pod, and exactly one source."""
    volumes = dicts(spec.get("volumes"))
    causes = [c for i, v in enumerate(volumes) for c in _volume(v, f"{path}.volumes[{i}]")]
    return causes + duplicates(volumes, "name", f"{path}.volumes")


def _toleration(tol: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    key, operator = tol.get("key") or "", tol.get("operator") or "Equal"
    if key:
        causes += [field.invalid(f"{path}.key", key, m) for m in validation.is_qualified_name(key)]
    elif operator != "Exists":
        causes.append(field.invalid(
            f"{path}.operator", operator, "operator must be Exists when `key` is empty, which "
            'means "match all values and all keys"'))
    if operator == "Exists" and tol.get("value"):
        causes.append(field.invalid(f"{path}.operator", tol["value"],
                                    "value must be empty when `operator` is 'Exists'"))
    value = tol.get("value")
    if operator == "Equal" and isinstance(value, str):
        messages = validation.is_valid_label_value(value)
        if messages:
            causes.append(field.invalid(f"{path}.operator", value, ";".join(messages)))
    causes += one_of(f"{path}.operator", operator, ("Equal", "Exists"))
    if tol.get("tolerationSeconds") is not None and tol.get("effect") != "NoExecute":
        causes.append(field.invalid(f"{path}.effect", tol.get("effect", ""),
                                    "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return causes + one_of(f"{path}.effect", tol.get("effect"), TAINT_EFFECTS, required=False)


def _containers(spec: Obj, path: str) -> list[Cause]:
    volumes = {str(v["name"]) for v in dicts(spec.get("volumes")) if v.get("name")}
    containers = dicts(spec.get("containers"))
    inits = dicts(spec.get("initContainers"))
    causes = [] if containers else [field.required(f"{path}.containers")]
    for kind, items in (("initContainers", inits), ("containers", containers)):
        for i, container in enumerate(items):
            causes += validate_container(container, f"{path}.{kind}[{i}]", volumes)
    seen: set[str] = set()
    for kind, items in (("initContainers", inits), ("containers", containers)):
        for i, container in enumerate(items):
            name = container.get("name")
            if name and name in seen:
                causes.append(field.duplicate(f"{path}.{kind}[{i}].name", name))
            seen.add(name or "")
    return causes


def _names(spec: Obj, path: str) -> list[Cause]:
    rules = (("nodeName", validation.is_dns1123_subdomain),
             ("serviceAccountName", validation.is_dns1123_subdomain),
             ("hostname", validation.is_dns1123_label),
             ("subdomain", validation.is_dns1123_label))
    return [field.invalid(f"{path}.{member}", spec[member], msg)
            for member, rule in rules if spec.get(member)
            for msg in rule(spec[member])]


def _deadline(spec: Obj, path: str) -> list[Cause]:
    value = spec.get("activeDeadlineSeconds")
    if value is not None and not 1 <= value <= _MAX_INT32:
        return [field.invalid(f"{path}.activeDeadlineSeconds", value,
                              f"must be between 1 and {_MAX_INT32}, inclusive")]
    return []


def validate_pod_spec(spec: Obj, path: str = "spec") -> list[Cause]:
    """``ValidatePodSpec``: containers, volumes, policies, names, tolerations, scheduling
    constraints (``kinds.affinity``)."""
    return [
        *validate_volumes(spec, path),
        *_containers(spec, path),
        *one_of(f"{path}.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES),
        *one_of(f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES),
        *nonnegative(f"{path}.terminationGracePeriodSeconds",
                     spec.get("terminationGracePeriodSeconds")),
        *_deadline(spec, path),
        *_names(spec, path),
        *validation.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"),
        *[c for i, t in enumerate(dicts(spec.get("tolerations")))
          for c in _toleration(t, f"{path}.tolerations[{i}]")],
        *validate_scheduling(spec, path),
    ]


def _compute(resources: Obj, kind: str) -> dict[str, Any]:
    values = as_dict(resources.get(kind))
    return {k: parse_quantity(values[k]) for k in ("cpu", "memory") if k in values}


def qos_class(spec: Obj) -> str:
    """``BestEffort``, ``Burstable`` or ``Guaranteed``, as ``GetPodQOS`` decides (cpu and
    memory of all containers; requests default to limits)."""
    containers = dicts(spec.get("containers")) + dicts(spec.get("initContainers"))
    guaranteed, any_set = True, False
    for container in containers:
        resources = as_dict(container.get("resources"))
        limits = _compute(resources, "limits")
        requests = {**limits, **_compute(resources, "requests")}
        any_set = any_set or bool(requests) or bool(limits)
        if len(limits) < 2 or requests != limits:
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
