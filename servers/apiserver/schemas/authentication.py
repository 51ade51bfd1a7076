"""OpenAPI v3 schemas of authentication.k8s.io/v1: TokenReview and SelfSubjectReview.

Field names follow k8s.io/api authentication/v1 types.go at v0.32. Both are answered and never
stored (``servers.apiserver.auth.tokenreview``, ``auth.review``).
"""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    Obj,
    boolean,
    kind_header,
    map_of,
    obj,
    ref,
    string,
    strings,
)

AUTHENTICATION = "io.k8s.api.authentication.v1."
_GROUP = "authentication.k8s.io"

_USER_INFO = obj(
    "UserInfo holds the information about the user needed to implement the user.Info "
    "interface.",
    {"username": string("The name that uniquely identifies this user among all active users."),
     "uid": string("A unique value that identifies this user across time."),
     "groups": strings("The names of groups this user is a part of."),
     "extra": map_of(strings(), "Any additional information provided by the authenticator.")},
)

#: The kinds and their parts, by full name.
SCHEMAS: dict[str, Obj] = {
    AUTHENTICATION + "TokenReview": obj(
        "TokenReview attempts to authenticate a token to a known user.",
        {**kind_header("In CamelCase."),
         "spec": ref(AUTHENTICATION + "TokenReviewSpec", "Spec holds information about the "
                     "request being evaluated"),
         "status": ref(AUTHENTICATION + "TokenReviewStatus", "Status is filled in by the "
                       "server and indicates whether the request can be authenticated.")},
        ("spec",),
        gvk=(_GROUP, "v1", "TokenReview"),
    ),
    AUTHENTICATION + "TokenReviewSpec": obj(
        "TokenReviewSpec is a description of the token authentication request.",
        {"token": string("Token is the opaque bearer token."),
         "audiences": strings("Audiences is a list of the identifiers that the resource "
                              "server presented with the token identifies as.")},
    ),
    AUTHENTICATION + "TokenReviewStatus": obj(
        "TokenReviewStatus is the result of the token authentication request.",
        {"authenticated": boolean("Authenticated indicates that the token was associated with "
                                  "a known user."),
         "user": ref(AUTHENTICATION + "UserInfo", "User is the UserInfo associated with the "
                     "provided token."),
         "audiences": strings("Audiences are audience identifiers chosen by the authenticator "
                              "that are compatible with both the TokenReview and token."),
         "error": string("Error indicates that the token couldn't be checked")},
    ),
    AUTHENTICATION + "UserInfo": _USER_INFO,
    AUTHENTICATION + "SelfSubjectReview": obj(
        "SelfSubjectReview contains the user information that the kube-apiserver has about "
        "the user making this request.",
        {**kind_header("In CamelCase."),
         "status": ref(AUTHENTICATION + "SelfSubjectReviewStatus", "Status is filled in by "
                       "the server with the user attributes.")},
        gvk=(_GROUP, "v1", "SelfSubjectReview"),
    ),
    AUTHENTICATION + "SelfSubjectReviewStatus": obj(
        "SelfSubjectReviewStatus is filled by the kube-apiserver and sent back to a user.",
        {"userInfo": ref(AUTHENTICATION + "UserInfo", "User attributes of the user making "
                         "this request.")},
    ),
}
