"""OpenAPI v3 schemas of rbac.authorization.k8s.io/v1 (Role, ClusterRole and their bindings)
and authorization.k8s.io/v1 (SelfSubjectAccessReview, SubjectAccessReview).

Field names follow k8s.io/api rbac/v1 and authorization/v1 types.go at v0.32.
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    META,
    Obj,
    boolean,
    free,
    kind_header,
    map_of,
    obj,
    ref,
    refs,
    string,
    strings,
)

RBAC = "io.k8s.api.rbac.v1."
AUTHZ = "io.k8s.api.authorization.v1."
_RBAC_GROUP = "rbac.authorization.k8s.io"
_AUTHZ_GROUP = "authorization.k8s.io"

_POLICY_RULE = obj(
    "PolicyRule holds information that describes a policy rule, but does not contain "
    "information about who the rule applies to or which namespace the rule applies to.",
    {
        "verbs": strings("Verbs that apply to all the resources of this rule; '*' is all."),
        "apiGroups": strings("API groups of the resources; '' is the core group, '*' all."),
        "resources": strings("Resources this rule applies to; '*' is all, 'pods/status' a "
                             "subresource, '*/status' every status subresource."),
        "resourceNames": strings("Optional allow list of names; empty means all names."),
        "nonResourceURLs": strings("Non-resource URLs such as /healthz ('*' suffix: prefix); "
                                   "only in ClusterRoles."),
    },
    ("verbs",),
)

_SUBJECT = obj(
    "Subject holds a reference to the identity a role binding applies to.",
    {
        "kind": string("User, Group or ServiceAccount."),
        "apiGroup": string("'' for ServiceAccount, rbac.authorization.k8s.io for User and "
                           "Group."),
        "name": string("Name of the object being referenced."),
        "namespace": string("Namespace of a ServiceAccount."),
    },
    ("kind", "name"),
)

_ROLE_REF = obj(
    "RoleRef contains information that points to the role being used.",
    {
        "apiGroup": string("APIGroup of the referenced role."),
        "kind": string("Role or ClusterRole."),
        "name": string("Name of the referenced role."),
    },
    ("apiGroup", "kind", "name"),
)


def _role(kind: str, desc: str, extra: dict[str, Obj]) -> Obj:
    return obj(desc, {**kind_header("In CamelCase."),
                      "rules": refs(RBAC + "PolicyRule", f"All the PolicyRules of this {kind}."),
                      **extra},
               gvk=(_RBAC_GROUP, "v1", kind))


def _binding(kind: str, desc: str) -> Obj:
    return obj(desc, {**kind_header("In CamelCase."),
                      "subjects": refs(RBAC + "Subject", "The identities the role applies to."),
                      "roleRef": ref(RBAC + "RoleRef", "The role granted; immutable.")},
               ("roleRef",), gvk=(_RBAC_GROUP, "v1", kind))


_RESOURCE_ATTRIBUTES = obj(
    "ResourceAttributes describes a resource access request.",
    {
        "namespace": string("Namespace of the action; '' for all or cluster-scoped."),
        "verb": string("A kube verb (get, list, watch, create, ...) or '*'."),
        "group": string("API group of the resource; '*' is all."),
        "version": string("API version of the resource; '*' is all."),
        "resource": string("An existing resource kind; '*' is all."),
        "subresource": string("An existing subresource; '' is none."),
        "name": string("Name of the object; '' is all."),
        "fieldSelector": free("Field selector attributes (ignored by km)."),
        "labelSelector": free("Label selector attributes (ignored by km)."),
    },
)

_SPEC_COMMON: dict[str, Obj] = {
    "resourceAttributes": ref(AUTHZ + "ResourceAttributes", "For a resource request."),
    "nonResourceAttributes": ref(AUTHZ + "NonResourceAttributes",
                                 "For a non-resource request."),
}

_STATUS = obj(
    "SubjectAccessReviewStatus: whether the request is allowed.",
    {
        "allowed": boolean("True when the action would be allowed."),
        "denied": boolean("True when the action would be denied outright."),
        "reason": string("Why the request was allowed or denied."),
        "evaluationError": string("An error evaluating the request, if any."),
    },
    ("allowed",),
)


def _review(kind: str, desc: str, spec: str) -> Obj:
    return obj(desc, {**kind_header("In CamelCase."),
                      "spec": ref(AUTHZ + spec, "The request being evaluated."),
                      "status": ref(AUTHZ + "SubjectAccessReviewStatus",
                                    "Filled in by the server.")},
               ("spec",), gvk=(_AUTHZ_GROUP, "v1", kind))


#: RBAC and access review kinds and their parts, by full name.
SCHEMAS: dict[str, Obj] = {
    RBAC + "PolicyRule": _POLICY_RULE,
    RBAC + "Subject": _SUBJECT,
    RBAC + "RoleRef": _ROLE_REF,
    RBAC + "AggregationRule": obj(
        "AggregationRule describes how to build the rules of a ClusterRole.",
        {"clusterRoleSelectors": refs(META + "LabelSelector",
                                      "Selectors of the ClusterRoles whose rules are added.")}),
    RBAC + "Role": _role("Role", "Role is a namespaced set of PolicyRules.", {}),
    RBAC + "ClusterRole": _role(
        "ClusterRole", "ClusterRole is a cluster-level set of PolicyRules.",
        {"aggregationRule": ref(RBAC + "AggregationRule",
                                "How to build the rules from other ClusterRoles.")}),
    RBAC + "RoleBinding": _binding(
        "RoleBinding", "RoleBinding grants a Role or ClusterRole within its namespace."),
    RBAC + "ClusterRoleBinding": _binding(
        "ClusterRoleBinding", "ClusterRoleBinding grants a ClusterRole in every namespace."),
    AUTHZ + "ResourceAttributes": _RESOURCE_ATTRIBUTES,
    AUTHZ + "NonResourceAttributes": obj(
        "NonResourceAttributes describes a non-resource access request.",
        {"path": string("The URL path."), "verb": string("The HTTP verb, lowercase.")}),
    AUTHZ + "SelfSubjectAccessReviewSpec": obj(
        "What to check for the requesting user.", dict(_SPEC_COMMON)),
    AUTHZ + "SubjectAccessReviewSpec": obj(
        "What to check, and for whom.",
        {**_SPEC_COMMON,
         "user": string("The user to test for."),
         "groups": strings("The groups to test for."),
         "uid": string("UID of the user."),
         "extra": map_of(strings(), "Extra attributes of the user.")}),
    AUTHZ + "SubjectAccessReviewStatus": _STATUS,
    AUTHZ + "SelfSubjectAccessReview": _review(
        "SelfSubjectAccessReview", "Checks whether the current user can perform an action.",
        "SelfSubjectAccessReviewSpec"),
    AUTHZ + "SelfSubjectRulesReviewSpec": obj(
        "The namespace to list the rules of.", {"namespace": string("Namespace to evaluate.")}),
    AUTHZ + "ResourceRule": obj(
        "A resource rule that applies to the user.",
        {"verbs": strings("Verbs allowed."), "apiGroups": strings("API groups."),
         "resources": strings("Resources."), "resourceNames": strings("Names, if limited.")},
        ("verbs",)),
    AUTHZ + "NonResourceRule": obj(
        "A non-resource rule that applies to the user.",
        {"verbs": strings("Verbs allowed."), "nonResourceURLs": strings("URL paths.")},
        ("verbs",)),
    AUTHZ + "SubjectRulesReviewStatus": obj(
        "The rules the user has in the namespace.",
        {"resourceRules": refs(AUTHZ + "ResourceRule", "Rules on resources."),
         "nonResourceRules": refs(AUTHZ + "NonResourceRule", "Rules on URL paths."),
         "incomplete": boolean("True when the list may be missing rules."),
         "evaluationError": string("An error while listing the rules, if any.")},
        ("resourceRules", "nonResourceRules", "incomplete")),
    AUTHZ + "SelfSubjectRulesReview": obj(
        "Lists the actions the current user may perform in a namespace.",
        {**kind_header("In CamelCase."),
         "spec": ref(AUTHZ + "SelfSubjectRulesReviewSpec", "The namespace to evaluate."),
         "status": ref(AUTHZ + "SubjectRulesReviewStatus", "Filled in by the server.")},
        ("spec",), gvk=(_AUTHZ_GROUP, "v1", "SelfSubjectRulesReview")),
    AUTHZ + "LocalSubjectAccessReview": _review(
        "LocalSubjectAccessReview", "Checks whether a user or group can act in one namespace.",
        "SubjectAccessReviewSpec"),
    AUTHZ + "SubjectAccessReview": _review(
        "SubjectAccessReview", "Checks whether a user or group can perform an action.",
        "SubjectAccessReviewSpec"),
}
