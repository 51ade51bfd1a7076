"""A node's certificates, asked of the cluster through the certificates.k8s.io/v1 CSR API.

    key, csr_pem = request_pem(NODE_CLIENT, "n1")          # a new key and its PKCS#10 request
    cert_pem = await submit(client, NODE_CLIENT, csr_pem, timeout=300)

Each identity is a row of kube's: the signer, the subject and the key usages the signer
admits (kubernetes ``pkg/apis/certificates/v1/helpers.go`` ``IsKubeletClientCSR``,
``IsKubeletServingCSR``; client-go ``util/certificate/csr/csr.go``, which the kubelet's
bootstrap and certificate manager use). The keys are ECDSA P-256 (servers/certs/pki.py), so
the usages leave out "key encipherment", which kube asks of RSA keys only.

``submit`` POSTs the CertificateSigningRequest and polls it until the signer has written
``status.certificate`` (kube's ``WaitForCertificate`` watches; a poll from every 200 ms,
slowing to every 5 s, costs about the same here), raising CertificateError if it is Denied
or Failed or not signed in time.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from servers.certs import pki
from servers.client.resources import ResourceRef

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.rest import Client

CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", False,
                   "CertificateSigningRequest")
POLL = 0.2
MAX_POLL = 5.0


class CertificateError(Exception):
    """The cluster did not sign a certificate (one line)."""


@dataclass(frozen=True)
class Identity:
    """What one certificate is for: its signer, usages and how its subject is made."""

    role: str  # the file names under ROOT/pki and the log's word
    signer: str
    usages: tuple[str, ...]
    server: bool = False  # a serving certificate (names and addresses as SANs)

    def subject(self, node_name: str) -> tuple[str, tuple[str, ...]]:
        """(CN, O) of the certificate."""
        if self.role == "proxy":
            return "system:kube-proxy", ()
        return f"system:node:{node_name}", ("system:nodes",)


NODE_CLIENT = Identity("kubelet-client", "kubernetes.io/kube-apiserver-client-kubelet",
                       ("digital signature", "client auth"))
PROXY_CLIENT = Identity("proxy", "kubernetes.io/kube-apiserver-client",
                        ("digital signature", "client auth"))
NODE_SERVING = Identity("kubelet-serving", "kubernetes.io/kubelet-serving",
                        ("digital signature", "server auth"), server=True)


def request_pem(identity: Identity, node_name: str,
                sans: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A new key (PEM) and a certificate request for it (PEM) with the identity's subject."""
    key = pki.new_key()
    cn, orgs = identity.subject(node_name)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if identity.server and sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return pki.key_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def csr_object(identity: Identity, csr_pem: bytes) -> Obj:
    """The CertificateSigningRequest to create (a generated name, as client-go's csr.go)."""
    return {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "csr-"},
        "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": identity.signer,
                 "usages": list(identity.usages)},
    }


async def submit(client: Client, identity: Identity, csr_pem: bytes, *,
                 timeout: float) -> bytes:
    """Create the CSR, wait for its certificate (PEM); CertificateError when refused or late."""
    created = await client.create(CSRS, csr_object(identity, csr_pem))
    name = created["metadata"]["name"]
    deadline = time.monotonic() + timeout
    poll = POLL
    while True:
        csr = await client.get(CSRS, name)
        status = csr.get("status") or {}
        for condition in status.get("conditions") or ():
            if condition.get("type") in ("Denied", "Failed") and condition.get(
                    "status", "True") == "True":
                why = condition.get("message") or condition.get("reason") or ""
                msg = (f"certificate request {name} ({identity.signer}) was "
                       f"{condition['type'].lower()}{': ' + why if why else ''}")
                raise CertificateError(msg)
        if status.get("certificate"):
            return base64.b64decode(status["certificate"])
        if time.monotonic() > deadline:
            msg = (f"certificate request {name} ({identity.signer}) not signed within "
                   f"{timeout:g}s: is the controller-manager's csrapproving/csrsigning running?")
            raise CertificateError(msg)
        await asyncio.sleep(poll)
        poll = min(poll * 1.5, MAX_POLL)  # one waiting on an admin need not ask 5 times a second


def validity(cert_pem: bytes) -> tuple[float, float]:
    """(notBefore, notAfter) of a PEM certificate, as Unix times."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return (_utc(cert.not_valid_before_utc), _utc(cert.not_valid_after_utc))


def common_name(cert_pem: bytes) -> str:
    """The subject CN of a PEM certificate ("" when it has none)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _utc(moment: datetime.datetime) -> float:
    return moment.timestamp()


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
