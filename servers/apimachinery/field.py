"""Field errors: what is wrong, and where, inside one object (Kubernetes' ``field.Error``).

A ``Cause`` is one entry of a 422 ``Status``'s ``details.causes``: a machine-readable
``reason`` (``FieldValueInvalid``, ``FieldValueRequired``, ...), a ``message`` rendered exactly
like Kubernetes' ``ErrorBody()`` (``Invalid value: "Bad_Name": a lowercase RFC 1123 ...``) and
the ``field`` path (``metadata.name``, ``spec.containers[0].image``). The constructors below
mirror ``k8s.io/apimachinery/pkg/util/validation/field`` one for one, so per-resource
validation reads like upstream's.

Paths are plain strings; this module does not model ``field.Path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from servers.apimachinery import _goformat

__all__ = [
    "DUPLICATE", "FORBIDDEN", "INTERNAL", "INVALID", "NOT_FOUND", "NOT_SUPPORTED", "OMIT",
    "REQUIRED", "TOO_LONG", "TOO_MANY", "TYPE_INVALID",
    "Cause", "aggregate", "duplicate", "forbidden", "internal", "invalid", "not_found",
    "not_supported", "required", "too_long", "too_many", "type_invalid",
]

# The cause reasons (Kubernetes' field.ErrorType values, which are also its CauseTypes).
NOT_FOUND = "FieldValueNotFound"
REQUIRED = "FieldValueRequired"
DUPLICATE = "FieldValueDuplicate"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
INTERNAL = "InternalError"
TYPE_INVALID = "FieldValueTypeInvalid"

_TEXT = {
    NOT_FOUND: "Not found", REQUIRED: "Required value", DUPLICATE: "Duplicate value",
    INVALID: "Invalid value", NOT_SUPPORTED: "Unsupported value", FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long", TOO_MANY: "Too many", INTERNAL: "Internal error",
    TYPE_INVALID: "Invalid value",
}
# Reasons whose message never shows the offending value.
_VALUELESS = frozenset({REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL})


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""Pass as the value to leave it out of the message (``field.OmitValueType``)."""


@dataclass(frozen=True)
class Cause:
    """One field error; ``to_dict()`` is the Status cause ``{"reason","message","field"}``."""

    reason: str
    message: str
    field: str = ""

    def error(self) -> str:
        """The error as Kubernetes prints it inside messages: ``field: message``."""
        return f"{self.field}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        """Render as a ``StatusCause`` (empty members left out, as Go's omitempty does)."""
        out = {"reason": self.reason, "message": self.message, "field": self.field}
        return {key: text for key, text in out.items() if text}

    @classmethod
    def from_dict(cls, cause: dict[str, Any]) -> Cause:
        """Rebuild from a ``StatusCause`` dict; missing or non-string members become ``""``."""
        def text(key: str) -> str:
            member = cause.get(key)
            return member if isinstance(member, str) else ""
        return cls(text("reason"), text("message"), text("field"))


def _cause(reason: str, field: str, bad: object, detail: str) -> Cause:
    body = _TEXT[reason]
    if reason not in _VALUELESS and bad is not OMIT:
        body = f"{body}: {_goformat.value(bad)}"
    if detail:
        body = f"{body}: {detail}"
    return Cause(reason, body, field)


def required(field: str, detail: str = "") -> Cause:
    """A required value is missing (``Required value``)."""
    return _cause(REQUIRED, field, OMIT, detail)


def invalid(field: str, value: object, detail: str = "") -> Cause:
    """A malformed value (``Invalid value: "x": detail``)."""
    return _cause(INVALID, field, value, detail)


def type_invalid(field: str, value: object, detail: str = "") -> Cause:
    """A value of the wrong JSON type (reason ``FieldValueTypeInvalid``)."""
    return _cause(TYPE_INVALID, field, value, detail)


def not_supported(field: str, value: object, supported: Iterable[str] = ()) -> Cause:
    """A value outside an enumeration (``Unsupported value: "x": supported values: "a", "b"``)."""
    choices = ", ".join(_goformat.quote(choice) for choice in supported)
    return _cause(NOT_SUPPORTED, field, value, f"supported values: {choices}" if choices else "")


def duplicate(field: str, value: object) -> Cause:
    """A value that must be unique is repeated (``Duplicate value: "x"``)."""
    return _cause(DUPLICATE, field, value, "")


def not_found(field: str, value: object) -> Cause:
    """A referenced value does not exist (``Not found: "x"``)."""
    return _cause(NOT_FOUND, field, value, "")


def forbidden(field: str, detail: str) -> Cause:
    """A value that is well formed but not allowed here (``Forbidden: detail``)."""
    return _cause(FORBIDDEN, field, OMIT, detail)


def too_long(field: str, max_length: int) -> Cause:
    """A value longer than ``max_length`` bytes (``Too long: may not be more than N bytes``)."""
    if max_length < 0:
        return _cause(TOO_LONG, field, OMIT, "value is too long")
    unit = "byte" if max_length == 1 else "bytes"
    return _cause(TOO_LONG, field, OMIT, f"may not be more than {max_length} {unit}")


def too_many(field: str, actual: int, maximum: int) -> Cause:
    """A list with more than ``maximum`` items (``Too many: 5: must have at most 3 items``)."""
    if maximum < 0:
        detail = "has too many items"
    else:
        detail = f"must have at most {maximum} {'item' if maximum == 1 else 'items'}"
    return _cause(TOO_MANY, field, actual if actual >= 0 else OMIT, detail)


def internal(field: str, detail: str) -> Cause:
    """Something went wrong that is not the user's fault (``Internal error: detail``)."""
    return _cause(INTERNAL, field, OMIT, detail)


def aggregate(messages: Sequence[str]) -> str:
    """Join error strings like Kubernetes' ``ErrorList.ToAggregate().Error()``.

    Duplicates are dropped; one message stands alone, several become ``[a, b]``.
    """
    unique = list(dict.fromkeys(messages))
    if len(unique) <= 1:
        return "".join(unique)
    return "[" + ", ".join(unique) + "]"
