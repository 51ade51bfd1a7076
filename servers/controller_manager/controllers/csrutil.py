"""What the certificate controllers share: the CSR resource, its conditions, and kube's
checks of a request against a signer (pkg/apis/certificates/v1/helpers.go at v1.32:
``ValidateKubeletClientCSR``, ``ValidateKubeletServingCSR``; the signer's
``validAPIServerClientUsages``). Each check returns "" or kube's error text.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from servers.client.resources import ResourceRef

Obj = dict[str, Any]

CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", False,
                   "CertificateSigningRequest")
SUBJECT_ACCESS_REVIEWS = ResourceRef("authorization.k8s.io", "v1", "subjectaccessreviews",
                                     False, "SubjectAccessReview")
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
SIGNERS = (KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING)
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
KUBE_PROXY = "system:kube-proxy"
_KUBELET_CLIENT_USAGES = ({"digital signature", "key encipherment", "client auth"},
                          {"digital signature", "client auth"})  # the second: no RSA key
_KUBELET_SERVING_USAGES = ({"digital signature", "key encipherment", "server auth"},
                           {"digital signature", "server auth"})
_OPTIONAL_CLIENT_USAGES = ("digital signature", "key encipherment")


@dataclass(frozen=True)
class Request:
    """The parts of a PKCS#10 request the checks read."""

    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    uris: tuple[str, ...]
    x509: Any  # the cryptography CertificateSigningRequest


def parse(csr: Obj) -> Request:
    """``spec.request`` parsed; ValueError when it is not a PEM CSR with a good signature."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        pem = base64.b64decode(str((csr.get("spec") or {}).get("request") or ""),
                               validate=True)
        request = x509.load_pem_x509_csr(pem)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a PEM certificate request: {exc}") from None
    if not request.is_signature_valid:
        raise ValueError("the certificate request's signature does not verify")
    subject = request.subject
    try:
        sans: Any = request.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None

    def names(kind: Any) -> tuple[str, ...]:
        return tuple(str(n) for n in sans.get_values_for_type(kind)) if sans else ()

    return Request(
        next((str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)), ""),
        tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)),
        names(x509.DNSName), names(x509.IPAddress), names(x509.RFC822Name),
        names(x509.UniformResourceIdentifier), request)


def spec(csr: Obj) -> Obj:
    return csr.get("spec") or {}


def conditions(csr: Obj) -> list[Obj]:
    return [c for c in (csr.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]


def has_type(csr: Obj, kind: str) -> bool:
    """kube's ``GetCertApprovalCondition``: any condition of the type, whatever its status."""
    return any(c.get("type") == kind for c in conditions(csr))


def has_true(csr: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions(csr))


def approved(csr: Obj) -> bool:
    """kube's ``IsCertificateRequestApproved``: Approved and not Denied."""
    return has_type(csr, "Approved") and not has_type(csr, "Denied")


def issued(csr: Obj) -> bool:
    return bool((csr.get("status") or {}).get("certificate"))


def _no_sans(req: Request, *, dns_and_ips: bool = True) -> str:
    for what, found in (("DNS", req.dns_names), ("Email", req.emails),
                        ("IP", req.ip_addresses), ("URI", req.uris)):
        if found and (dns_and_ips or what in ("Email", "URI")):
            return f"{what} subjectAltNames are not allowed"
    return ""


def kubelet_client_error(req: Request, usages: list[str]) -> str:
    """``ValidateKubeletClientCSR``: O system:nodes, CN system:node:*, no SANs, kube's usages."""
    if list(req.organizations) != [NODES_GROUP]:
        return 'subject organization is not system:nodes'
    why = _no_sans(req)
    if why:
        return why
    if not req.common_name.startswith(NODE_PREFIX):
        return 'subject common name does not begin with "system:node:"'
    if set(usages) not in _KUBELET_CLIENT_USAGES:
        return "usages did not match [client auth digital signature key encipherment]"
    return ""


def kubelet_serving_error(req: Request, usages: list[str]) -> str:
    """``ValidateKubeletServingCSR``: kube's usages, O system:nodes, a DNS or IP SAN, no
    email or URI SAN, CN system:node:*."""
    if set(usages) not in _KUBELET_SERVING_USAGES:
        return "usages did not match [digital signature key encipherment server auth]"
    if list(req.organizations) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    if not req.dns_names and not req.ip_addresses:
        return "DNS or IP subjectAltName is required"
    why = _no_sans(req, dns_and_ips=False)
    if why:
        return why
    if not req.common_name.startswith(NODE_PREFIX):
        return 'subject common name does not begin with "system:node:"'
    return ""


def client_usages_error(usages: list[str]) -> str:
    """The signer's ``validAPIServerClientUsages``: client auth, and nothing but the two
    optional usages beside it."""
    for usage in usages:
        if usage not in (*_OPTIONAL_CLIENT_USAGES, "client auth"):
            return f"invalid usage for client certificate: {usage}"
    if "client auth" not in usages:
        return "missing required usage for client certificate: client auth"
    return ""


def signer_error(signer: str, req: Request, usages: list[str]) -> str:
    """Why a signer km runs refuses the request ("" when it signs it)."""
    if signer == KUBELET_SERVING:
        return kubelet_serving_error(req, usages)
    if signer == KUBE_APISERVER_CLIENT_KUBELET:
        return kubelet_client_error(req, usages)
    return client_usages_error(usages)
