"""JSON for the apiserver and its clients: orjson when the build carries it, else the stdlib.

orjson is several times faster on the hot paths (every create decodes a body and encodes the
stored object) and stricter where strictness is right for an API: NaN and Infinity, numbers
beyond 64 bits and nesting deeper than 1024 levels are malformed input. The stdlib fallback
(for the --portable build, which bundles no compiled module) is made to refuse the same
constants, so both agree on what valid JSON is.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the portable build
    orjson = None  # type: ignore[assignment]

DecodeError = ValueError  # orjson.JSONDecodeError and json.JSONDecodeError both derive from it


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, keys in insertion order."""
    if orjson is not None:
        return orjson.dumps(obj)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON; ValueError (DecodeError) for anything malformed."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data, parse_constant=_no_constant)
