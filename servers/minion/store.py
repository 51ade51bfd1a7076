"""Where a minion keeps its credentials, and the kubeconfigs that point at them.

    ROOT/pki/ca.crt                       the cluster CA (pinned by the token's hash)
    ROOT/pki/ROLE.crt, ROOT/pki/ROLE.key  kubelet-client (system:node:NAME), proxy
                                          (system:kube-proxy), kubelet-serving; keys 0600
    ROOT/kubelet.kubeconfig               the kubelet's, naming those files (0600)
    ROOT/proxy.kubeconfig                 km proxy's and km dns' (0600)
    ROOT/kubelet/                         the kubelet's --root-dir

A kubeconfig names its certificate and key by path, as the kubelet's kubelet.conf names
``pki/kubelet-client-current.pem``, so a renewal replaces the two files and nothing else.
Every file is written to a temporary name, synced and renamed over the old one.
Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

KUBECONFIGS = {"kubelet-client": "kubelet.kubeconfig", "proxy": "proxy.kubeconfig"}


class Store:
    """The credential files of one minion under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    def cert(self, role: str) -> Path:
        return self.pki / f"{role}.crt"

    def key(self, role: str) -> Path:
        return self.pki / f"{role}.key"

    def kubeconfig(self, role: str) -> Path:
        return self.root / KUBECONFIGS[role]

    def has(self, role: str) -> bool:
        """Whether the role's certificate and key are both there."""
        return self.cert(role).exists() and self.key(role).exists()

    def write_ca(self, pem: bytes) -> None:
        self.pki.mkdir(mode=0o700, parents=True, exist_ok=True)
        write(self.ca, pem, 0o644)

    def write_pair(self, role: str, key_pem: bytes, cert_pem: bytes) -> None:
        """The role's key (0600), then its certificate: a reader of both never sees a new
        certificate with the old key, and a half-written pair is caught by the TLS load."""
        self.pki.mkdir(mode=0o700, parents=True, exist_ok=True)
        write(self.key(role), key_pem, 0o600)
        write(self.cert(role), cert_pem, 0o644)

    def write_kubeconfig(self, role: str, server: str) -> Path:
        """The role's kubeconfig on ``server``, naming the CA, certificate and key files."""
        user = KUBECONFIGS[role].removesuffix(".kubeconfig")
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": "default",
            "clusters": [{"name": "default", "cluster": {
                "server": server.rstrip("/"), "certificate-authority": str(self.ca)}}],
            "users": [{"name": user, "user": {
                "client-certificate": str(self.cert(role)),
                "client-key": str(self.key(role))}}],
            "contexts": [{"name": "default", "context": {"cluster": "default", "user": user}}],
        }
        path = self.kubeconfig(role)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        write(path, (json.dumps(doc, indent=2) + "\n").encode(), 0o600)
        return path

    def server_of(self, role: str) -> str:
        """The server URL the role's kubeconfig names ("" when there is none)."""
        try:
            doc = json.loads(self.kubeconfig(role).read_text())
            return str(doc["clusters"][0]["cluster"]["server"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return ""


def write(path: Path, data: bytes, mode: int) -> None:
    """``data`` into ``path`` with ``mode``, atomically (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
