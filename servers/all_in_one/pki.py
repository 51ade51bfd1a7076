"""The all-in-one's PKI, admin kubeconfig and join token, made on first start, reused later.

    DATA/pki/          what ``km certs`` makes (CA, apiserver serving cert, one client cert and
                       kubeconfig per identity: admin, scheduler, controller-manager, proxy,
                       node-NAME), plus:
      kubelet-client.crt/.key   the apiserver's client to kubelets (kube-apiserver-kubelet-client)
      kubelet.crt/.key          the kubelet's serving certificate (node name and IP), CA-signed
      sa.key                    signs service account tokens (pods' kube-api-access volumes)
    DATA/admin.kubeconfig       (or --write-kubeconfig) the admin's, on https://127.0.0.1:PORT
    DATA/node-token             K10<sha256 of ca.crt>::<id>.<secret>, k3s' join token format

``km certs`` (servers/certs) keeps what exists, so a restart signs nothing. Two things make a
file anew: a serving certificate missing a name the flags now ask for (a new --tls-san or node
IP), and a kubeconfig pointing at another server URL (a new --secure-port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import ipaddress
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

    from servers.certs.pki import Certificate, Key

log = logging.getLogger(__name__)

# The kubernetes Service's names (kube-apiserver's default alternate names).
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")
KUBELET_CLIENT = "kube-apiserver-kubelet-client"  # the user kubelets let in (kubelet/api.py)
DAYS = 365
# k3s' bootstrap token shape: 6 and 16 characters of [a-z0-9] (kube's bootstrap tokens).
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def apiserver_sans(node_name: str, node_ip: str, bind_address: str,
                   tls_sans: list[str], service_ip: str) -> list[str]:
    """Every name and address the API's serving certificate must cover, each once."""
    names = ["127.0.0.1", "localhost", node_name, node_ip, service_ip, *SERVICE_NAMES,
             *tls_sans]
    if not _unspecified(bind_address):
        names.append(bind_address)
    return list(dict.fromkeys(n for n in names if n))


async def ensure(pki_dir: Path, *, server: str, sans: list[str], node_name: str,
           node_ip: str) -> None:
    """Make what is missing in ``pki_dir`` (see the module docstring); say it in one line."""
    from servers.certs import app as certs
    from servers.certs import options as certs_options
    from servers.certs import pki

    made = not (pki_dir / "ca.crt").exists()
    _drop_stale_serving(pki_dir / "apiserver.crt", sans, pki)
    _drop_stale_kubeconfigs(pki_dir, server)
    parser = argparse.ArgumentParser()
    certs_options.add_flags(parser)
    opts = parser.parse_args(["--dir", str(pki_dir), "--server", server,
                              "--apiserver-san", ",".join(sans), "--node", node_name])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # km certs says each file; here one line says all
        await certs.run(opts, asyncio.Event())
    log.debug("km certs: %s", out.getvalue().strip().replace("\n", "; "))
    ca_key = pki.load_key((pki_dir / "ca.key").read_bytes())
    ca = pki.load_cert((pki_dir / "ca.crt").read_bytes())
    _pair(pki, ca, ca_key, pki_dir / "kubelet-client", KUBELET_CLIENT, [])
    kubelet_sans = list(dict.fromkeys([node_name, node_ip, "127.0.0.1", "localhost"]))
    _drop_stale_serving(pki_dir / "kubelet.crt", kubelet_sans, pki)
    _pair(pki, ca, ca_key, pki_dir / "kubelet", f"system:node:{node_name}", kubelet_sans)
    sa_key = pki_dir / "sa.key"
    if not sa_key.exists():  # signs service account tokens (kubeadm's sa.key)
        _write(sa_key, pki.key_pem(pki.new_key()), 0o600)
    log.info("%s the cluster's PKI in %s", "made" if made else "reusing", pki_dir)


def _pair(pki: ModuleType, ca: Certificate, ca_key: Key, base: Path, cn: str,
          sans: list[str]) -> None:
    crt, key = base.with_suffix(".crt"), base.with_suffix(".key")
    if crt.exists() and key.exists():
        return
    groups = ("system:nodes",) if cn.startswith("system:node:") else ()
    leaf_key, cert = pki.sign(ca, ca_key, cn, groups, DAYS, sans=sans)
    _write(key, pki.key_pem(leaf_key), 0o600)
    _write(crt, pki.cert_pem(cert), 0o644)


def _drop_stale_serving(crt: Path, sans: list[str], pki: ModuleType) -> None:
    """Remove a serving certificate (and key) that lacks one of ``sans``: it is made anew."""
    if not crt.exists():
        return
    from cryptography import x509

    cert = pki.load_cert(crt.read_bytes())
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        have: set[str] = set()
    else:
        have = {str(n) for n in ext.get_values_for_type(x509.IPAddress)}
        have |= set(ext.get_values_for_type(x509.DNSName))
    wanted = {str(ipaddress.ip_address(s)) if _is_ip(s) else s for s in sans}
    if wanted - have:
        log.info("%s lacks %s: signing it anew", crt.name, ", ".join(sorted(wanted - have)))
        crt.unlink()
        crt.with_suffix(".key").unlink(missing_ok=True)


def _drop_stale_kubeconfigs(pki_dir: Path, server: str) -> None:
    """Remove kubeconfigs that point at another server URL; km certs writes them again."""
    import yaml

    for path in pki_dir.glob("*.kubeconfig"):
        try:
            doc = yaml.safe_load(path.read_text())
            urls = {c["cluster"]["server"] for c in doc.get("clusters") or []}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
            urls = set()
        if urls != {server}:
            path.unlink()


def write_admin_kubeconfig(pki_dir: Path, path: Path) -> None:
    """Copy the admin kubeconfig to ``path`` (0600), unless it is the same already."""
    source = pki_dir / "admin.kubeconfig"
    if path.exists() and path.read_bytes() == source.read_bytes():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_token(path: Path, ca_crt: Path) -> str:
    """The join token in ``path``, made once: ``K10<sha256 of the CA cert>::<id>.<secret>``."""
    digest = hashlib.sha256(ca_crt.read_bytes()).hexdigest()
    if path.exists():
        token = path.read_text().strip()
        if token.startswith(f"K10{digest}::"):
            return token
    token = f"K10{digest}::{_random(6)}.{_random(16)}"
    _write(path, f"{token}\n".encode(), 0o600)
    return token


def _random(n: int) -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(n))


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False
