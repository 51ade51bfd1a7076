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
    own node serving   km's extension: kubelet-serving (ValidateKubeletServingCSR) from the
                       node its CN names, who may create .../selfnodeclient, with every DNS
                       SAN the node's name or one of its Hostname/InternalDNS/ExternalDNS
                       addresses and every IP SAN one of its InternalIP/ExternalIP addresses
                       as its Node says: so ``kubectl logs``/``exec`` reach a joined node's
                       kubelet at once, as k3s signs its agents' serving certificates (kube
                       leaves these to a human or an external approver, because a node
                       writes its own addresses: the trust here is the node's own)

(the subresources are RBAC words only: the bootstrap roles grant them to system:bootstrappers
and system:nodes). The first recognizer whose review allows adds the Approved condition
(reason AutoApproved) through /approval. A request already approved, denied or issued is left
alone; one recognized but not allowed is logged and retried with backoff, as kube's
IgnorableError. Signing is csrsigning's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import NotFound
from servers.client.resources import NODES
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
    the message of the approval, and what else must hold (checked after the review; a
    request that fails it is retried with backoff, as one the review refused)."""

    recognize: Callable[[Obj, cu.Request], bool]
    subresources: tuple[str, ...]
    message: str
    holds: Callable[[Obj, cu.Request], bool] | None = None


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


def is_own_node_serving(csr: Obj, req: cu.Request) -> bool:
    """km's extension (see the module docstring): the request's shape; its names are checked
    against the Node by ``names_are_the_nodes``."""
    spec = cu.spec(csr)
    return (spec.get("signerName") == cu.KUBELET_SERVING
            and spec.get("username") == req.common_name
            and not cu.kubelet_serving_error(req, list(spec.get("usages") or [])))


def names_are_the_nodes(node: Obj | None, req: cu.Request) -> bool:
    """Every SAN of ``req`` is ``node``'s name or one of its addresses."""
    if node is None:
        return False
    addresses = [a for a in (node.get("status") or {}).get("addresses") or ()
                 if isinstance(a, dict)]
    names = {(node.get("metadata") or {}).get("name", "")} | {
        str(a.get("address", "")) for a in addresses
        if a.get("type") in ("Hostname", "InternalDNS", "ExternalDNS")}
    ips = set()
    for a in addresses:
        if a.get("type") in ("InternalIP", "ExternalIP"):
            with contextlib.suppress(ValueError):
                ips.add(ipaddress.ip_address(str(a.get("address", ""))))
    try:
        wanted_ips = {ipaddress.ip_address(ip) for ip in req.ip_addresses}
    except ValueError:
        return False
    return set(req.dns_names) <= names and wanted_ips <= ips


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
        self.nodes = ctx.factory.informer(NODES)
        self.recognizers = (*RECOGNIZERS, Recognizer(
            is_own_node_serving, ("selfnodeclient",),
            "Auto approving the node's own kubelet serving certificate after "
            "SubjectAccessReview and a check of its names against its Node (km).",
            lambda _csr, req: names_are_the_nodes(
                self.nodes.get(req.common_name[len(cu.NODE_PREFIX):]), req)))
        self.queue = ctx.queue("certificate")
        self.csrs.add_handler(self._enqueue, lambda _, new: self._enqueue(new), None)
        self.nodes.add_handler(self._node_changed, lambda _, new: self._node_changed(new), None)

    def _enqueue(self, csr: Obj) -> None:
        if not cu.issued(csr) and not cu.has_type(csr, "Approved") and \
                not cu.has_type(csr, "Denied"):
            self.queue.add((csr.get("metadata") or {}).get("name", ""))

    def _node_changed(self, node: Obj) -> None:
        """A node's serving request waits for its Node and its addresses: retry it now, not
        after the backoff it built up while the kubelet was registering."""
        user = cu.NODE_PREFIX + (node.get("metadata") or {}).get("name", "")
        for csr in self.csrs.list():
            if cu.spec(csr).get("signerName") == cu.KUBELET_SERVING and \
                    cu.spec(csr).get("username") == user:
                self._enqueue(csr)

    async def run(self, stop: asyncio.Event) -> None:
        if not await wait_synced(stop, self.csrs, self.nodes):
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
        for recognizer in self.recognizers:
            if not recognizer.recognize(csr, req):
                continue
            for sub in recognizer.subresources:
                tried.append(sub)
                if not await self.allowed(csr, sub):
                    continue
                if recognizer.holds is not None and not recognizer.holds(csr, req):
                    msg = (f"recognized csr {name!r} as {sub!r}, but its names are not (yet) "
                           "its Node's")
                    raise NotApproved(msg)
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
