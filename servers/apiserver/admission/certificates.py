"""Admission of CertificateSigningRequests: who asked, who may approve, who may sign.

As kube-apiserver's plugins and strategy (plugin/pkg/admission/certificates/{approval,
signing,subjectrestriction} and pkg/registry/certificates/certificates/strategy.go, v1.32):

    create            spec.username/uid/groups are the requester's (whatever the body says);
                      a kubernetes.io/kube-apiserver-client request for system:masters is 403
    update /approval  the requester needs verb ``approve`` on ``signers`` (group
                      certificates.k8s.io) named for the signerName, or ``DOMAIN/*``
    update /status    changing the certificate or the conditions needs verb ``sign`` likewise

plus the per-path update rules of ``kinds.certificates.validate_update`` (422). The requester
and the authorizer reach admission through a context variable that ``middleware`` sets for
requests under /apis/certificates.k8s.io/ (after authentication and authorization, so an
impersonated user is the one that counts). Writes nobody made over HTTP pass unchecked.
Not done: kube's ``extra`` user attributes (km's users have none) and the ClusterTrustBundle
attest plugin (km serves no ClusterTrustBundles).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from servers.apimachinery import errors
from servers.apiserver.auth import USER_KEY, UserInfo
from servers.apiserver.authz import Attributes
from servers.apiserver.kinds import certificates as csr_kind

if TYPE_CHECKING:
    from aiohttp import web

    from servers.apiserver.authz import Authorizer

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PATH_PREFIX = f"/apis/{csr_kind.GROUP}/"
PLURAL = "certificatesigningrequests"
MASTERS = "system:masters"
Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]
_REQUESTER: contextvars.ContextVar[tuple[UserInfo, Authorizer] | None] = (
    contextvars.ContextVar("km_csr_requester", default=None))


def middleware(authorizer: Authorizer) -> Callable[[web.Request, Handler],
                                                   Awaitable[web.StreamResponse]]:
    """An aiohttp middleware recording who makes a certificates.k8s.io request."""
    from aiohttp import web

    @web.middleware
    async def requester(request: web.Request, handler: Handler) -> web.StreamResponse:
        user = request.get(USER_KEY)
        if not request.path.startswith(PATH_PREFIX) or not isinstance(user, UserInfo):
            return await handler(request)
        token = _REQUESTER.set((user, authorizer))
        try:
            return await handler(request)
        finally:
            _REQUESTER.reset(token)

    return requester


def current() -> tuple[UserInfo, Authorizer] | None:
    return _REQUESTER.get()


def admit_create(csr: Obj) -> None:
    """The requester's identity into the spec, a clean status; 403 for system:masters
    through kube-apiserver-client."""
    asking = current()
    csr_kind.reset_for_create(csr, asking[0] if asking else None)
    spec: Obj = csr["spec"] if isinstance(csr.get("spec"), dict) else {}
    if spec.get("signerName") != csr_kind.KUBE_APISERVER_CLIENT:
        return
    try:
        request = csr_kind.decode_request(spec.get("request"))
    except ValueError:
        return  # validation says what is wrong with it
    from cryptography.x509.oid import NameOID

    organizations = [a.value for a in request.subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_NAME)]
    if MASTERS in organizations:
        raise _forbidden(csr, f"use of {csr_kind.KUBE_APISERVER_CLIENT} signer with "
                         f"{MASTERS} group is not allowed")


def admit_update(new: Obj, old: Obj, subresource: str) -> None:
    """422 for what this path may not change; 403 when the requester may not approve or
    sign for the request's signer."""
    causes = csr_kind.validate_update(new, old, subresource)
    if causes:
        name = str(old.get("metadata", {}).get("name", ""))
        raise errors.Invalid("CertificateSigningRequest", name, causes, group=csr_kind.GROUP)
    asking = current()
    if asking is None:
        return
    signer = str((old.get("spec") or {}).get("signerName") or "")
    if subresource == "approval" and not authorized(asking, "approve", signer):
        raise _forbidden(old, f'user not permitted to approve requests with signerName '
                         f'"{signer}"')
    if subresource == "status" and _status_changed(new, old) and \
            not authorized(asking, "sign", signer):
        raise _forbidden(old, f'user not permitted to sign requests with signerName "{signer}"')


def authorized(asking: tuple[UserInfo, Authorizer], verb: str, signer: str) -> bool:
    """kube's ``IsAuthorizedForSignerName``: ``verb`` on signers/SIGNER, else on
    signers/DOMAIN/*."""
    user, authorizer = asking
    names = [signer]
    if "/" in signer:
        names.append(signer.split("/", 1)[0] + "/*")
    for name in names:
        attrs = Attributes(user.name, user.groups, verb, api_group=csr_kind.GROUP,
                           api_version="*", resource="signers", name=name)
        if authorizer.authorize(attrs).allowed:
            return True
    log.info("user %r may not %s for signer %r", user.name, verb, signer)
    return False


def _status_changed(new: Obj, old: Obj) -> bool:
    a, b = (o.get("status") or {} for o in (new, old))
    return bool(a.get("certificate") != b.get("certificate")
                or a.get("conditions") != b.get("conditions"))


def _forbidden(csr: Obj, message: str) -> errors.Forbidden:
    name = str((csr.get("metadata") or {}).get("name") or "")
    return errors.Forbidden(PLURAL, name, message, group=csr_kind.GROUP)
