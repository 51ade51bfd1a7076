"""Per-kind behaviour of the core/v1 kinds: defaulting, validation, name rules, printing.

The registry calls, for every write and after decoding:

* ``default(resource, obj, old=None)`` — Kubernetes' defaults, in place, on create and update
  (``old`` is the stored object on update). On create it also gives the object the status a
  new one starts with (a Pod ``Pending``, a Namespace ``Active``), as the registry strategies'
  ``PrepareForCreate`` do;
* ``validate(resource, obj, old=None)`` — the kind's own rules as ``field.Cause`` lists for an
  ``errors.Invalid``; metadata rules are the caller's (``name_rule`` says which name rule a
  kind follows).

Kinds without rules here (any future group) get no defaults and no causes. The table is
explicit and built from plain functions; nothing registers itself.

``metadata.generation`` is kept only for kinds whose kube strategy keeps it (the workload
controllers, ReplicationController, PodDisruptionBudget, EndpointSlice): it starts at 1 and
grows when ``generation_part`` changes (the spec; an EndpointSlice's endpoints, ports and
addressType).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from servers.apimachinery import validation
from servers.apimachinery.field import Cause
from servers.apiserver.kinds import (
    apps,
    batch,
    certificates,
    core,
    endpointslice,
    lease,
    pod,
    policy,
    priorityclass,
    rbac,
    replicationcontroller,
    secret,
    service,
)
from servers.apiserver.kinds._common import Obj
from servers.apiserver.resources import Resource

__all__ = ["KindRules", "default", "generation_part", "name_rule", "rules_for",
           "tracks_generation", "validate"]

Default = Callable[[Obj, Obj | None], None]
Validate = Callable[[Obj, Obj | None], list[Cause]]
NameRule = Callable[[str, bool], list[str]]


def _no_defaults(obj: Obj, old: Obj | None = None) -> None:
    return None


def _no_rules(obj: Obj, old: Obj | None = None) -> list[Cause]:
    return []


@dataclass(frozen=True)
class KindRules:
    """What one kind adds on writes: defaults, validation, and its metadata.name rule."""

    default: Default = _no_defaults
    validate: Validate = _no_rules
    name_rule: NameRule = validation.name_is_dns_subdomain
    generation: bool = False  # kube's strategy sets metadata.generation


_RULES: dict[tuple[str, str], KindRules] = {
    ("", "Pod"): KindRules(pod.default, pod.validate),
    ("", "Service"): KindRules(service.default, service.validate,
                               validation.name_is_dns1035_label),
    ("", "ReplicationController"): KindRules(replicationcontroller.default,
                                             replicationcontroller.validate, generation=True),
    ("", "Namespace"): KindRules(core.default_namespace, name_rule=validation.name_is_dns_label),
    ("", "Node"): KindRules(core.default_node, core.validate_node),
    ("", "Endpoints"): KindRules(core.default_endpoints, core.validate_endpoints),
    ("", "Event"): KindRules(validate=core.validate_event),
    ("", "ConfigMap"): KindRules(validate=core.validate_configmap),
    ("", "Secret"): KindRules(secret.default, secret.validate),
    ("", "Binding"): KindRules(validate=core.validate_binding),
    ("autoscaling", "Scale"): KindRules(validate=core.validate_scale),
    (lease.GROUP, "Lease"): KindRules(lease.default, lease.validate),
    (apps.GROUP, "Deployment"): KindRules(apps.default_deployment, apps.validate_deployment,
                                          generation=True),
    (apps.GROUP, "ReplicaSet"): KindRules(apps.default_replicaset, apps.validate_replicaset,
                                          generation=True),
    (apps.GROUP, "StatefulSet"): KindRules(apps.default_statefulset, apps.validate_statefulset,
                                           generation=True),
    (apps.GROUP, "DaemonSet"): KindRules(apps.default_daemonset, apps.validate_daemonset,
                                         generation=True),
    (apps.GROUP, "ControllerRevision"): KindRules(validate=apps.validate_controllerrevision),
    (batch.GROUP, "Job"): KindRules(batch.default_job, batch.validate_job, generation=True),
    (batch.GROUP, "CronJob"): KindRules(batch.default_cronjob, batch.validate_cronjob,
                                        generation=True),
    (policy.GROUP, "PodDisruptionBudget"): KindRules(policy.default, policy.validate,
                                                     generation=True),
    (endpointslice.GROUP, "EndpointSlice"): KindRules(endpointslice.default,
                                                      endpointslice.validate, generation=True),
    (priorityclass.GROUP, "PriorityClass"): KindRules(priorityclass.default,
                                                      priorityclass.validate),
    # kube: "We don't care what you call your certificate requests" (a path segment, then).
    (certificates.GROUP, "CertificateSigningRequest"): KindRules(
        certificates.default, certificates.validate, rbac.name_is_path_segment),
    (rbac.GROUP, "Role"): KindRules(validate=rbac.validate_role,
                                    name_rule=rbac.name_is_path_segment),
    (rbac.GROUP, "ClusterRole"): KindRules(validate=rbac.validate_cluster_role,
                                           name_rule=rbac.name_is_path_segment),
    (rbac.GROUP, "RoleBinding"): KindRules(rbac.default_binding, rbac.validate_role_binding,
                                           rbac.name_is_path_segment),
    (rbac.GROUP, "ClusterRoleBinding"): KindRules(rbac.default_binding,
                                                  rbac.validate_cluster_role_binding,
                                                  rbac.name_is_path_segment),
}
_NONE = KindRules()


def rules_for(group: str, kind: str) -> KindRules:
    """The rules of a kind (an empty set for kinds km has none for)."""
    return _RULES.get((group, kind), _NONE)


def default(resource: Resource, obj: Obj, old: Obj | None = None) -> None:
    """Apply the defaults of ``resource``'s kind to ``obj`` in place (see the module doc)."""
    rules_for(resource.group, resource.kind).default(obj, old)


def validate(resource: Resource, obj: Obj, old: Obj | None = None) -> list[Cause]:
    """The kind's validation causes for ``obj`` (an update when ``old`` is given); call after
    ``default``. Empty when valid."""
    return rules_for(resource.group, resource.kind).validate(obj, old)


def name_rule(resource: Resource) -> NameRule:
    """The ``metadata.name`` rule of the kind: DNS-1123 subdomain unless Kubernetes says
    otherwise (Namespace: DNS-1123 label; Service: DNS-1035 label)."""
    return rules_for(resource.group, resource.kind).name_rule


def tracks_generation(resource: Resource) -> bool:
    """True when the kind keeps ``metadata.generation`` (see the module doc)."""
    return rules_for(resource.group, resource.kind).generation


def generation_part(resource: Resource, obj: Obj) -> object:
    """What a change of bumps the generation: the spec, or an EndpointSlice's content."""
    if resource.group == endpointslice.GROUP and resource.kind == "EndpointSlice":
        return (obj.get("addressType"), obj.get("endpoints"), obj.get("ports"))
    return obj.get("spec")
