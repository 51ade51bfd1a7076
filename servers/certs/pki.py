"""Keys and X.509 certificates with the ``cryptography`` package: the only module that imports it.

Keys are ECDSA P-256: as strong as RSA-3072 for TLS, made in a millisecond rather than tens of
them, and understood by Go (kubectl), OpenSSL (Python's ssl) and urllib3 alike.

    ca_key, ca = make_ca("km-ca", days)
    key, cert = sign(ca, ca_key, "system:node:n1", ("system:nodes",), days)   # a client
    key, cert = sign(ca, ca_key, "kube-apiserver", (), days, sans=["127.0.0.1"])  # a server
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey
Certificate = x509.Certificate
# A little slack before "now", so a peer whose clock is slightly behind accepts a fresh cert.
BACKDATE = datetime.timedelta(minutes=5)


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(common_name: str, days: int) -> tuple[Key, Certificate]:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = _validity(x509.CertificateBuilder(), days).subject_name(name).issuer_name(name)
    builder = (builder.public_key(key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_key_usage(ca=True), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    return key, builder.sign(key, hashes.SHA256())


def sign(ca: Certificate, ca_key: Key, common_name: str, organizations: Sequence[str],
         days: int, *, sans: Sequence[str] = (),
         not_before: datetime.datetime | None = None) -> tuple[Key, Certificate]:
    """A new key and its certificate, signed by the CA: a client one (CN = user, O = groups),
    or a server one when ``sans`` (IP addresses and DNS names) are given."""
    key = new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if sans else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_validity(x509.CertificateBuilder(), days, not_before)
               .subject_name(x509.Name(attrs)).issuer_name(ca.subject)
               .public_key(key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_key_usage(ca=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [_general_name(s) for s in sans]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def key_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def public_pem(key: Key) -> bytes:
    """The public half of ``key`` as PEM SubjectPublicKeyInfo."""
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_pem(cert: Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(pem: bytes) -> Key:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        msg = "the CA key is not an ECDSA key"
        raise ValueError(msg)
    return key


def load_cert(pem: bytes) -> Certificate:
    return x509.load_pem_x509_certificate(pem)


def _validity(builder: x509.CertificateBuilder, days: int,
              not_before: datetime.datetime | None = None) -> x509.CertificateBuilder:
    start = not_before or datetime.datetime.now(datetime.timezone.utc) - BACKDATE
    return (builder.serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days)))


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
