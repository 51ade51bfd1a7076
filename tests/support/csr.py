"""Certificate signing requests for the CSR tests: a key and a PEM request, and the
CertificateSigningRequest object that carries it."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def make_request(cn: str, orgs: Sequence[str] = (), sans: Sequence[str] = ()
                 ) -> tuple[bytes, bytes]:
    """A new P-256 key (PEM) and a PEM CSR for CN ``cn``, O ``orgs`` and DNS/IP ``sans``."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    request = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, request.public_bytes(serialization.Encoding.PEM)


def csr_object(name: str, request_pem: bytes, signer: str,
               usages: Sequence[str] = ("digital signature", "client auth"),
               expiration_seconds: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"request": base64.b64encode(request_pem).decode(),
                            "signerName": signer, "usages": list(usages)}
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": spec}
