"""The client's wire format: query parameters, JSON bodies, Status errors, watch lines.

Standard library only (no aiohttp), so every rule here is tested without a socket.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from servers.apimachinery.errors import StatusError, from_status
from servers.client.errors import BadResponse

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["JSON", "PATCH_TYPES", "EventDecoder", "decode", "encode", "query", "status_error"]

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
    return json.dumps(body, separators=(",", ":")).encode()


def decode(body: bytes, what: str) -> Any:
    """A 2xx response body: JSON, or ``None`` when empty; ``BadResponse`` otherwise."""
    if not body:
        return None
    try:
        return json.loads(body)
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
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and (doc.get("kind") == "Status" or doc.get("status") == "Failure"):
        if not isinstance(doc.get("code"), int) or isinstance(doc.get("code"), bool):
            doc = {**doc, "code": http_status}
        return from_status(doc)
    text = " ".join(body[:_QUOTED_BODY].decode("utf-8", "replace").split())
    message = f"the server responded with HTTP {http_status}" + (f": {text}" if text else "")
    return from_status({"code": http_status, "message": message})


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
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
        except (ValueError, TypeError, KeyError):
            kind, obj = None, None
        if not isinstance(kind, str) or not isinstance(obj, dict):
            msg = f"{self.what}: not a watch event: {line[:100]!r}"
            raise BadResponse(msg)
        return kind, obj
