"""Service account tokens at the apiserver: TokenRequest, the bound-object check, OIDC discovery.

    POST /api/v1/namespaces/NS/serviceaccounts/NAME/token   TokenRequest (kubectl create token)
    GET  /.well-known/openid-configuration                  the issuer's discovery document
    GET  /openid/v1/jwks                                    the verification keys

TokenRequest follows kube's pkg/registry/core/serviceaccount/storage/token.go: audiences default
to the server's (--api-audiences, else the issuer), expirationSeconds to 3600 and at least 600
(pkg/apis/authentication/validation), a boundObjectRef names a Pod or Secret that must exist,
carry the given uid (409 otherwise) and, for a pod, run as this service account (400). A token
bound to a pod also names the pod's node (kube 1.32's ServiceAccountTokenPodNodeInfo).

The authenticator verifies signatures alone (synchronously); ``check_bound`` then asks the
registry whether the service account and the bound objects still exist with the token's uids,
as kube's ``validator.Validate`` (pkg/serviceaccount/claims.go) does through its getters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from argparse import Namespace
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web

from servers.apimachinery import errors, field
from servers.apiserver import codec
from servers.apiserver.admission.serviceaccount import ServiceAccountAdmission
from servers.apiserver.auth import USER_KEY, AuthenticationError
from servers.apiserver.authz.node import node_identity
from servers.apiserver.registry import Registry
from servers.apiserver.resources import RESOURCES
from servers.apiserver.routing import Target

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP_VERSION = "authentication.k8s.io/v1"
PATH = "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32
#: kubeadm's issuer, used when --service-account-issuer is not given.
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: kube's token.WarnOnlyBoundTokenExpirationSeconds and ExpirationExtensionSeconds.
WARN_ONLY_SECONDS = 3607
EXTENDED_SECONDS = 365 * 24 * 3600
#: The request key holding a verified token's ``serviceaccount.Claims`` for ``check_bound``.
CLAIMS_KEY = "km.serviceaccount.claims"
NO_CRYPTOGRAPHY = ("service account tokens are off: this build has no cryptography package "
                   "(TokenRequest answers 404, bearer JWTs are not verified)")


@dataclass
class ServiceAccountTokens:
    """The signer (None: TokenRequest is off), the verifier and the server's audiences."""

    signer: Any
    verifier: Any
    audiences: tuple[str, ...]
    issuer: str
    jwks_uri: str
    #: --service-account-extend-token-expiration: kubelets' 3607 s pod tokens last a year
    #: (``warnafter`` marks the asked end), so old clients that never re-read keep working.
    extend: bool = True

    # -- TokenRequest -----------------------------------------------------------------------

    async def request_token(self, registry: Registry, namespace: str, name: str,
                            body: Obj, node: str = "") -> Obj:
        """The answered TokenRequest for service account ``namespace/name``; ``node`` is
        the requesting node's name when a kubelet asks (NodeRestriction's rules apply)."""
        from servers.apiserver.auth import serviceaccount as sa

        if not isinstance(body, dict):
            raise errors.BadRequest("a TokenRequest must be a JSON object")
        spec = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
        _validate(spec, seconds)
        audiences = [str(a) for a in spec.get("audiences") or []] or list(self.audiences)
        account = await registry.get(_target("serviceaccounts", namespace, name))
        bound = await self._bound(registry, namespace, name, spec.get("boundObjectRef"))
        if node:
            _node_restriction(node, name, spec.get("boundObjectRef"), bound.get("pod"))
        issued = time.time()
        lifetime = int(seconds)
        extended = self.extend and "pod" in bound and lifetime == WARN_ONLY_SECONDS and \
            set(audiences) <= set(self.audiences)
        claims = sa.claims(issuer=self.issuer, audiences=audiences,
                           expiration_seconds=EXTENDED_SECONDS if extended else lifetime,
                           namespace=namespace, service_account=account, now=issued, **bound)
        if extended:
            claims["kubernetes.io"]["warnafter"] = claims["iat"] + lifetime
        spec.update(audiences=audiences, expirationSeconds=lifetime)
        meta = dict(body.get("metadata") or {})
        meta.update(name=name, namespace=namespace, creationTimestamp=None)
        # The status says the asked life even for an extended token (kube's token.go): the
        # kubelet refreshes it as if it ended then.
        expires = dt.datetime.fromtimestamp(claims["iat"] + lifetime, dt.timezone.utc)
        return {"kind": "TokenRequest", "apiVersion": GROUP_VERSION, "metadata": meta,
                "spec": spec, "status": {
                    "token": self.signer.sign(claims),
                    "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}

    async def _bound(self, registry: Registry, namespace: str, sa_name: str,
                     ref: Any) -> dict[str, Obj]:
        """The objects the token is bound to (``pod``, ``node``, ``secret`` claims' sources)."""
        if not ref:
            return {}
        if not isinstance(ref, dict):
            raise errors.BadRequest("spec.boundObjectRef must be an object")
        kind, version = ref.get("kind", ""), ref.get("apiVersion", "")
        plural = {"Pod": "pods", "Secret": "secrets"}.get(kind)
        if plural is None or version != "v1":
            raise errors.BadRequest(f"cannot bind token to object of type {version}, "
                                    f"Kind={kind}")
        obj = await registry.get(_target(plural, namespace, str(ref.get("name", ""))))
        uid = ref.get("uid")
        if uid and uid != obj["metadata"].get("uid"):
            raise errors.Conflict(
                kind, str(ref.get("name", "")),
                f"the UID in the bound object reference ({uid}) does not match the UID in "
                "record. The object might have been deleted and then recreated")
        if kind == "Secret":
            return {"secret": obj}
        if (obj.get("spec") or {}).get("serviceAccountName", "default") != sa_name:
            raise errors.BadRequest(f'cannot bind token for serviceaccount "{sa_name}" to pod '
                                    "running with different serviceaccount name.")
        bound: dict[str, Obj] = {"pod": obj}
        node_name = (obj.get("spec") or {}).get("nodeName")
        if node_name:
            with contextlib.suppress(errors.NotFound):
                bound["node"] = await registry.get(_target("nodes", None, node_name))
        return bound

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not raw:
            raise errors.BadRequest("the request has no body")
        body = codec.decode_body(raw, request.headers.get("Content-Type"), codec.BODY_TYPES)
        registry = _registry(request)
        user = request.get(USER_KEY)
        node = node_identity(user.name, user.groups)[0] if user is not None else ""
        answer = await self.request_token(registry, request.match_info["namespace"],
                                          request.match_info["name"], body, node)
        return web.Response(body=codec.encode(answer), status=201, content_type=codec.JSON)

    async def review(self, registry: Registry, token: str, asked: list[str]
                     ) -> tuple[Any, list[str]] | None:
        """A TokenReview's answer for a service account JWT: (user or None, the audiences
        asked — else the server's — that the token holds); None for a token not ours."""
        if not self.verifier.looks_like_ours(token):
            return None
        wanted = asked or list(self.audiences)
        try:
            claims = self.verifier.verify(token, audiences=tuple(wanted))
            await check_bound(registry, claims)
        except AuthenticationError:
            return None, []
        return claims.user, [a for a in wanted if a in claims.audiences]

    # -- OIDC discovery ---------------------------------------------------------------------

    def openid_configuration(self) -> Obj:
        """kube's pkg/serviceaccount/openidmetadata.go discovery document."""
        algs = sorted({_alg(k) for k in self.verifier.keys})
        return {"issuer": self.issuer, "jwks_uri": self.jwks_uri,
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": algs}

    async def serve_configuration(self, request: web.Request) -> web.Response:
        return _cached(self.openid_configuration(), "application/json")

    async def serve_jwks(self, request: web.Request) -> web.Response:
        return _cached(self.verifier.jwks(), "application/jwk-set+json")


def _node_restriction(node: str, name: str, ref: Any, pod: Obj | None) -> None:
    """kube's NodeRestriction ``admitServiceAccount``: a node's token is bound to its pod."""
    def refuse(why: str) -> NoReturn:
        raise errors.Forbidden("serviceaccounts", name, why)

    if pod is None:
        refuse("node requested token not bound to a pod")
    if not (ref or {}).get("uid"):
        refuse("node requested token with a pod binding without a uid")
    if (pod.get("spec") or {}).get("nodeName") != node:
        refuse("node requested token bound to a pod scheduled on a different node")


async def check_bound(registry: Registry, claims: Any) -> None:
    """Raise AuthenticationError when the token's service account or bound objects are gone.

    kube's claims.go: the service account must exist with the token's uid; a bound pod or
    secret likewise, and a pod deleted (deletionTimestamp) more than a minute ago is gone.
    """
    who = f"system:serviceaccount:{claims.namespace}:{claims.name}"
    await _exists(registry, "serviceaccounts", claims.namespace, claims.name, claims.uid,
                  who, "service account")
    for ref in claims.bound:
        plural = {"pod": "pods", "secret": "secrets"}[ref.kind]
        obj = await _exists(registry, plural, claims.namespace, ref.name, ref.uid, who, ref.kind)
        deleted = (obj.get("metadata") or {}).get("deletionTimestamp")
        if ref.kind == "pod" and deleted and _before_a_minute_ago(deleted):
            raise AuthenticationError(f"token is bound to pod {ref.name}, which is deleted",
                                      who)


async def _exists(registry: Registry, plural: str, namespace: str, name: str, uid: str,
                  who: str, what: str) -> Obj:
    try:
        obj = await registry.get(_target(plural, namespace, name))
    except errors.NotFound:
        raise AuthenticationError(f"{what} {namespace}/{name} has been deleted", who) from None
    if uid and obj["metadata"].get("uid") != uid:
        raise AuthenticationError(f"{what} {namespace}/{name} has been deleted "
                                  "(another object has its name now)", who)
    return obj


def admission(registry: Registry) -> ServiceAccountAdmission:
    """The ServiceAccount admission plugin, looking accounts up in ``registry``."""

    async def lookup(namespace: str, name: str) -> Obj:
        return await registry.get(_target("serviceaccounts", namespace, name))

    return ServiceAccountAdmission(lookup)


def from_options(opts: Namespace) -> ServiceAccountTokens | None:
    """The service account token machinery the flags ask for; None when it is off.

    Off without --service-account-key-file and --service-account-signing-key-file, or without
    the cryptography package (said in one log line). Raises ``KeyFileError`` for bad keys.
    """
    key_files = list(getattr(opts, "service_account_key_file", None) or [])
    signing = getattr(opts, "service_account_signing_key_file", None)
    if not key_files and not signing:
        return None
    try:
        from servers.apiserver.auth import serviceaccount as sa
    except ImportError:
        log.warning(NO_CRYPTOGRAPHY)
        return None
    issuers = tuple(getattr(opts, "service_account_issuer", None) or ()) or (DEFAULT_ISSUER,)
    keys = [k for path in key_files for k in sa.load_public_keys(path)]
    signer = None
    if signing:
        private = sa.load_private_key(signing)
        signer = sa.Signer(private, issuers[0])
        if not keys:
            keys = [private.public_key()]
    audiences = tuple(getattr(opts, "api_audiences", None) or ()) or issuers
    jwks_uri = getattr(opts, "service_account_jwks_uri", None) or \
        issuers[0].rstrip("/") + "/openid/v1/jwks"
    log.info("service account tokens: issuer %s, %d verification keys%s", issuers[0],
             len(keys), "" if signer else ", no signing key (TokenRequest off)")
    return ServiceAccountTokens(signer, sa.Verifier(keys, issuers, audiences), audiences,
                                issuers[0], jwks_uri,
                                getattr(opts, "service_account_extend_token_expiration", True))


def _validate(spec: Obj, seconds: Any) -> None:
    """kube's ValidateTokenRequest: 10 minutes to 2^32 seconds; audiences a list of strings."""
    name = "spec.expirationSeconds"
    detail = ""
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise errors.Invalid("TokenRequest", "", [field.type_invalid(name, seconds,
                                                                     "must be an integer")],
                             group="authentication.k8s.io")
    if seconds < MIN_EXPIRATION_SECONDS:
        detail = "may not specify a duration less than 10 minutes"
    elif seconds > MAX_EXPIRATION_SECONDS:
        detail = "may not specify a duration larger than 2^32 seconds"
    if detail:
        raise errors.Invalid("TokenRequest", "", [field.invalid(name, seconds, detail)],
                             group="authentication.k8s.io")
    audiences = spec.get("audiences")
    if audiences is not None and not (isinstance(audiences, list)
                                      and all(isinstance(a, str) for a in audiences)):
        raise errors.BadRequest("spec.audiences must be a list of strings")


def _target(plural: str, namespace: str | None, name: str) -> Target:
    return Target(next(r for r in RESOURCES if r.plural == plural and not r.group),
                  namespace, name)


def _registry(request: web.Request) -> Registry:
    # The app's REGISTRY key lives in servers.apiserver.app, which imports this module.
    for value in request.app.values():
        if isinstance(value, Registry):
            return value
    raise errors.InternalError("no registry")


def _alg(key: Any) -> str:
    from servers.apiserver.auth import serviceaccount as sa

    return sa.algorithm(key)


def _before_a_minute_ago(stamp: str) -> bool:
    try:
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return True
    return when.timestamp() < time.time() - 60


def _cached(obj: Obj, content_type: str) -> web.Response:
    return web.Response(body=codec.encode(obj), content_type=content_type,
                        headers={"Cache-Control": "public, max-age=3600"})
