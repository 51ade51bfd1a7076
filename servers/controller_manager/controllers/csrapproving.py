"""csrapproving: approve the CSRs nodes make, once a SubjectAccessReview says the requester
may (kube's ``pkg/controller/certificates/approver/sarapprove.go``).

Each recognizer is a kind of request and the permission its requester must hold, asked of
the apiserver as a SubjectAccessReview for ``spec.username``/``groups``/``uid``:

    self node client   kube-apiserver-client-kubelet, CN = the requester   create
                       (a node renewing its own certificate)               .../selfnodeclient
    node client        kube-apiserver-client-kubelet (ValidateKubeletClientCSR)   .../nodeclient
    node proxy client  km's extension: kube-apiserver-client, CN system:kube-proxy, no O, no
                       SANs, client usages only, from one who may create .../nodeclient (a
                       bootstrapper) or .../selfnodeclient (a node): the identity
                       ``km minion`` gives the node's proxy and DNS, as k3s' agent gets one
                       from its server; nothing more than kube's system:node-proxier role

(the subresources are RBAC words only: the bootstrap roles grant them to system:bootstrappers
and system:nodes). The first recognizer whose review allows adds the Approved condition
(reason AutoApproved) through /approval. A request already approved, denied or issued is left
alone; one recognized but not allowed is logged and retried with backoff, as kube's
IgnorableError. Signing is csrsigning's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
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

NAME = "certificatesigningrequest-approving-controller"
WORKERS = 5  # kube runs the approver with 5 workers


@dataclass(frozen=True)
class Recognizer:
    """A kind of request, the subresources whose ``create`` its requester needs (any one),
    and the message of the approval."""

    recognize: Callable[[Obj, cu.Request], bool]
    subresources: tuple[str, ...]
    message: str


def is_node_client(csr: Obj, req: cu.Request) -> bool:
    spec = cu.spec(csr)
    return spec.get("signerName") == cu.KUBE_APISERVER_CLIENT_KUBELET and \
        not cu.kubelet_client_error(req, list(spec.get("usages") or []))


def is_self_node_client(csr: Obj, req: cu.Request) -> bool:
    return cu.spec(csr).get("username") == req.common_name and is_node_client(csr, req)


def is_node_proxy_client(csr: Obj, req: cu.Request) -> bool:
    """km's extension (see the module docstring)."""
    spec = cu.spec(csr)
    return (spec.get("signerName") == cu.KUBE_APISERVER_CLIENT
            and req.common_name == cu.KUBE_PROXY and not req.organizations
            and not (req.dns_names or req.ip_addresses or req.emails or req.uris)
            and not cu.client_usages_error(list(spec.get("usages") or [])))


RECOGNIZERS = (
    Recognizer(is_self_node_client, ("selfnodeclient",),
               "Auto approving self kubelet client certificate after SubjectAccessReview."),
    Recognizer(is_node_client, ("nodeclient",),
               "Auto approving kubelet client certificate after SubjectAccessReview."),
    Recognizer(is_node_proxy_client, ("nodeclient", "selfnodeclient"),
               "Auto approving the node's kube-proxy client certificate after "
               "SubjectAccessReview (km)."),
)


class NotApproved(Exception):
    """Recognized, but the review did not allow it (retried with backoff, as kube)."""


class CSRApprover:
    """Approves the node CSRs its recognizers know, after a SubjectAccessReview."""

    def __init__(self, ctx: Context, *, workers: int = WORKERS) -> None:
        self.name = "csrapproving"
        self.client = ctx.client
        self.workers = workers
        self.csrs = ctx.factory.informer(cu.CSRS)
        self.queue = ctx.queue("certificate")
        self.csrs.add_handler(self._enqueue, lambda _, new: self._enqueue(new), None)

    def _enqueue(self, csr: Obj) -> None:
        if not cu.issued(csr) and not cu.has_type(csr, "Approved") and \
                not cu.has_type(csr, "Denied"):
            self.queue.add((csr.get("metadata") or {}).get("name", ""))

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.csrs):
            return
        await run_workers(self.queue, self.sync, self.workers, stop)

    async def sync(self, name: str) -> None:
        csr = self.csrs.get(name)
        if csr is None or cu.issued(csr) or cu.has_type(csr, "Approved") or \
                cu.has_type(csr, "Denied"):
            return
        try:
            req = cu.parse(csr)
        except ValueError as exc:
            log.info("csr %s: %s", name, exc)
            return
        tried: list[str] = []
        for recognizer in RECOGNIZERS:
            if not recognizer.recognize(csr, req):
                continue
            for sub in recognizer.subresources:
                tried.append(sub)
                if await self.allowed(csr, sub):
                    await self._approve(csr, recognizer.message)
                    return
        if tried:
            msg = (f"recognized csr {name!r} as {tried} but subject access review was not "
                   "approved")
            raise NotApproved(msg)

    async def allowed(self, csr: Obj, subresource: str) -> bool:
        """A SubjectAccessReview: may the requester create certificatesigningrequests/SUB?"""
        spec = cu.spec(csr)
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": spec.get("username", ""), "uid": spec.get("uid", ""),
                           "groups": list(spec.get("groups") or []),
                           "resourceAttributes": {
                               "group": "certificates.k8s.io", "version": "*",
                               "resource": "certificatesigningrequests",
                               "subresource": subresource, "verb": "create"}}}
        answer = await self.client.create(cu.SUBJECT_ACCESS_REVIEWS, review)
        return bool((answer.get("status") or {}).get("allowed"))

    async def _approve(self, csr: Obj, message: str) -> None:
        approved = {**csr, "status": {**(csr.get("status") or {}), "conditions": [
            *cu.conditions(csr),
            {"type": "Approved", "status": "True", "reason": "AutoApproved",
             "message": message}]}}
        try:
            await self.client.update(cu.CSRS, approved, subresource="approval")
        except NotFound:
            return
        log.info("approved csr %s (%s) for %s", csr["metadata"]["name"],
                 cu.spec(csr).get("signerName"), cu.spec(csr).get("username"))


def new(ctx: Context) -> CSRApprover:
    return CSRApprover(ctx)
