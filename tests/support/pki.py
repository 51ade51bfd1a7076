"""Certificates and HTTPS requests for the TLS and authentication tests.

    folder = make_certs(tmp, km=None)            # `km certs` (source tree, or a built km.pyz)
    expired_client(folder, "admin", out)          # signed by the cluster CA, expired yesterday
    foreign_client("admin", out)                  # signed by a CA the apiserver does not know
    status, body = call(url, folder / "ca.crt", "GET", "/api/v1/pods", cert=..., token=...)

``call`` speaks HTTPS with the standard library only, so what the tests see is exactly what
the apiserver sent.
"""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import sys
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "integration-token-7f3a9c"
WRONG_TOKEN = "wrong-token-0b1d2e"


def make_certs(folder: Path, *, km: Path | None = None, env: dict[str, str] | None = None,
               server: str = "https://127.0.0.1:6443") -> Path:
    cmd = [str(km)] if km else [sys.executable, "-m", "servers.km"]
    done = subprocess.run([*cmd, "certs", "--dir", str(folder), "--server", server,
                           "--node", "n1"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return folder


def token_file(folder: Path) -> Path:
    path = folder / "tokens.csv"
    path.write_text(f'{TOKEN},alice,uid-alice,"dev,ops"\n')
    path.chmod(0o600)
    return path


def expired_client(folder: Path, user: str, out: Path) -> tuple[Path, Path]:
    """A client certificate for ``user`` from the cluster's own CA that expired yesterday."""
    from servers.certs import pki

    ca = pki.load_cert((folder / "ca.crt").read_bytes())
    ca_key = pki.load_key((folder / "ca.key").read_bytes())
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3)
    key, cert = pki.sign(ca, ca_key, user, ("system:masters",), 2, not_before=start)
    return _write(out, f"expired-{user}", pki.cert_pem(cert), pki.key_pem(key))


def foreign_client(user: str, out: Path) -> tuple[Path, Path]:
    """A valid client certificate for ``user``, signed by a CA nobody configured."""
    from servers.certs import pki

    ca_key, ca = pki.make_ca("foreign-ca", 30)
    key, cert = pki.sign(ca, ca_key, user, ("system:masters",), 30)
    return _write(out, f"foreign-{user}", pki.cert_pem(cert), pki.key_pem(key))


def _write(out: Path, name: str, cert: bytes, key: bytes) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.crt").write_bytes(cert)
    (out / f"{name}.key").write_bytes(key)
    return out / f"{name}.crt", out / f"{name}.key"


def call(url: str, ca: Path, method: str, path: str, body: Any = None, *,
         cert: tuple[Path, Path] | None = None, token: str | None = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    """One HTTPS request; the status and the decoded JSON (or text) answer."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    parts = urlsplit(url)
    conn = HTTPSConnection(parts.hostname or "", parts.port, context=context, timeout=30)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode()
