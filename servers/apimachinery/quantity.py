"""Kubernetes resource quantities (``100m``, ``1Gi``, ``1e3``, ``2``) as exact numbers.

The grammar and suffixes of ``k8s.io/apimachinery/pkg/api/resource/quantity.go``: a signed
decimal number followed by a binary-SI suffix (``Ki`` .. ``Ei``), a decimal-SI suffix
(``n u m "" k M G T P E``) or a decimal exponent (``e3``, ``E-2``). ``milli`` and ``value``
round up as ``Quantity.MilliValue()`` and ``Quantity.Value()`` do, so ``0.5m`` of cpu is 1
millicore and ``1.5`` pods is 2.

This is a light module (standard library only); the scheduler calls ``milli`` and ``value``
for every container it sees, so both keep a small cache of the texts they parsed.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

__all__ = ["QUANTITY_MESSAGE", "milli", "parse_quantity", "value"]

_QUANTITY = re.compile(r"([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
QUANTITY_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_SUFFIXES = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+")


def parse_quantity(text: str | int | float) -> Fraction:
    """The exact value of a quantity; raises ``ValueError`` (Kubernetes' message) if malformed.

    JSON numbers are accepted as kube's decoder accepts them (``cpu: 2``).
    """
    if isinstance(text, bool):
        raise ValueError(QUANTITY_MESSAGE)
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return Fraction(repr(text))
    if not isinstance(text, str):
        raise ValueError(QUANTITY_MESSAGE)
    match = _QUANTITY.fullmatch(text.strip())
    if match is None or not _NUMBER.fullmatch(match.group(1)):
        raise ValueError(QUANTITY_MESSAGE)
    number, suffix = match.groups()
    base = Fraction(number)
    if suffix in _SUFFIXES:
        return base * _SUFFIXES[suffix]
    if _EXPONENT.fullmatch(suffix):
        return base * Fraction(10) ** int(suffix[1:])
    raise ValueError(QUANTITY_MESSAGE)


@lru_cache(maxsize=4096)
def _milli(text: str | int | float) -> int:
    return math.ceil(parse_quantity(text) * 1000)


@lru_cache(maxsize=4096)
def _value(text: str | int | float) -> int:
    return math.ceil(parse_quantity(text))


def milli(text: str | int | float) -> int:
    """The quantity in thousandths, rounded up (cpu in millicores): ``"100m"`` -> 100."""
    return _milli(text)


def value(text: str | int | float) -> int:
    """The quantity as an integer, rounded up (bytes, counts): ``"500Mi"`` -> 524288000."""
    return _value(text)
