"""``km certs``: write a cluster's CA, certificates and kubeconfigs into one folder, once.

    DIR/ca.crt ca.key                         the certificate authority (--client-ca-file)
    DIR/apiserver.crt apiserver.key           the apiserver's serving certificate
    DIR/sa.key sa.pub                         the service account token key pair (EC P-256):
                                              --service-account-signing-key-file, -key-file
    DIR/NAME.crt NAME.key NAME.kubeconfig     one client per identity below

    admin               admin                            system:masters
    scheduler           system:kube-scheduler
    controller-manager  system:kube-controller-manager
    proxy               system:kube-proxy
    node-NAME           system:node:NAME                 system:nodes

A file that exists is kept; a certificate is signed only when its key or certificate is
missing, and a kubeconfig is written only when missing or when its certificate is new. A new CA
(first run, or --force) makes everything anew, since nothing old would verify. Private keys
and kubeconfigs (which embed the client key) are written 0600, atomically.
"""

from __future__ import annotations

import asyncio
import base64
import os
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from servers.certs.options import DEFAULT_CA_DAYS
from servers.component.options import make_dir

if TYPE_CHECKING:
    from servers.certs import pki

NO_CRYPTOGRAPHY = ("km certs needs the cryptography package, which this build does not carry "
                   "(a --portable build leaves it out)")
NOT_HTTPS = '--server "{url}" is not an https:// URL with a host'
CREATED = "created {path}"
KEPT = "kept {path}"
CA_NAME = "km-ca"
APISERVER_NAME = "kube-apiserver"
CLUSTER = "km"
MASTERS = "system:masters"


class CertsError(Exception):
    """km certs cannot do its job; the message is one line and holds no secret."""


@dataclass(frozen=True)
class Identity:
    """One client: the files' base name, its user name (CN) and groups (O)."""

    file: str
    user: str
    groups: tuple[str, ...] = ()


def identities(nodes: list[str]) -> list[Identity]:
    return [Identity("admin", "admin", (MASTERS,)),
            Identity("scheduler", "system:kube-scheduler"),
            Identity("controller-manager", "system:kube-controller-manager"),
            Identity("proxy", "system:kube-proxy"),
            *(Identity(f"node-{n}", f"system:node:{n}", ("system:nodes",)) for n in nodes)]


async def run(opts: Namespace, stop: asyncio.Event) -> int:
    """Make what is missing (everything with --force); say each file made or kept."""
    host = urlsplit(opts.server).hostname if opts.server.startswith("https://") else None
    if not host:
        raise CertsError(NOT_HTTPS.format(url=opts.server))
    try:
        from servers.certs import pki
    except ImportError as exc:
        raise CertsError(NO_CRYPTOGRAPHY) from exc
    folder = Path(opts.dir)
    make_dir(folder, "--dir", mode=0o700)
    maker = _Maker(pki, folder, opts.days, force=opts.force)
    maker.ca()
    maker.apiserver([*opts.apiserver_san, *([host] if host not in opts.apiserver_san else [])])
    for ident in identities(opts.node):
        maker.client(ident, opts.server)
    maker.service_account_keys()
    return 0


class _Maker:
    def __init__(self, pki_: ModuleType, folder: Path, days: int, *, force: bool) -> None:
        self.pki = pki_
        self.folder = folder
        self.days = days
        self.force = force
        self.ca_cert: pki.Certificate
        self.ca_key: pki.Key

    def ca(self) -> None:
        crt, key = self.folder / "ca.crt", self.folder / "ca.key"
        if not self.force and crt.exists() and key.exists():
            self.ca_key = self.pki.load_key(key.read_bytes())
            self.ca_cert = self.pki.load_cert(crt.read_bytes())
            _say(KEPT, crt, key)
            return
        self.ca_key, self.ca_cert = self.pki.make_ca(CA_NAME, days=max(self.days, DEFAULT_CA_DAYS))
        _write(key, self.pki.key_pem(self.ca_key), private=True)
        _write(crt, self.pki.cert_pem(self.ca_cert), private=False)
        self.force = True  # nothing signed by an older CA would verify against this one
        _say(CREATED, crt, key)

    def apiserver(self, sans: list[str]) -> None:
        self._pair("apiserver", APISERVER_NAME, (), sans)

    def service_account_keys(self) -> None:
        """sa.key and sa.pub, as kubeadm's: kept when both exist (tokens signed stay good)
        unless --force makes everything anew."""
        key, pub = self.folder / "sa.key", self.folder / "sa.pub"
        if not self.force and key.exists() and pub.exists():
            _say(KEPT, key, pub)
            return
        private = self.pki.new_key()
        _write(key, self.pki.key_pem(private), private=True)
        _write(pub, self.pki.public_pem(private), private=False)
        _say(CREATED, key, pub)

    def client(self, ident: Identity, server: str) -> None:
        made = self._pair(ident.file, ident.user, ident.groups, [])
        path = self.folder / f"{ident.file}.kubeconfig"
        if path.exists() and not made:
            _say(KEPT, path)
            return
        key = (self.folder / f"{ident.file}.key").read_bytes()
        crt = (self.folder / f"{ident.file}.crt").read_bytes()
        _write(path, kubeconfig(server, ident.file, self.pki.cert_pem(self.ca_cert), crt, key),
               private=True)
        _say(CREATED, path)

    def _pair(self, name: str, cn: str, groups: tuple[str, ...], sans: list[str]) -> bool:
        crt, key = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        if not self.force and crt.exists() and key.exists():
            _say(KEPT, crt, key)
            return False
        leaf_key, cert = self.pki.sign(self.ca_cert, self.ca_key, cn, groups, self.days,
                                       sans=sans)
        _write(key, self.pki.key_pem(leaf_key), private=True)
        _write(crt, self.pki.cert_pem(cert), private=False)
        _say(CREATED, crt, key)
        return True


def kubeconfig(server: str, user: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """A self-contained kubeconfig (everything embedded as *-data) with one context."""
    import yaml

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": {
            "server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": f"{user}@{CLUSTER}",
                      "context": {"cluster": CLUSTER, "user": user}}],
        "current-context": f"{user}@{CLUSTER}",
    }
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return text.encode()


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write atomically (a temporary file renamed into place), 0600 when private."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = 0o600 if private else 0o644
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _say(line: str, *paths: Path) -> None:
    for path in paths:
        print(line.format(path=path), flush=True)
