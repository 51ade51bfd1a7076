"""Helpers shared by the per-kind rules: safe member access, ports, enums, quantities.

Messages are Kubernetes' (k8s.io/apimachinery/pkg/util/validation and
k8s.io/kubernetes pkg/apis/core/validation at v1.32).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from servers.apimachinery import field, validation
from servers.apimachinery.field import Cause

Obj = dict[str, Any]

PROTOCOLS = ("SCTP", "TCP", "UDP")
PORT_RANGE = "must be between 1 and 65535, inclusive"
_PORT_NAME_CHARSET = re.compile(r"[-a-z0-9]+")
_QUANTITY = re.compile(r"([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)")
QUANTITY_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
    "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}


def as_dict(value: Any) -> Obj:
    """``value`` if it is a JSON object, else an empty one (absent and null members)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[Obj]:
    """The objects of a JSON array (non-objects are skipped: decoding rejected them)."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def port_name_messages(name: str) -> list[str]:
    """``IsValidPortName``: an IANA_SVC_NAME (at most 15 characters, a-z 0-9 and '-')."""
    messages = []
    if len(name) > 15:
        messages.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARSET.fullmatch(name):
        messages.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        messages.append("must contain at least one letter (a-z)")
    if "--" in name:
        messages.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        messages.append("must not begin or end with a hyphen")
    return messages


def port_number(path: str, value: Any) -> list[Cause]:
    """``IsValidPortNum`` for a port that must be set."""
    if not isinstance(value, int) or not 1 <= value <= 65535:
        return [field.invalid(path, value, PORT_RANGE)]
    return []


def port_num_or_name(path: str, value: Any) -> list[Cause]:
    """``ValidatePortNumOrName``: a port number or an IANA service name."""
    if isinstance(value, str):
        return [field.invalid(path, value, msg) for msg in port_name_messages(value)]
    return port_number(path, value)


def one_of(path: str, value: Any, allowed: Iterable[str], *, required: bool = True) -> list[Cause]:
    """Required (when ``required``) and NotSupported outside ``allowed``."""
    if value in (None, ""):
        return [field.required(path)] if required else []
    choices = list(allowed)
    return [] if value in choices else [field.not_supported(path, value, choices)]


def protocol(path: str, value: Any) -> list[Cause]:
    """A port protocol: TCP, UDP or SCTP."""
    return one_of(path, value, PROTOCOLS)


def duplicates(items: list[Obj], key: str, path: str) -> list[Cause]:
    """Duplicate value causes for items whose ``key`` repeats an earlier one."""
    seen: set[Any] = set()
    causes = []
    for i, item in enumerate(items):
        value = item.get(key)
        if value in (None, ""):
            continue
        if value in seen:
            causes.append(field.duplicate(f"{path}[{i}].{key}", value))
        seen.add(value)
    return causes


def parse_quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity (``100m``, ``1Gi``, ``1e3``, ``2``), or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.fullmatch(value)
    if match is None:
        return None
    number, suffix = match.groups()
    try:
        base = Decimal(number)
        if suffix in _SUFFIXES:
            return base * _SUFFIXES[suffix]
        if suffix[:1] in "eE":
            return base * Decimal(10) ** int(suffix[1:])
    except (InvalidOperation, ValueError):
        return None
    return None


def nonnegative(path: str, value: Any) -> list[Cause]:
    """``ValidateNonnegativeField`` for an optional integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return validation.validate_nonnegative(value, path)
    return []
