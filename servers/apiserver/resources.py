"""The resource table: every resource km serves, described as data.

One frozen `Resource` per REST collection (``pods``, ``nodes``, ...) says how it is named on the
wire (plural, singular, kind, short names, categories), which verbs and subresources it has,
where it lives in storage (Kubernetes' own ``/registry/...`` layout, so an etcd written by km
looks familiar), and whether its ``status`` is owned by a status subresource. Field selectors
come from ``servers.apimachinery.selectable`` (shared with the clients).

Discovery, OpenAPI, Table printing, storage keys and the HTTP router all read this one table, so
they cannot drift. It is pure data plus lookups: no HTTP, no storage, no registration at import.
Groups beyond core (``rbac.authorization.k8s.io``, ``coordination.k8s.io``, ``apps``) are added
by appending rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from servers.apimachinery import selectable

Obj = dict[str, Any]

#: The verbs of an ordinary read-write collection, in the order kube-apiserver lists them.
STANDARD_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
#: Verbs of ``<resource>/status`` and ``<resource>/scale``.
STATUS_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class GroupVersionKind:
    """A kind with its API group and version (``group`` is "" for core)."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` string: ``v1`` for core, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/status``; ``kind`` is what its endpoint reads and writes."""

    name: str
    kind: GroupVersionKind
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class Resource:
    """One REST collection and everything km needs to serve it.

    ``key_prefix`` ends in ``/``; objects live at ``<key_prefix><ns>/<name>`` (namespaced) or
    ``<key_prefix><name>``. When ``status`` is among the subresources, the status is
    server-owned: a write to the main resource keeps the stored status and a write to
    ``/status`` keeps everything else (see ``servers.apiserver.kinds``).
    """

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    key_prefix: str
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    list_kind: str = field(default="")

    def __post_init__(self) -> None:
        if not self.list_kind:
            object.__setattr__(self, "list_kind", f"{self.kind}List")

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of this resource's objects."""
        return self.gvk.api_version

    @functools.cached_property
    def gvk(self) -> GroupVersionKind:
        """The group, version and kind of this resource's objects."""
        return GroupVersionKind(self.group, self.version, self.kind)

    @property
    def group_resource(self) -> str:
        """``pods`` for core, ``deployments.apps`` otherwise (as in NotFound messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        """True when ``status`` is a subresource, i.e. the server owns the status part."""
        return self.subresource("status") is not None

    @property
    def field_selectors(self) -> frozenset[str]:
        """Every field a ``fieldSelector`` may name for this resource (``metadata.name``, ...).

        The table lives in ``servers.apimachinery.selectable``, shared with the clients.
        """
        return selectable.field_labels(self.plural)

    def subresource(self, name: str) -> Subresource | None:
        """The subresource called ``name``, or None."""
        return next((s for s in self.subresources if s.name == name), None)


V1 = "v1"
RBAC = "rbac.authorization.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
SCHEDULING = "scheduling.k8s.io"
COORDINATION = "coordination.k8s.io"
CERTIFICATES = "certificates.k8s.io"
SCALE = GroupVersionKind("autoscaling", "v1", "Scale")
BINDING = GroupVersionKind("", V1, "Binding")
STATUS = GroupVersionKind("", V1, "Status")


APPS = "apps"
BATCH = "batch"
POLICY = "policy"
DISCOVERY = "discovery.k8s.io"
EVICTION = GroupVersionKind(POLICY, V1, "Eviction")


def _status(kind: str, group: str = "") -> Subresource:
    return Subresource("status", GroupVersionKind(group, V1, kind), STATUS_VERBS)


def _scale() -> Subresource:
    return Subresource("scale", SCALE, STATUS_VERBS)


def _workload(group: str, plural: str, kind: str, short: str, *, scale: bool = False
              ) -> Resource:
    """A workload controller's row: namespaced, in ``all``, with status (and scale)."""
    subs = (_status(kind, group), _scale()) if scale else (_status(kind, group),)
    return Resource(group, V1, plural, plural[:-1], kind, True, f"/registry/{plural}/",
                    short_names=(short,) if short else (), categories=("all",),
                    subresources=subs)


#: Everything km serves, in discovery order.
RESOURCES: tuple[Resource, ...] = (
    Resource(
        "", V1, "namespaces", "namespace", "Namespace", False, "/registry/namespaces/",
        short_names=("ns",), subresources=(
            _status("Namespace"),
            # namespaces/finalize: the namespace controller's way to drop spec.finalizers.
            Subresource("finalize", GroupVersionKind("", V1, "Namespace"), ("update",)),
        ),
    ),
    Resource(
        "", V1, "nodes", "node", "Node", False, "/registry/minions/",
        short_names=("no",), subresources=(_status("Node"),),
    ),
    Resource(
        "", V1, "pods", "pod", "Pod", True, "/registry/pods/",
        short_names=("po",), categories=("all",),
        subresources=(
            _status("Pod"),
            Subresource("binding", BINDING, ("create",)),
            Subresource("log", GroupVersionKind("", V1, "Pod"), ("get",)),
            Subresource("eviction", EVICTION, ("create",)),
            # connect subresources, served by servers.apiserver.podstream (its own route)
            *(Subresource(name, GroupVersionKind("", V1, kind), ("create", "get"))
              for name, kind in (("attach", "PodAttachOptions"), ("exec", "PodExecOptions"),
                                 ("portforward", "PodPortForwardOptions"))),
        ),
    ),
    Resource(
        "", V1, "bindings", "binding", "Binding", True, "/registry/bindings/",
        verbs=("create",),
    ),
    Resource(
        "", V1, "services", "service", "Service", True, "/registry/services/specs/",
        short_names=("svc",), categories=("all",), subresources=(_status("Service"),),
    ),
    Resource(
        "", V1, "endpoints", "endpoints", "Endpoints", True, "/registry/services/endpoints/",
        short_names=("ep",),
    ),
    Resource(
        "", V1, "replicationcontrollers", "replicationcontroller", "ReplicationController",
        True, "/registry/controllers/",
        short_names=("rc",), categories=("all",),
        subresources=(
            _status("ReplicationController"),
            _scale(),
        ),
    ),
    Resource(
        "", V1, "events", "event", "Event", True, "/registry/events/",
        short_names=("ev",),
    ),
    Resource(
        "", V1, "configmaps", "configmap", "ConfigMap", True, "/registry/configmaps/",
        short_names=("cm",),
    ),
    Resource(
        "", V1, "secrets", "secret", "Secret", True, "/registry/secrets/",
    ),
    Resource(
        "", V1, "serviceaccounts", "serviceaccount", "ServiceAccount", True,
        "/registry/serviceaccounts/", short_names=("sa",),
        # serviceaccounts/token: TokenRequest (servers.apiserver.tokenrequest)
        subresources=(Subresource("token", GroupVersionKind(AUTHENTICATION, V1, "TokenRequest"),
                                  ("create",)),),
    ),
    # apps/v1 and batch/v1: the workload controllers (servers.apiserver.kinds.apps, .batch)
    # apps/v1 ControllerRevisions: the StatefulSet and DaemonSet controllers' saved templates
    Resource(
        APPS, V1, "controllerrevisions", "controllerrevision", "ControllerRevision", True,
        "/registry/controllerrevisions/",
    ),
    _workload(APPS, "daemonsets", "DaemonSet", "ds"),
    _workload(APPS, "deployments", "Deployment", "deploy", scale=True),
    _workload(APPS, "replicasets", "ReplicaSet", "rs", scale=True),
    _workload(APPS, "statefulsets", "StatefulSet", "sts", scale=True),
    _workload(BATCH, "cronjobs", "CronJob", "cj"),
    _workload(BATCH, "jobs", "Job", ""),
    # policy/v1 disruption budgets (pods/eviction reads them: servers.apiserver.eviction)
    Resource(
        POLICY, V1, "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
        "/registry/poddisruptionbudgets/", short_names=("pdb",),
        subresources=(_status("PodDisruptionBudget", POLICY),),
    ),
    # discovery.k8s.io/v1: the endpointslice controller's output, read by describe service
    Resource(
        DISCOVERY, V1, "endpointslices", "endpointslice", "EndpointSlice", True,
        "/registry/endpointslices/",
    ),
    # authentication.k8s.io: answered, never stored (servers.apiserver.auth.tokenreview, review)
    Resource(
        AUTHENTICATION, V1, "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview",
        False, "/registry/selfsubjectreviews/", verbs=("create",),
    ),
    Resource(
        AUTHENTICATION, V1, "tokenreviews", "tokenreview", "TokenReview", False,
        "/registry/tokenreviews/", verbs=("create",),
    ),
    # authorization.k8s.io: reviews are answered, never stored (servers.apiserver.authz.endpoints)
    Resource(
        AUTHORIZATION, V1, "localsubjectaccessreviews", "localsubjectaccessreview",
        "LocalSubjectAccessReview", True, "/registry/localsubjectaccessreviews/",
        verbs=("create",),
    ),
    Resource(
        AUTHORIZATION, V1, "selfsubjectaccessreviews", "selfsubjectaccessreview",
        "SelfSubjectAccessReview", False, "/registry/selfsubjectaccessreviews/",
        verbs=("create",),
    ),
    Resource(
        AUTHORIZATION, V1, "selfsubjectrulesreviews", "selfsubjectrulesreview",
        "SelfSubjectRulesReview", False, "/registry/selfsubjectrulesreviews/",
        verbs=("create",),
    ),
    Resource(
        AUTHORIZATION, V1, "subjectaccessreviews", "subjectaccessreview",
        "SubjectAccessReview", False, "/registry/subjectaccessreviews/", verbs=("create",),
    ),
    Resource(
        RBAC, V1, "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", False,
        "/registry/clusterrolebindings/",
    ),
    Resource(
        RBAC, V1, "clusterroles", "clusterrole", "ClusterRole", False, "/registry/clusterroles/",
    ),
    Resource(
        RBAC, V1, "rolebindings", "rolebinding", "RoleBinding", True, "/registry/rolebindings/",
    ),
    Resource(RBAC, V1, "roles", "role", "Role", True, "/registry/roles/"),
    # coordination.k8s.io: node heartbeats (kube-node-lease) and leader election
    Resource(COORDINATION, V1, "leases", "lease", "Lease", True, "/registry/leases/"),
    # scheduling.k8s.io: pod priorities (servers.apiserver.kinds.priorityclass)
    Resource(
        SCHEDULING, V1, "priorityclasses", "priorityclass", "PriorityClass", False,
        "/registry/priorityclasses/", short_names=("pc",),
    ),
    # certificates.k8s.io: TLS bootstrap (servers.apiserver.kinds.certificates; /approval
    # takes the Approved/Denied conditions, /status the certificate)
    Resource(
        CERTIFICATES, V1, "certificatesigningrequests", "certificatesigningrequest",
        "CertificateSigningRequest", False, "/registry/certificatesigningrequests/",
        short_names=("csr",), subresources=(
            _status("CertificateSigningRequest", CERTIFICATES),
            Subresource("approval", GroupVersionKind(CERTIFICATES, V1,
                                                     "CertificateSigningRequest"),
                        STATUS_VERBS)),
    ),
)


_BY_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}


def group_versions(resources: Iterable[Resource] = RESOURCES) -> list[tuple[str, str]]:
    """The distinct ``(group, version)`` pairs served, in table order."""
    seen: dict[tuple[str, str], None] = {}
    for r in resources:
        seen.setdefault((r.group, r.version), None)
    return list(seen)


def in_group_version(
    group: str, version: str, resources: Iterable[Resource] = RESOURCES
) -> Iterator[Resource]:
    """The resources of one group/version, in table order."""
    return (r for r in resources if r.group == group and r.version == version)


def by_plural(
    group: str, version: str, plural: str, resources: Iterable[Resource] = RESOURCES
) -> Resource | None:
    """The resource served at ``/api[s]/<group>/<version>/<plural>``, or None."""
    if resources is RESOURCES:  # every request asks this: answer from an index
        return _BY_PLURAL.get((group, version, plural))
    return next(
        (r for r in in_group_version(group, version, resources) if r.plural == plural), None
    )


def by_kind(
    group: str, kind: str, resources: Iterable[Resource] = RESOURCES
) -> Resource | None:
    """The resource whose objects have ``kind`` in ``group``, or None."""
    return next((r for r in resources if r.group == group and r.kind == kind), None)


def by_short_or_name(
    name: str, group: str | None = None, resources: Iterable[Resource] = RESOURCES
) -> Resource | None:
    """Resolve what a user typed (``po``, ``pod``, ``pods``, ``Pod``) to a resource, or None.

    ``group`` narrows the search when given (``deployments.apps`` style input is split by the
    caller). Matching is case-insensitive, like kubectl's RESTMapper.
    """
    wanted = name.lower()
    for r in resources:
        if group is not None and r.group != group:
            continue
        names = (r.plural, r.singular, r.kind.lower(), *r.short_names)
        if wanted in names:
            return r
    return None


def key_for(resource: Resource, namespace: str | None, name: str) -> str:
    """The storage key of one object: ``/registry/pods/<ns>/<name>`` or ``/registry/minions/<n>``.

    Raises ValueError when ``namespace`` is missing for a namespaced resource; it is ignored
    for cluster-scoped ones.
    """
    if resource.namespaced and not namespace:
        msg = f"{resource.plural} are namespaced: a namespace is required"
        raise ValueError(msg)
    return prefix_for(resource, namespace) + name


def prefix_for(resource: Resource, namespace: str | None = None) -> str:
    """The storage prefix to list: every object, or one namespace's when ``namespace`` is set.

    Raises ValueError when ``namespace`` is the empty string for a namespaced resource and the
    caller asked for one namespace (use None for all namespaces).
    """
    if not resource.namespaced or namespace is None:
        return resource.key_prefix
    if not namespace:
        msg = f"{resource.plural} are namespaced: a namespace is required"
        raise ValueError(msg)
    return f"{resource.key_prefix}{namespace}/"



def selectable_fields(resource: Resource, obj: Obj) -> dict[str, str]:
    """The field-selector view of ``obj``: each field ``resource`` supports → its value as a
    string (Go zero values for absent members, so ``spec.nodeName=`` selects unscheduled pods)."""
    return selectable.fields_for(obj, resource.plural)
