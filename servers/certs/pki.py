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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
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


#: certificates/v1 key usages -> (KeyUsage flag, or None for an extended usage OID).
_USAGE_FLAGS = {"digital signature": "digital_signature", "signing": "digital_signature",
                "content commitment": "content_commitment",
                "key encipherment": "key_encipherment", "key agreement": "key_agreement",
                "data encipherment": "data_encipherment", "cert sign": "key_cert_sign",
                "crl sign": "crl_sign", "encipher only": "encipher_only",
                "decipher only": "decipher_only"}
_EXTENDED = {"any": x509.ObjectIdentifier("2.5.29.37.0"),
             "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
             "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
             "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
             "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
             "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
             "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
             "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
             "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
             "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
             "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
             "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
             "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1")}


def sign_request(ca: Certificate, ca_key: Key | rsa.RSAPrivateKey,
                 request: x509.CertificateSigningRequest,
                 usages: Sequence[str], not_before: datetime.datetime,
                 not_after: datetime.datetime) -> Certificate:
    """A certificate for a CSR's key, subject and SANs, with the asked usages, as kube's
    ``authority.Sign`` with its permissive policy (no other extension of the request is
    copied). The CA key may be ECDSA (km's) or RSA (kubeadm's). Raises ValueError for a
    usage certificates/v1 does not know."""
    flags = {name: False for name in set(_USAGE_FLAGS.values())}
    extended = []
    for usage in usages:
        if usage in _USAGE_FLAGS:
            flags[_USAGE_FLAGS[usage]] = True
        elif usage in _EXTENDED:
            extended.append(_EXTENDED[usage])
        else:
            raise ValueError(f"unknown key usage {usage!r}")
    builder = (x509.CertificateBuilder().serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .subject_name(request.subject).issuer_name(ca.subject)
               .public_key(request.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if any(flags.values()):  # Go leaves out a KeyUsage of no bits
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(dict.fromkeys(extended))),
                                        critical=False)
    try:
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None
    if sans is not None and len(sans):
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


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
