"""The client's wire format: query parameters, JSON bodies, Status errors, watch lines.

Also the small object rules of requests: the name and namespace an object is sent under,
and the ``apiVersion``/``kind`` filled into bodies that lack them.

No aiohttp (JSON through apimachinery.jsonio: orjson when the build has it), so every rule
here is tested without a socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from servers.apimachinery import jsonio
from servers.apimachinery.errors import StatusError, from_status
from servers.client.errors import BadResponse

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj
    from servers.client.resources import ResourceRef

__all__ = [
    "JSON", "PATCH_TYPES", "EventDecoder", "as_object", "decode", "encode", "name_of",
    "namespace_for", "query", "status_error", "typed",
]

JSON = "application/json"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_QUOTED_BODY = 200  # how much of a body that is no Status an error message quotes


def query(**values: str | int | bool | None) -> dict[str, str]:
    """Query parameters, Kubernetes-spelled by the caller; ``None`` values are left out."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def encode(body: Any) -> bytes:
    """A request body: compact JSON."""
    return jsonio.dumps(body)


def decode(body: bytes, what: str) -> Any:
    """A 2xx response body: JSON, or ``None`` when empty; ``BadResponse`` otherwise."""
    if not body:
        return None
    try:
        return jsonio.loads(body)
    except ValueError:
        msg = f"{what}: the response is not JSON"
        raise BadResponse(msg) from None


def status_error(http_status: int, body: bytes) -> StatusError:
    """The ``StatusError`` for a non-2xx answer.

    A ``Status`` body is rebuilt with ``from_status`` (its code defaults to the HTTP one);
    any other body gives the class of the HTTP code (``NotFound`` for 404, ``InternalError``
    for 500, a plain ``StatusError`` for codes km has no class for) with a message quoting
    the start of the body.
    """
    try:
        doc = jsonio.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and (doc.get("kind") == "Status" or doc.get("status") == "Failure"):
        if not isinstance(doc.get("code"), int) or isinstance(doc.get("code"), bool):
            doc = {**doc, "code": http_status}
        return from_status(doc)
    text = " ".join(body[:_QUOTED_BODY].decode("utf-8", "replace").split())
    message = f"the server responded with HTTP {http_status}" + (f": {text}" if text else "")
    return from_status({"code": http_status, "message": message})


def name_of(obj: Obj) -> str:
    """``metadata.name``; ``ValueError`` when missing (an object PUT or bound needs one)."""
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        msg = "the object has no metadata.name"
        raise ValueError(msg)
    return name


def namespace_for(resource: ResourceRef, obj: Obj, namespace: str | None) -> str | None:
    """The namespace to send ``obj`` to: the one given, else its own (namespaced only)."""
    if not resource.namespaced:
        return namespace  # ResourceRef.path refuses a namespace if one was given
    found = namespace or (obj.get("metadata") or {}).get("namespace")
    if not found:
        msg = f"{resource} are namespaced: give a namespace or set metadata.namespace"
        raise ValueError(msg)
    return str(found)


def as_object(result: Any, resource: ResourceRef) -> Obj:
    """``result`` if it is a JSON object, else ``BadResponse``."""
    if not isinstance(result, dict):
        msg = f"{resource}: expected a JSON object in the response, got {type(result).__name__}"
        raise BadResponse(msg)
    return result


def typed(resource: ResourceRef, obj: Obj) -> Obj:
    """``obj`` with ``apiVersion``/``kind`` filled in when missing and known (a shallow copy)."""
    if not resource.kind or ("kind" in obj and "apiVersion" in obj):
        return obj
    return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}


class EventDecoder:
    """Split a watch stream into ``(type, object)`` events, one JSON document per line.

    Chunks may cut lines anywhere; ``feed`` returns the events completed by a chunk and
    ``close`` the last one when the stream did not end with a newline. A line that is not a
    watch event raises ``BadResponse``.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[tuple[str, Obj]]:
        """The events whose line ends in ``chunk``."""
        if b"\n" not in chunk:
            self._buffer += chunk
            return []
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        return [self._event(line) for line in lines if line.strip()]

    def close(self) -> list[tuple[str, Obj]]:
        """The last event, if the stream ended without a final newline."""
        line, self._buffer = self._buffer, b""
        return [self._event(line)] if line.strip() else []

    def _event(self, line: bytes) -> tuple[str, Obj]:
        try:
            event = jsonio.loads(line)
            kind, obj = event["type"], event["object"]
        except (ValueError, TypeError, KeyError):
            kind, obj = None, None
        if not isinstance(kind, str) or not isinstance(obj, dict):
            msg = f"{self.what}: not a watch event: {line[:100]!r}"
            raise BadResponse(msg)
        return kind, obj
