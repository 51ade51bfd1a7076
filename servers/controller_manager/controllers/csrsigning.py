"""csrsigning: issue the certificates of approved CSRs with the cluster's CA (kube's
``pkg/controller/certificates/signer/signer.go`` and ``authority/policies.go``).

One controller serves kube's three built-in signers with --cluster-signing-cert-file and
--cluster-signing-key-file (kube's per-signer files are not offered):

    kubernetes.io/kube-apiserver-client-kubelet   ValidateKubeletClientCSR
    kubernetes.io/kube-apiserver-client           client auth (+ digital signature, key
                                                   encipherment) only
    kubernetes.io/kubelet-serving                 ValidateKubeletServingCSR

An approved request (and not Failed) of these signers whose certificate is not yet written
gets one: the request's subject, key and SANs, the asked usages, valid for
--cluster-signing-duration or ``spec.expirationSeconds`` when shorter (never under 10
minutes), backdated 5 minutes when the validity is 8 hours or more, and never past the CA's
own end. A request the signer refuses gets a Failed condition (SignerValidationFailure) with
kube's reason. Other signers are left to whoever signs them. Without the two files the
controller is not started (logged once), as kube skips it.
"""

from __future__ import annotations

import base64
import datetime
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound
from servers.client.workqueue import run_workers
from servers.controller_manager.controllers import csrutil as cu
from servers.controller_manager.controllers.base import wait_synced

if TYPE_CHECKING:
    import asyncio

    from servers.controller_manager.controllers.base import Context

Obj = dict[str, Any]
log = logging.getLogger(__name__)

NAME = "certificatesigningrequest-signing-controller"
WORKERS = 5
MIN_SECONDS = 600  # kube's lower bound on a requested duration (2x the backdate)
BACKDATE = datetime.timedelta(minutes=5)
SHORT = datetime.timedelta(hours=8)  # validity under this is not backdated


class SigningError(ValueError):
    """The CA files do not load (one line, naming the file)."""


class CSRSigner:
    """Signs approved requests of kube's built-in signers with one CA."""

    def __init__(self, ctx: Context, ca: Any, ca_key: Any, duration: float, *,
                 workers: int = WORKERS) -> None:
        self.name = "csrsigning"
        self.client = ctx.client
        self.ca, self.ca_key = ca, ca_key
        self.duration = duration
        self.workers = workers
        self.csrs = ctx.factory.informer(cu.CSRS)
        self.queue = ctx.queue("csrsigning")
        self.csrs.add_handler(self._enqueue, lambda _, new: self._enqueue(new), None)

    def _enqueue(self, csr: Obj) -> None:
        if self._wanted(csr):
            self.queue.add((csr.get("metadata") or {}).get("name", ""))

    @staticmethod
    def _wanted(csr: Obj) -> bool:
        return (cu.approved(csr) and not cu.has_true(csr, "Failed") and not cu.issued(csr)
                and cu.spec(csr).get("signerName") in cu.SIGNERS)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.csrs):
            return
        await run_workers(self.queue, self.sync, self.workers, stop)

    async def sync(self, name: str) -> None:
        csr = self.csrs.get(name)
        if csr is None or not self._wanted(csr):
            return
        spec = cu.spec(csr)
        try:
            req = cu.parse(csr)
        except ValueError as exc:
            log.info("csr %s: %s", name, exc)
            return
        why = cu.signer_error(spec["signerName"], req, list(spec.get("usages") or []))
        status = dict(csr.get("status") or {})
        if why:
            status["conditions"] = [*cu.conditions(csr), {
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                "message": why, "lastUpdateTime": _now_text()}]
            log.info("csr %s (%s): not signed: %s", name, spec["signerName"], why)
        else:
            status["certificate"] = base64.b64encode(self.sign(req, spec)).decode()
        try:
            await self.client.update(cu.CSRS, {**csr, "status": status}, subresource="status")
        except NotFound:
            return
        if not why:
            log.info("signed csr %s (%s) for %s", name, spec["signerName"], req.common_name)

    def sign(self, req: cu.Request, spec: Obj, now: datetime.datetime | None = None) -> bytes:
        """The PEM certificate for ``req`` (see the module docstring for its validity)."""
        from servers.certs import pki

        moment = now or datetime.datetime.now(datetime.timezone.utc)
        ttl = datetime.timedelta(seconds=self.valid_seconds(spec.get("expirationSeconds")))
        start = moment - (BACKDATE if ttl >= SHORT else datetime.timedelta(0))
        end = min(moment + ttl, self.ca.not_valid_after_utc)
        cert = pki.sign_request(self.ca, self.ca_key, req.x509, spec.get("usages") or [],
                                start, end)
        return pki.cert_pem(cert)

    def valid_seconds(self, asked: Any) -> float:
        """kube's ``signer.duration``: the flag's, or the asked one when shorter (>= 10m)."""
        if not isinstance(asked, int):
            return self.duration
        return max(MIN_SECONDS, min(asked, self.duration))


def _now_text() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_ca(cert_file: str, key_file: str) -> tuple[Any, Any]:
    """The CA certificate and key; SigningError naming the file that does not load."""
    from servers.certs import pki

    try:
        ca = pki.load_cert(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningError(f"--cluster-signing-cert-file {cert_file}: "
                           f"{getattr(exc, 'strerror', None) or 'no PEM certificate'}") from None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:  # ECDSA (km certs) or RSA (kubeadm's ca.key)
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"--cluster-signing-key-file {key_file}: "
                           f"{getattr(exc, 'strerror', None) or 'no PEM private key'}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise SigningError(f"--cluster-signing-key-file {key_file}: not an ECDSA or RSA key")
    if key.public_key().public_numbers() != ca.public_key().public_numbers():
        raise SigningError(f"--cluster-signing-key-file {key_file} is not the key of "
                           f"--cluster-signing-cert-file {cert_file}")
    return ca, key


def new(ctx: Context) -> CSRSigner | None:
    cert_file = getattr(ctx.opts, "cluster_signing_cert_file", None)
    key_file = getattr(ctx.opts, "cluster_signing_key_file", None)
    if not cert_file or not key_file:
        log.info("%s not started: no --cluster-signing-cert-file and "
                 "--cluster-signing-key-file", NAME)
        return None
    ca, key = load_ca(cert_file, key_file)
    return CSRSigner(ctx, ca, key, ctx.opts.cluster_signing_duration)
