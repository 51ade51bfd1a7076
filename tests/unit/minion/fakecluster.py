"""A small HTTPS stand-in for the parts of an apiserver a joining node talks to (unit tests).

It serves kube-public/cluster-info to anyone, and a CSR API that signs each request at once
with its CA (or denies it), recording who asked: the bearer token, or the CN of the TLS client
certificate. The real apiserver and controllers are exercised by tests/e2e/test_minion.py.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from servers.certs import pki

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


class FakeCluster:
    """CA, serving certificate, and the recorded CSRs (``requests``: (who, object))."""

    def __init__(self, tmp: Path, *, days: int = 1, deny: bool = False,
                 cluster_info: bool = True, pending: bool = False) -> None:
        self.ca_key, self.ca = pki.make_ca("fake-ca", 10)
        self.ca_pem = pki.cert_pem(self.ca)
        key, cert = pki.sign(self.ca, self.ca_key, "apiserver", (), 10, sans=["127.0.0.1"])
        (tmp / "srv.key").write_bytes(pki.key_pem(key))
        (tmp / "srv.crt").write_bytes(pki.cert_pem(cert))
        (tmp / "ca.crt").write_bytes(self.ca_pem)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp / "ca.crt"))
        self.tls.load_cert_chain(str(tmp / "srv.crt"), str(tmp / "srv.key"))
        self.tls.verify_mode = ssl.CERT_OPTIONAL
        self.days, self.deny, self.cluster_info = days, deny, cluster_info
        self.pending = pending  # never approved nor signed
        self.csrs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.anonymous_info = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/kube-public/configmaps/cluster-info", self._info)
        app.router.add_post(CSR_PATH, self._create)
        app.router.add_get(CSR_PATH + "/{name}", self._get)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _info(self, request: web.Request) -> web.Response:
        if not self.cluster_info:
            return _status(404, "NotFound")
        self.anonymous_info += "Authorization" not in request.headers
        kubeconfig = {"clusters": [{"name": "", "cluster": {
            "server": self.url,
            "certificate-authority-data": base64.b64encode(self.ca_pem).decode()}}]}
        return web.json_response({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "cluster-info"},
                                  "data": {"kubeconfig": json.dumps(kubeconfig)}})

    async def _create(self, request: web.Request) -> web.Response:
        obj = await request.json()
        auth = request.headers.get("Authorization", "")
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        who = auth.removeprefix("Bearer ") if auth else _cn(peer)
        if not who:
            return _status(401, "Unauthorized")
        name = f"csr-{len(self.csrs)}"
        obj["metadata"] = {"name": name}
        self.csrs[name] = obj
        self.requests.append((who, obj))
        return web.json_response(obj, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        obj = self.csrs[request.match_info["name"]]
        if self.pending:
            return web.json_response(obj)
        if self.deny:
            obj["status"] = {"conditions": [{"type": "Denied", "status": "True",
                                             "message": "not today"}]}
        else:
            obj["status"] = {"certificate": base64.b64encode(self._sign(obj)).decode()}
        return web.json_response(obj)

    def _sign(self, obj: dict[str, Any]) -> bytes:
        csr = x509.load_pem_x509_csr(base64.b64decode(obj["spec"]["request"]))
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.ca.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1))
                .not_valid_after(now + datetime.timedelta(days=self.days))
                .sign(self.ca_key, hashes.SHA256()))
        return pki.cert_pem(cert)


def _cn(peer: Any) -> str:
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _status(code: int, reason: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "reason": reason, "code": code, "message": reason.lower()},
                             status=code)


def subject(pem: bytes) -> tuple[str, list[str]]:
    """(CN, [O...]) of a PEM certificate."""
    name = x509.load_pem_x509_certificate(pem).subject
    cn = name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), [str(o) for o in orgs]
