"""OpenAPI v3 schemas of certificates.k8s.io/v1: CertificateSigningRequest (k8s.io/api v0.32)."""

from __future__ import annotations

from servers.apiserver.schemas._dsl import (
    Obj,
    array,
    integer,
    kind_header,
    map_of,
    obj,
    ref,
    refs,
    string,
    strings,
    time,
)

CERTIFICATES = "io.k8s.api.certificates.v1."
_GROUP = "certificates.k8s.io"

_SPEC = obj(
    "CertificateSigningRequestSpec contains the certificate request.",
    {
        "request": string("A PEM-encoded x509 certificate signing request (base64 in JSON).",
                          fmt="byte"),
        "signerName": string("The requested signer, a qualified name: "
                             "kubernetes.io/kube-apiserver-client, "
                             "kubernetes.io/kube-apiserver-client-kubelet, "
                             "kubernetes.io/kubelet-serving, or a custom one."),
        "expirationSeconds": integer("The requested duration of validity of the issued "
                                     "certificate; at least 600."),
        "usages": strings("Key usages requested in the issued certificate."),
        "username": string("The name of the user that created the request (set by the "
                           "server)."),
        "uid": string("The uid of the user that created the request (set by the server)."),
        "groups": strings("The group membership of the user that created the request (set "
                          "by the server)."),
        "extra": map_of(array(string(), list_type="atomic"),
                        "Extra attributes of the user that created the request."),
    },
    ("request", "signerName"),
)

_CONDITION = obj(
    "CertificateSigningRequestCondition describes a condition of a request.",
    {
        "type": string("Approved, Denied or Failed (or another type)."),
        "status": string("True, False or Unknown."),
        "reason": string("A brief reason for the request state."),
        "message": string("Human-readable details about the request state."),
        "lastUpdateTime": time("When this condition was last updated."),
        "lastTransitionTime": time("When the condition last went from one status to "
                                   "another."),
    },
    ("type", "status"),
)

_STATUS = obj(
    "CertificateSigningRequestStatus holds the approval and the issued certificate.",
    {
        "conditions": refs(CERTIFICATES + "CertificateSigningRequestCondition",
                           "Approved, Denied and Failed conditions.", key="type"),
        "certificate": string("The issued certificate, PEM (base64 in JSON); set through "
                              "/status once approved.", fmt="byte"),
    },
)

#: CertificateSigningRequest and its parts, by full name.
SCHEMAS: dict[str, Obj] = {
    CERTIFICATES + "CertificateSigningRequest": obj(
        "CertificateSigningRequest objects provide a mechanism to obtain x509 certificates "
        "by submitting a certificate signing request, and having it asynchronously approved "
        "and issued.",
        {**kind_header("In CamelCase."),
         "spec": ref(CERTIFICATES + "CertificateSigningRequestSpec",
                     "The certificate request itself and what the requester is."),
         "status": ref(CERTIFICATES + "CertificateSigningRequestStatus",
                       "Whether the request is approved or denied, and the certificate.")},
        ("spec",),
        gvk=(_GROUP, "v1", "CertificateSigningRequest"),
    ),
    CERTIFICATES + "CertificateSigningRequestSpec": _SPEC,
    CERTIFICATES + "CertificateSigningRequestCondition": _CONDITION,
    CERTIFICATES + "CertificateSigningRequestStatus": _STATUS,
}
