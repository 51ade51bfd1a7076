"""API errors: exceptions that are Kubernetes ``Status`` objects.

Every error the API can return is a ``StatusError``; ``to_status()`` renders the ``Status``
body kube-apiserver would send (same message wording, reason, details and code), and
``from_status()`` turns such a body back into the matching exception, so the apiserver raises
and the clients catch the very same classes. The HTTP layer converts them in one place;
storage errors are mapped to these at the apiserver's registry seam.

* StatusError (code, reason, to_status())
  x BadRequest (400)               malformed request, bad selector, unsupported field label
  x Unauthorized (401)
  x Forbidden (403)
  x NotFound (404)
  x MethodNotAllowed (405)
  x NotAcceptable (406)
  x AlreadyExists (409)
  x Conflict (409)                 stale resourceVersion on update
  x Gone (410, reason Expired)     too old resourceVersion, expired continue token
  x RequestEntityTooLarge (413)
  x UnsupportedMediaType (415)     e.g. an unknown patch type
  x Invalid (422, details.causes)  validation failed
    x PatchError (422)             a JSON patch that does not apply
  x TooManyRequests (429)
  x InternalError (500)
  x ServiceUnavailable (503)
  x Timeout (504)

Standard library only: no aiohttp here, the clients raise these too. Messages follow
``k8s.io/apimachinery/pkg/api/errors/errors.go`` (``NewNotFound``, ``NewConflict``, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from servers.apimachinery import _goformat
from servers.apimachinery.field import Cause, aggregate
from servers.apimachinery.meta import Obj

__all__ = [
    "CONTINUE_EXPIRED", "EXPIRED_LIST", "EXPIRED_WATCH", "INCONSISTENT_CONTINUE",
    "OPTIMISTIC_LOCK", "TOO_OLD_RESOURCE_VERSION",
    "AlreadyExists", "BadRequest", "Cause", "Conflict", "Forbidden", "Gone", "InternalError",
    "Invalid", "MethodNotAllowed", "NotAcceptable", "NotFound", "PatchError",
    "RequestEntityTooLarge", "ServiceUnavailable", "StatusError", "Timeout", "TooManyRequests",
    "Unauthorized", "UnsupportedMediaType", "from_status",
]

# Messages kube-apiserver uses verbatim (storage/errors.go, storage/etcd3/errors.go,
# storage/cacher/watch_cache.go).
OPTIMISTIC_LOCK = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
TOO_OLD_RESOURCE_VERSION = "too old resource version: {requested} ({current})"
EXPIRED_LIST = "The resourceVersion for the provided list is too old."
EXPIRED_WATCH = "The resourceVersion for the provided watch is too old."
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


def _qualified(resource: str, group: str) -> str:
    # schema.GroupResource.String() (and GroupKind.String()): "pods", "deployments.apps".
    return f"{resource}.{group}" if group else resource


def _details(
    *, name: str = "", group: str = "", kind: str = "",
    causes: Iterable[Cause] = (), retry_after: int = 0,
) -> Obj:
    # metav1.StatusDetails, in its JSON member order, every member omitempty.
    details: Obj = {"name": name, "group": group, "kind": kind,
                    "causes": [cause.to_dict() for cause in causes],
                    "retryAfterSeconds": retry_after}
    return {key: member for key, member in details.items() if member}


class StatusError(Exception):
    """An error the API returns as a ``Status``; ``str(err)`` is its message.

    ``code`` and ``reason`` are class attributes (an instance rebuilt by ``from_status`` keeps
    the received ones when they differ); ``details`` is ``StatusDetails`` or ``None``;
    ``metadata`` is the Status' list metadata (``{"continue": ...}`` on an expired token).
    """

    code: int = 500
    reason: str = ""  # StatusReasonUnknown

    def __init__(self, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.metadata: Obj = {}

    def to_status(self) -> Obj:
        """Render the ``Status`` object kube-apiserver sends for this error (a fresh dict)."""
        status: Obj = {"kind": "Status", "apiVersion": "v1",
                       "metadata": copy.deepcopy(self.metadata), "status": "Failure"}
        if self.message:
            status["message"] = self.message
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = copy.deepcopy(self.details)
        if self.code:
            status["code"] = self.code
        return status

    def _detail(self, key: str) -> Any:
        return (self.details or {}).get(key)

    @property
    def name(self) -> str:
        """``details.name`` (the object's name), or ``""``."""
        return str(self._detail("name") or "")

    @property
    def kind(self) -> str:
        """``details.kind``: the resource plural for most errors, the Kind for ``Invalid``."""
        return str(self._detail("kind") or "")

    @property
    def group(self) -> str:
        """``details.group`` (``""`` for the core group)."""
        return str(self._detail("group") or "")

    @property
    def causes(self) -> list[Cause]:
        """``details.causes`` as ``Cause`` objects."""
        causes = self._detail("causes")
        if not isinstance(causes, list):
            return []
        return [Cause.from_dict(cause) for cause in causes if isinstance(cause, dict)]

    @property
    def retry_after_seconds(self) -> int:
        """``details.retryAfterSeconds``, or 0."""
        seconds = self._detail("retryAfterSeconds")
        return seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, tuple[Obj]]:
        # Subclass constructors take other arguments than the message, so copy and pickle
        # go through the Status form.
        return from_status, (self.to_status(),)


class BadRequest(StatusError):
    """400: the request itself is malformed (``NewBadRequest``)."""

    code = 400
    reason = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class Unauthorized(StatusError):
    """401: no valid credentials (kube-apiserver's message is ``Unauthorized``)."""

    code = 401
    reason = "Unauthorized"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message or "not authorized")


class Forbidden(StatusError):
    """403: ``pods "web" is forbidden: <why>`` (``NewForbidden``)."""

    code = 403
    reason = "Forbidden"

    def __init__(self, resource: str = "", name: str = "", why: str = "", *,
                 group: str = "") -> None:
        qualified = _qualified(resource, group)
        if not qualified:
            message = f"forbidden: {why}"
        elif not name:
            message = f"{qualified} is forbidden: {why}"
        else:
            message = f"{qualified} {_goformat.quote(name)} is forbidden: {why}"
        super().__init__(message, _details(name=name, group=group, kind=resource))


class NotFound(StatusError):
    """404: ``pods "web" not found`` (``NewNotFound``; ``details.kind`` is the resource)."""

    code = 404
    reason = "NotFound"

    def __init__(self, resource: str, name: str, group: str = "") -> None:
        message = f"{_qualified(resource, group)} {_goformat.quote(name)} not found"
        super().__init__(message, _details(name=name, group=group, kind=resource))


class MethodNotAllowed(StatusError):
    """405: ``delete is not supported on resources of kind "bindings"``."""

    code = 405
    reason = "MethodNotAllowed"

    def __init__(self, resource: str, action: str, group: str = "", *,
                 allowed: tuple[str, ...] = ()) -> None:
        qualified = _goformat.quote(_qualified(resource, group))
        message = f"{action} is not supported on resources of kind {qualified}"
        super().__init__(message, _details(group=group, kind=resource))
        #: The HTTP methods the path does take: the answer's ``Allow`` header (RFC 9110 says
        #: a 405 must carry one; kube's go-restful sends it).
        self.allowed = allowed


class NotAcceptable(StatusError):
    """406: none of the Accept types can be served."""

    code = 406
    reason = "NotAcceptable"

    def __init__(self, accepted: Sequence[str]) -> None:
        message = f"only the following media types are accepted: {', '.join(accepted)}"
        super().__init__(message)


class AlreadyExists(StatusError):
    """409: ``pods "web" already exists`` (``NewAlreadyExists``).

    With ``generated=True`` it is ``NewGenerateNameConflict``: the name came from
    ``generateName`` and the client should retry after a second.
    """

    code = 409
    reason = "AlreadyExists"

    def __init__(self, resource: str, name: str, group: str = "", *,
                 generated: bool = False) -> None:
        message = f"{_qualified(resource, group)} {_goformat.quote(name)} already exists"
        if generated:
            message += ", the server was not able to generate a unique name for the object"
        details = _details(name=name, group=group, kind=resource, retry_after=int(generated))
        super().__init__(message, details)


class Conflict(StatusError):
    """409: ``Operation cannot be fulfilled on pods "web": <why>`` (``NewConflict``).

    ``why`` defaults to the optimistic-concurrency message (stale resourceVersion).
    """

    code = 409
    reason = "Conflict"

    def __init__(self, resource: str, name: str, why: str = OPTIMISTIC_LOCK,
                 group: str = "") -> None:
        qualified = _qualified(resource, group)
        message = f"Operation cannot be fulfilled on {qualified} {_goformat.quote(name)}: {why}"
        super().__init__(message, _details(name=name, group=group, kind=resource))


class Gone(StatusError):
    """410 with reason ``Expired`` (``NewResourceExpired``): history or token too old.

    Use the message constants (``TOO_OLD_RESOURCE_VERSION``, ``EXPIRED_WATCH``,
    ``CONTINUE_EXPIRED``, ...). ``continue_token`` goes to the Status' ``metadata.continue``.
    Clients key on the code; ``from_status`` also maps reason ``Gone`` here.
    """

    code = 410
    reason = "Expired"

    def __init__(self, message: str, *, continue_token: str = "") -> None:
        super().__init__(message)
        if continue_token:
            self.metadata["continue"] = continue_token


class RequestEntityTooLarge(StatusError):
    """413: ``Request entity too large: <why>``."""

    code = 413
    reason = "RequestEntityTooLarge"

    def __init__(self, why: str) -> None:
        super().__init__(f"Request entity too large: {why}")


class UnsupportedMediaType(StatusError):
    """415: the body's Content-Type (for example a patch type) is not accepted."""

    code = 415
    reason = "UnsupportedMediaType"

    def __init__(self, accepted: Sequence[str]) -> None:
        message = ("the body of the request was in an unknown format - accepted media types "
                   f"include: {', '.join(accepted)}")
        super().__init__(message)


class Invalid(StatusError):
    """422: ``Pod "x" is invalid: <causes>`` (``NewInvalid``; ``details.kind`` is the Kind).

    ``causes`` come from ``servers.apimachinery.field`` (``field.invalid(...)`` etc.).
    """

    code = 422
    reason = "Invalid"

    def __init__(self, kind: str, name: str, causes: Sequence[Cause], group: str = "") -> None:
        message = f"{_qualified(kind, group)} {_goformat.quote(name)} is invalid"
        summary = aggregate([cause.error() for cause in causes])
        if summary:
            message = f"{message}: {summary}"
        super().__init__(message, _details(name=name, group=group, kind=kind, causes=causes))


class PatchError(Invalid):
    """422: a JSON patch that cannot be applied (a failed ``test``, a missing path, ...).

    Rendered like kube-apiserver's ``NewGenericServerResponse(422, ...)`` for patch errors: a
    fixed message with the patch library's explanation as the single cause.
    """

    def __init__(self, why: str) -> None:
        details = {"causes": [{"reason": "UnexpectedServerResponse", "message": why}]}
        StatusError.__init__(
            self, "the server rejected our request due to an error in our request", details)


class TooManyRequests(StatusError):
    """429: the server is throttling; retry after ``retry_after_seconds``."""

    code = 429
    reason = "TooManyRequests"

    def __init__(self, message: str, retry_after_seconds: int = 0) -> None:
        super().__init__(message, _details(retry_after=retry_after_seconds))


class InternalError(StatusError):
    """500: ``Internal error occurred: <why>`` (``NewInternalError``)."""

    code = 500
    reason = "InternalError"

    def __init__(self, why: str) -> None:
        details = {"causes": [{"message": why}]}
        super().__init__(f"Internal error occurred: {why}", details)


class ServiceUnavailable(StatusError):
    """503: the server cannot serve now (``NewServiceUnavailable``)."""

    code = 503
    reason = "ServiceUnavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class Timeout(StatusError):
    """504: ``Timeout: <why>`` (``NewTimeoutError``)."""

    code = 504
    reason = "Timeout"

    def __init__(self, why: str, retry_after_seconds: int = 0) -> None:
        super().__init__(f"Timeout: {why}", _details(retry_after=retry_after_seconds))


_CLASSES: tuple[type[StatusError], ...] = (
    BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
    AlreadyExists, Conflict, Gone, RequestEntityTooLarge, UnsupportedMediaType, Invalid,
    TooManyRequests, InternalError, ServiceUnavailable, Timeout,
)
_BY_REASON = {cls.reason: cls for cls in _CLASSES} | {"Gone": Gone}
# For a reason km does not know, the code decides (409 without a known reason is a Conflict).
_BY_CODE = {cls.code: cls for cls in _CLASSES if cls is not AlreadyExists}


def from_status(status: Obj) -> StatusError:
    """Rebuild the exception a ``Status`` body stands for; ``to_status()`` gives it back.

    The class is chosen by ``reason``, else by ``code``, else ``StatusError``. Never raises:
    missing or ill-typed members are taken as empty.
    """
    reason = status.get("reason")
    reason = reason if isinstance(reason, str) else ""
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or StatusError
    message = status.get("message")
    details = status.get("details")
    error = cls.__new__(cls)
    StatusError.__init__(error, message if isinstance(message, str) else "",
                         copy.deepcopy(details) if isinstance(details, dict) else None)
    metadata = status.get("metadata")
    if isinstance(metadata, dict):
        error.metadata = copy.deepcopy(metadata)
    if code != cls.code:
        error.code = code
    if reason != cls.reason:
        error.reason = reason
    return error
