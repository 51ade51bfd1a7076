"""Go's formatting of strings and values, as it shows up in Kubernetes' messages.

Kubernetes builds its error messages with ``fmt.Sprintf("%q", name)`` and friends, so names in
messages appear in Go's quoting (``pods "web" not found``). This private module reproduces the
two formats that reach users: ``strconv.Quote`` and the bad-value rendering of
``field.Error.ErrorBody``. It is not a general ``fmt`` emulation.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

_ESCAPES = {
    "\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
    '"': r"\"", "\\": r"\\",
}


def quote(text: str) -> str:
    """Return ``text`` quoted like Go's ``strconv.Quote`` (and so ``%q``)."""
    return '"' + "".join(_quote_char(ch) for ch in text) + '"'


def _quote_char(ch: str) -> str:
    escaped = _ESCAPES.get(ch)
    if escaped is not None:
        return escaped
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        # A lone surrogate cannot come out of Go's JSON decoder: it becomes U+FFFD there.
        return "\ufffd"
    if ch.isprintable():  # same classes as Go's unicode.IsPrint: L, M, N, P, S and ' '
        return ch
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def value(bad: object) -> str:
    """Render a bad value the way ``field.Error.ErrorBody`` does.

    Strings are quoted (``%q``), booleans and numbers printed plainly (``%v``), and anything
    else (``None``, lists, dicts) as compact JSON.
    """
    if isinstance(bad, str):
        return quote(bad)
    if isinstance(bad, bool):
        return "true" if bad else "false"
    if isinstance(bad, int):
        return str(bad)
    if isinstance(bad, float):
        return _float(bad)
    return json.dumps(bad, separators=(",", ":"), ensure_ascii=False, default=str)


def _float(number: float) -> str:
    # Go's %v for float64 is %g with the shortest digits, switching to an exponent when it
    # is below -4 or at least 6 (so 1e+06, 123456, 1.5, 1e-05).
    if not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    negative, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # position of the decimal point within the digits
    sign = "-" if negative else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{sign}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{text}"
    if point >= len(text):
        return sign + text + "0" * (point - len(text))
    return f"{sign}{text[:point]}.{text[point:]}"
