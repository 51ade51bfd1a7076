"""Which resource a request is about, and the URL path Kubernetes gives it.

    PODS.path("default", "web", "status")   -> "/api/v1/namespaces/default/pods/web/status"
    PODS.path()                             -> "/api/v1/pods"          (every namespace)
    NODES.path(name="n1")                   -> "/api/v1/nodes/n1"
    ResourceRef("apps", "v1", "deployments", True, "Deployment").path("ns")
                                            -> "/apis/apps/v1/namespaces/ns/deployments"

The core group ("") lives under ``/api/v1``, every other group under ``/apis/{group}/{version}``
(``k8s.io/client-go/rest/request.go``, ``Request.URL``). Names and namespaces are
percent-quoted, so a name can never reach another path. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "CONFIGMAPS", "CONTROLLERREVISIONS", "CRONJOBS", "DAEMONSETS", "DEPLOYMENTS", "ENDPOINTS",
    "ENDPOINTSLICES", "EVENTS", "JOBS", "LEASES", "NAMESPACES", "NODES", "PODDISRUPTIONBUDGETS",
    "PODS", "PRIORITYCLASSES", "REPLICASETS", "REPLICATION_CONTROLLERS", "SERVICEACCOUNTS",
    "SERVICES", "STATEFULSETS", "ResourceRef",
]


def _segment(value: str, what: str) -> str:
    if not value:
        msg = f"empty {what}"
        raise ValueError(msg)
    return quote(value, safe="")


@dataclass(frozen=True)
class ResourceRef:
    """One REST resource: group, version, plural, whether it is namespaced, and its Kind.

    ``kind`` is optional; when known, the client fills ``kind``/``apiVersion`` into objects it
    creates or lists that lack them.
    """

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str = ""

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise (an object's apiVersion)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """``/api/v1`` or ``/apis/{group}/{version}``."""
        if self.group:
            return f"/apis/{self.group}/{self.version}"
        return f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of the collection, or of one object (and its subresource).

        A namespaced resource without ``namespace`` addresses every namespace (list and watch
        only); a cluster-scoped resource refuses a namespace. Raises ``ValueError`` for an
        empty name or namespace, a subresource without a name, or a misplaced namespace.
        """
        parts = [self.prefix]
        if namespace is not None:
            if not self.namespaced:
                msg = f"{self.plural} are cluster-scoped: no namespace allowed"
                raise ValueError(msg)
            parts += ["namespaces", _segment(namespace, "namespace")]
        parts.append(self.plural)
        if name is not None:
            if self.namespaced and namespace is None:
                msg = f"{self.plural} are namespaced: a namespace is required with a name"
                raise ValueError(msg)
            parts.append(_segment(name, "name"))
        if subresource:
            if name is None:
                msg = f"subresource {subresource!r} needs an object name"
                raise ValueError(msg)
            parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        # schema.GroupResource.String(): "pods", "deployments.apps".
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = ResourceRef("", "v1", "pods", True, "Pod")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
ENDPOINTS = ResourceRef("", "v1", "endpoints", True, "Endpoints")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
REPLICATION_CONTROLLERS = ResourceRef("", "v1", "replicationcontrollers", True,
                                      "ReplicationController")
EVENTS = ResourceRef("", "v1", "events", True, "Event")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
# coordination.k8s.io/v1: node heartbeats (kube-node-lease) and leader election locks.
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", True, "Lease")
SERVICEACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")
# apps/v1 and batch/v1: the workload controllers' objects.
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
REPLICASETS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
STATEFULSETS = ResourceRef("apps", "v1", "statefulsets", True, "StatefulSet")
DAEMONSETS = ResourceRef("apps", "v1", "daemonsets", True, "DaemonSet")
CONTROLLERREVISIONS = ResourceRef("apps", "v1", "controllerrevisions", True,
                                  "ControllerRevision")
JOBS = ResourceRef("batch", "v1", "jobs", True, "Job")
CRONJOBS = ResourceRef("batch", "v1", "cronjobs", True, "CronJob")
# policy/v1 disruption budgets, discovery.k8s.io/v1 endpoint slices, scheduling priorities.
PODDISRUPTIONBUDGETS = ResourceRef("policy", "v1", "poddisruptionbudgets", True,
                                   "PodDisruptionBudget")
ENDPOINTSLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
PRIORITYCLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", False,
                              "PriorityClass")
