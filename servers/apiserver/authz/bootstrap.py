"""The default RBAC policy, created when the apiserver starts (kube's bootstrap policy, small).

    ClusterRole (and binding)        grants                bound to
    cluster-admin                    everything            Group system:masters
    system:discovery                 discovery URLs        Group system:authenticated
    system:basic-user                access reviews        Group system:authenticated
    system:public-info-viewer        /healthz, /version    Groups system:(un)authenticated
    system:kube-scheduler            scheduling            User system:kube-scheduler
    system:kube-controller-manager   the controllers       User system:kube-controller-manager
    system:monitoring                /metrics, health      Group system:monitoring
    system:auth-delegator            token and access reviews   (unbound: the two above
                                                           hold its rules, as in kube)
    system:node                      a kubelet's work      nobody (the Node authorizer)
    system:node-proxier              services, endpoints   User system:kube-proxy
    system:node-bootstrapper         create and read CSRs  Group system:bootstrappers
    system:certificates.k8s.io:certificatesigningrequests:nodeclient
                                     auto-approved node client CSRs   Group system:bootstrappers
    system:certificates.k8s.io:certificatesigningrequests:selfnodeclient
                                     auto-approved renewals           Group system:nodes
    system:certificates.k8s.io:*-approver   approve for one signer    (unbound, as in kube)
    Role kubeadm:bootstrap-signer-clusterinfo (kube-public)   get ConfigMap cluster-info
                                     User system:anonymous, Group system:bootstrappers
    view, edit, admin                read; + write; + roles     (unbound: for RoleBindings)

Every object carries ``rbac.authorization.kubernetes.io/autoupdate: "true"``; while it does, a
restart puts the bootstrap rules and subjects back (kube's reconciliation, made simpler: the
bootstrap content replaces the stored one rather than being merged into it). Set the
annotation to "false" to keep local edits.
See https://github.com/kubernetes/kubernetes/blob/v1.32.0/plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go
"""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

from servers.apimachinery import errors
from servers.apiserver import resources
from servers.apiserver.authz import node
from servers.apiserver.registry import Registry
from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
READ = ("get", "list", "watch")
FULL = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
EVENTS = ("create", "patch", "update")
COORDINATION = "coordination.k8s.io"
WRITE = ("create", "delete", "deletecollection", "patch", "update")
EDITABLE = ("pods", "services", "endpoints", "replicationcontrollers",
            "replicationcontrollers/scale", "configmaps", "events", "serviceaccounts",
            "pods/eviction")
VIEWABLE = (*EDITABLE, "pods/log", "pods/status", "services/status",
            "replicationcontrollers/status", "namespaces", "namespaces/status", "bindings")
#: The workload groups' resources a user may edit, and those only viewed (kube's edit/view).
APPS_EDITABLE = ("daemonsets", "deployments", "deployments/scale", "replicasets",
                 "replicasets/scale", "statefulsets", "statefulsets/scale")
APPS_VIEWABLE = (*APPS_EDITABLE, "controllerrevisions", "daemonsets/status",
                 "deployments/status", "replicasets/status", "statefulsets/status")
BATCH_EDITABLE = ("cronjobs", "jobs")
BATCH_VIEWABLE = (*BATCH_EDITABLE, "cronjobs/status", "jobs/status")
POLICY_EDITABLE = ("poddisruptionbudgets",)
#: Into a pod: kube's edit reads and writes these, view neither (aggregate-to-edit).
STREAMS = ("pods/attach", "pods/exec", "pods/portforward")
POLICY_VIEWABLE = (*POLICY_EDITABLE, "poddisruptionbudgets/status")
CERTIFICATES = "certificates.k8s.io"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
SIGNERS = (CLIENT_SIGNER, KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER)
NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"


def rule(verbs: tuple[str, ...], *names: str, groups: tuple[str, ...] = ("",),
         resource_names: tuple[str, ...] = ()) -> Obj:
    """A resource PolicyRule (limited to ``resource_names`` when given)."""
    out: Obj = {"apiGroups": list(groups), "resources": list(names), "verbs": list(verbs)}
    if resource_names:
        out["resourceNames"] = list(resource_names)
    return out


def _leader_election(name: str) -> list[Obj]:
    """A leader-election lock: any lease may be created, only ``name``'s read and renewed."""
    return [rule(("create",), "leases", groups=(COORDINATION,)),
            rule(("get", "update"), "leases", groups=(COORDINATION,), resource_names=(name,))]


def _events() -> Obj:
    return rule(EVENTS, "events", groups=("", "events.k8s.io"))


def _delegation() -> list[Obj]:
    """What a server that delegates authentication and authorization of its own endpoints
    (/metrics) to the apiserver needs: kube's system:auth-delegator rules."""
    return [rule(("create",), "tokenreviews", groups=("authentication.k8s.io",)),
            rule(("create",), "subjectaccessreviews", groups=("authorization.k8s.io",))]


def _viewer() -> list[Obj]:
    """kube's ``view``: read the namespaced objects of every served group (not secrets)."""
    return [rule(READ, *VIEWABLE), rule(READ, *APPS_VIEWABLE, groups=("apps",)),
            rule(READ, *BATCH_VIEWABLE, groups=("batch",)),
            rule(READ, *POLICY_VIEWABLE, groups=("policy",)),
            rule(READ, "endpointslices", groups=("discovery.k8s.io",))]


def _editor() -> list[Obj]:
    """kube's ``edit`` beyond ``view``: write the same objects (and evict pods), exec,
    attach and port-forward (a WebSocket upgrade needs get and create)."""
    return [rule(WRITE, *EDITABLE), rule(READ, *STREAMS), rule(WRITE, *STREAMS),
            rule(WRITE, *APPS_EDITABLE, groups=("apps",)),
            rule(WRITE, *BATCH_EDITABLE, groups=("batch",)),
            rule(WRITE, *POLICY_EDITABLE, groups=("policy",)),
            rule(WRITE, "endpointslices", groups=("discovery.k8s.io",))]


DISCOVERY_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                  "/openapi/*", "/readyz", "/version", "/version/")
#: The OIDC discovery documents (servers.apiserver.tokenrequest), for service accounts.
ISSUER_DISCOVERY_URLS = ("/.well-known/openid-configuration",
                         "/.well-known/openid-configuration/", "/openid/v1/jwks",
                         "/openid/v1/jwks/")
PUBLIC_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")
MONITORING_URLS = ("/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics",
                   "/metrics/slis", "/readyz", "/readyz/*")

#: ClusterRole name -> rules.
CLUSTER_ROLES: dict[str, list[Obj]] = {
    "cluster-admin": [rule(("*",), "*", groups=("*",)),
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    "system:discovery": [{"nonResourceURLs": list(DISCOVERY_URLS), "verbs": ["get"]}],
    "system:public-info-viewer": [{"nonResourceURLs": list(PUBLIC_URLS), "verbs": ["get"]}],
    "system:basic-user": [rule(("create",), "selfsubjectaccessreviews",
                               "selfsubjectrulesreviews", groups=("authorization.k8s.io",)),
                          rule(("create",), "selfsubjectreviews",
                               groups=("authentication.k8s.io",))],
    "system:monitoring": [{"nonResourceURLs": list(MONITORING_URLS), "verbs": ["get"]}],
    "system:service-account-issuer-discovery": [
        {"nonResourceURLs": list(ISSUER_DISCOVERY_URLS), "verbs": ["get"]}],
    "system:auth-delegator": _delegation(),
    # kube's bootstrappolicy.ClusterRoles, system:kube-scheduler (deletes pods: preemption);
    # poddisruptionbudgets are named before km serves them, as RBAC allows.
    "system:kube-scheduler": [
        rule(READ, "pods", "nodes", "namespaces", "services", "replicationcontrollers",
             "persistentvolumeclaims", "persistentvolumes"),
        rule(("delete",), "pods"),
        rule(("create",), "pods/binding", "bindings"),
        rule(("patch", "update"), "pods/status"),
        rule(READ, "replicasets", "statefulsets", groups=("apps",)),
        rule(READ, "poddisruptionbudgets", groups=("policy",)),
        rule(READ, "priorityclasses", groups=("scheduling.k8s.io",)),
        _events(),
        *_leader_election("kube-scheduler"),
        *_delegation(),
    ],
    # kube gives each controller its own service account and role (bootstrappolicy
    # controller_policy.go); km runs them all under this one user, which holds the union.
    "system:kube-controller-manager": [
        # generic-garbage-collector (every resource) and namespace-controller (empties any
        # namespaced resource, finalizes namespaces).
        rule(("get", "list", "watch", "patch", "update", "delete", "deletecollection"), "*",
             groups=("*",)),
        rule(("update",), "namespaces/finalize", "namespaces/status"),
        rule(FULL, "pods", "pods/status", "replicationcontrollers",
             "replicationcontrollers/status", "replicationcontrollers/scale", "endpoints",
             "events", "serviceaccounts"),
        rule(("create",), "pods/eviction"),
        rule(("create", "update"), "configmaps"),  # root-ca-cert-publisher
        rule(READ, "services", "nodes", "namespaces"),
        rule(("patch", "update"), "nodes", "nodes/status"),
        rule(FULL, *APPS_VIEWABLE, groups=("apps",)),
        rule(FULL, *BATCH_VIEWABLE, groups=("batch",)),
        rule(FULL, *POLICY_VIEWABLE, groups=("policy",)),
        rule(FULL, "endpointslices", groups=("discovery.k8s.io",)),
        # csrapproving (kube-apiserver-client for km minion's proxy identity and
        # kubelet-serving for a node's own names: km's extensions) and csrsigning; the CSRs
        # themselves are under the "*" rule above.
        rule(("approve",), "signers", groups=(CERTIFICATES,), resource_names=SIGNERS),
        rule(("sign",), "signers", groups=(CERTIFICATES,), resource_names=SIGNERS),
        _events(),
        *_leader_election("kube-controller-manager"),
        *_delegation(),
    ],
    # The Node authorizer grants these to each node (narrowed by NodeRestriction); the role
    # is kept, unbound, for those who bind it themselves (kube since 1.8).
    "system:node": node.NODE_RULES,
    # TLS bootstrap (kube's bootstrappolicy): nodes ask for certificates with a bootstrap
    # token; what the csrapproving controller approves depends on who may create which
    # certificatesigningrequests/nodeclient|selfnodeclient (a subresource nobody serves).
    "system:node-bootstrapper": [rule(("create", "get", "list", "watch"),
                                      "certificatesigningrequests", groups=(CERTIFICATES,))],
    NODE_CLIENT: [rule(("create",), "certificatesigningrequests/nodeclient",
                       groups=(CERTIFICATES,))],
    SELF_NODE_CLIENT: [rule(("create",), "certificatesigningrequests/selfnodeclient",
                            groups=(CERTIFICATES,))],
    **{f"system:certificates.k8s.io:{signer.split('/')[1]}-approver": [
        rule(("approve",), "signers", groups=(CERTIFICATES,), resource_names=(signer,))]
       for signer in SIGNERS},
    "system:node-proxier": [rule(READ, "services", "endpoints", "nodes"),
                            rule(READ, "endpointslices", groups=("discovery.k8s.io",)),
                            _events()],
    # For users, to bind per namespace (kube builds these by aggregation; here they are flat).
    "view": _viewer(),
    "edit": [*_viewer(), *_editor()],
    "admin": [*_viewer(), *_editor(),
              rule(FULL, "roles", "rolebindings", groups=(GROUP,)),
              rule(("create",), "localsubjectaccessreviews", groups=("authorization.k8s.io",))],
}

#: ClusterRoleBinding name (the same as its ClusterRole's) -> subjects.
CLUSTER_ROLE_BINDINGS: dict[str, list[tuple[str, str]]] = {
    "cluster-admin": [("Group", "system:masters")],
    "system:discovery": [("Group", "system:authenticated")],
    "system:basic-user": [("Group", "system:authenticated")],
    "system:public-info-viewer": [("Group", "system:authenticated"),
                                  ("Group", "system:unauthenticated")],
    "system:monitoring": [("Group", "system:monitoring")],
    "system:service-account-issuer-discovery": [("Group", "system:serviceaccounts")],
    "system:kube-scheduler": [("User", "system:kube-scheduler")],
    "system:kube-controller-manager": [("User", "system:kube-controller-manager")],
    # Bound to nobody: a binding to group system:nodes left by an older km loses its subject
    # on the next start (kube keeps this binding empty for the same reason).
    "system:node": [],
    "system:node-proxier": [("User", "system:kube-proxy")],
}

#: Bindings named otherwise than their ClusterRole: kubeadm's TLS bootstrap bindings
#: (kubeadm:kubelet-bootstrap, kubeadm:node-autoapprove-bootstrap,
#: kubeadm:node-autoapprove-certificate-rotation), under km's names, to the whole
#: system:bootstrappers group (kubeadm binds its token's group).
NAMED_BINDINGS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "km:kubelet-bootstrap": ("system:node-bootstrapper", [("Group", "system:bootstrappers")]),
    "km:node-autoapprove-bootstrap": (NODE_CLIENT, [("Group", "system:bootstrappers")]),
    "km:node-autoapprove-certificate-rotation": (SELF_NODE_CLIENT,
                                                 [("Group", "system:nodes")]),
}

#: kubeadm's cluster-info access (cmd/kubeadm/app/phases/bootstraptoken/clusterinfo): the
#: ConfigMap a joining node reads before it trusts the server. km also lets the
#: bootstrappers read it, for servers run with --anonymous-auth=false.
CLUSTER_INFO_NAMESPACE, CLUSTER_INFO = "kube-public", "cluster-info"
CLUSTER_INFO_ROLE = "kubeadm:bootstrap-signer-clusterinfo"


def _meta(name: str) -> Obj:
    return {"name": name, "annotations": {AUTOUPDATE: "true"},
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}


def policy() -> list[tuple[str, Obj]]:
    """Every bootstrap object, as ``(plural, object)`` pairs: roles before their bindings."""
    objs: list[tuple[str, Obj]] = [
        ("clusterroles", {"metadata": _meta(name), "rules": copy.deepcopy(rules)})
        for name, rules in CLUSTER_ROLES.items()]
    bindings = {name: (name, subjects) for name, subjects in CLUSTER_ROLE_BINDINGS.items()}
    for name, (role, subjects) in {**bindings, **NAMED_BINDINGS}.items():
        objs.append(("clusterrolebindings", _binding(_meta(name), "ClusterRole", role,
                                                     subjects)))
    meta = {**_meta(CLUSTER_INFO_ROLE), "namespace": CLUSTER_INFO_NAMESPACE}
    objs.append(("roles", {"metadata": copy.deepcopy(meta), "rules": [
        rule(("get",), "configmaps", resource_names=(CLUSTER_INFO,))]}))
    objs.append(("rolebindings", _binding(copy.deepcopy(meta), "Role", CLUSTER_INFO_ROLE,
                                          [("User", "system:anonymous"),
                                           ("Group", "system:bootstrappers")])))
    return objs


def _binding(meta: Obj, kind: str, role: str, subjects: list[tuple[str, str]]) -> Obj:
    return {"metadata": meta, "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role},
            "subjects": [{"apiGroup": GROUP, "kind": k, "name": s} for k, s in subjects]}


async def ensure(registry: Registry) -> None:
    """Create the bootstrap policy; put back the content of objects still marked autoupdate."""
    for plural, obj in policy():
        resource = resources.by_plural(GROUP, "v1", plural)
        assert resource is not None
        namespace = obj["metadata"].get("namespace")
        with contextlib.suppress(errors.AlreadyExists):
            await registry.create(Target(resource, namespace), obj)
            continue
        await _reconcile(registry, Target(resource, namespace, obj["metadata"]["name"]), obj)


async def _reconcile(registry: Registry, target: Target, wanted: Obj) -> None:
    content = ("rules",) if target.resource.plural in ("clusterroles", "roles") \
        else ("roleRef", "subjects")

    def restore(current: Obj) -> Obj:
        current.update({key: wanted[key] for key in content})
        return current

    stored = await registry.get(target)
    annotations = (stored.get("metadata") or {}).get("annotations") or {}
    if annotations.get(AUTOUPDATE) != "true" or all(
            stored.get(key) == wanted[key] for key in content):
        return
    try:
        await registry.patch(target, restore)
        log.info("rbac bootstrap: restored %s %s", target.resource.kind, target.name)
    except errors.Invalid as exc:  # e.g. a changed roleRef, which is immutable
        log.warning("rbac bootstrap: cannot restore %s %s: %s", target.resource.kind,
                    target.name, exc)
