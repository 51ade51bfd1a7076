"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) on plain JSON values.

``json_patch`` and ``merge_patch`` never modify their arguments: they return a new document
that shares nothing with the inputs. Errors follow kube-apiserver's ``PATCH`` handler
(``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``, ``applyJSPatch``):

* a patch document that is not a list of operation objects: ``BadRequest`` (400);
* more than 10000 operations: ``RequestEntityTooLarge`` (413);
* ``copy`` operations that together copy more than 3 MiB: ``PatchError`` (422), as
  kube-apiserver's ``JSONPatchMaxCopyBytes`` (a patch of 40 copies doubling the document would
  otherwise ask for 2**40 times its size);
* an operation that does not apply (unknown ``op``, a missing member, a path that does not
  exist, a failed ``test``): ``PatchError`` (422), whose single cause explains what failed.

Strategic merge patch, which needs per-kind merge keys, is in ``strategic.py``; server-side
apply builds on it in ``servers/apiserver/apply.py``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any, NoReturn

from servers.apimachinery.errors import BadRequest, PatchError, RequestEntityTooLarge

__all__ = [
    "MAX_JSON_PATCH_COPY_BYTES", "MAX_JSON_PATCH_OPERATIONS", "PatchError", "json_equal",
    "json_patch", "merge_patch",
]

MAX_JSON_PATCH_OPERATIONS = 10000
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024
_INDEX = re.compile(r"0|[1-9][0-9]*")
_MISSING = object()


def merge_patch(doc: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386): objects merge, ``null`` deletes, the rest replaces.

    Any JSON value is accepted for both arguments, as the RFC defines; kube-apiserver
    additionally insists on an object patch, which is the caller's check.
    """
    return _merge(copy.deepcopy(doc), patch)


def _merge(target: Any, patch: Any) -> Any:
    # MergePatch(Target, Patch) from RFC 7386 section 2; ``target`` is ours to change.
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply a JSON patch (RFC 6902): ``add``, ``remove``, ``replace``, ``move``, ``copy``,
    ``test``, with RFC 6901 pointers (``~0``, ``~1``; ``-`` appends to an array).

    The operations apply in order and all or nothing. Raises ``BadRequest``,
    ``RequestEntityTooLarge`` or ``PatchError`` as the module docstring says.
    """
    _check_document(ops)
    result = copy.deepcopy(doc)
    copied = 0
    for op in ops:
        name = op.get("op")
        handler = _HANDLERS.get(name) if isinstance(name, str) else None
        if handler is None:
            msg = f"Unexpected kind: {name if isinstance(name, str) else 'unknown'}"
            raise PatchError(msg)
        if name == "copy":
            copied += _copy_size(result, op, copied)
        result = handler(result, op)
    return result


def _copy_size(doc: Any, op: dict[str, Any], copied: int) -> int:
    # evanphx/json-patch's AccumulatedCopySizeLimit, which kube-apiserver sets to 3 MiB.
    value = _get(doc, _pointer(op, "from"))
    size = 0 if value is _MISSING else len(json.dumps(value, separators=(",", ":")))
    if copied + size > MAX_JSON_PATCH_COPY_BYTES:
        msg = (f"Unable to complete the copy, the accumulated size increase of copy is "
               f"{copied + size}, exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}")
        raise PatchError(msg)
    return size


def _check_document(ops: Any) -> None:
    if not isinstance(ops, list):
        msg = f"json: cannot unmarshal {_json_type(ops)} into Go value of type jsonpatch.Patch"
        raise BadRequest(msg)
    for op in ops:
        if not isinstance(op, dict):
            msg = (f"json: cannot unmarshal {_json_type(op)} into Go value of type "
                   "jsonpatch.Operation")
            raise BadRequest(msg)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        msg = (f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
               f"got {len(ops)}")
        raise RequestEntityTooLarge(msg)


def _json_type(value: object) -> str:
    names = {bool: "bool", int: "number", float: "number", str: "string", dict: "object",
             list: "array", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# -- pointers (RFC 6901) -----------------------------------------------------------------------

def _pointer(op: dict[str, Any], member: str) -> list[str]:
    pointer = op.get(member)
    if not isinstance(pointer, str):
        msg = f'{op["op"]} operation does not apply: "{member}" is missing or not a string'
        raise PatchError(msg)
    if pointer == "":
        return []
    if not pointer.startswith("/") or re.search(r"~(?![01])", pointer):
        msg = f'invalid JSON pointer: "{pointer}"'
        raise PatchError(msg)
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _index(token: str, size: int, pointer: str) -> int:
    # Array positions are decimal without leading zeros; ``size`` is one past the last valid.
    if not _INDEX.fullmatch(token) or int(token) >= size:
        msg = f"Unable to access invalid index: {token}: invalid index referenced ({pointer})"
        raise PatchError(msg)
    return int(token)


def _get(doc: Any, tokens: list[str]) -> Any:
    """The value at ``tokens``, or ``_MISSING``."""
    for token in tokens:
        if isinstance(doc, dict):
            doc = doc.get(token, _MISSING)
        elif isinstance(doc, list) and _INDEX.fullmatch(token) and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return _MISSING
        if doc is _MISSING:
            return _MISSING
    return doc


def _text(tokens: list[str]) -> str:
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def _existing(doc: Any, tokens: list[str], what: str) -> Any:
    found = _get(doc, tokens)
    if found is _MISSING:
        _missing(tokens, what)
    return found


def _missing(tokens: list[str], what: str) -> NoReturn:
    msg = f'{what} operation does not apply: doc is missing path: "{_text(tokens)}": missing value'
    raise PatchError(msg)


# -- operations (RFC 6902 section 4) -----------------------------------------------------------

def _value(op: dict[str, Any]) -> Any:
    if "value" not in op:
        msg = f'{op["op"]} operation does not apply: "value" is missing'
        raise PatchError(msg)
    return copy.deepcopy(op["value"])


def _insert(doc: Any, tokens: list[str], value: Any, what: str) -> Any:
    if not tokens:
        return value
    parent = _existing(doc, tokens[:-1], what)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        at = len(parent) if key == "-" else _index(key, len(parent) + 1, _text(tokens))
        parent.insert(at, value)
    else:
        _missing(tokens, what)  # a scalar has no members
    return doc


def _delete(doc: Any, tokens: list[str], what: str) -> Any:
    """Remove the value at ``tokens`` and return it."""
    _existing(doc, tokens, what)
    if not tokens:
        msg = f"{what} operation does not apply: cannot remove the whole document"
        raise PatchError(msg)
    parent = _get(doc, tokens[:-1])
    if isinstance(parent, list):
        return parent.pop(_index(tokens[-1], len(parent), _text(tokens)))
    return parent.pop(tokens[-1])


def _add(doc: Any, op: dict[str, Any]) -> Any:
    return _insert(doc, _pointer(op, "path"), _value(op), "add")


def _remove(doc: Any, op: dict[str, Any]) -> Any:
    _delete(doc, _pointer(op, "path"), "remove")
    return doc


def _replace(doc: Any, op: dict[str, Any]) -> Any:
    tokens, value = _pointer(op, "path"), _value(op)
    if not tokens:
        return value
    _existing(doc, tokens, "replace")
    parent = _get(doc, tokens[:-1])
    key: Any = int(tokens[-1]) if isinstance(parent, list) else tokens[-1]
    parent[key] = value
    return doc


def _move(doc: Any, op: dict[str, Any]) -> Any:
    source, target = _pointer(op, "from"), _pointer(op, "path")
    _existing(doc, source, "move")
    if target[:len(source)] == source and len(target) > len(source):
        msg = (f'move operation does not apply: "from" {_text(source)} is a parent of '
               f'"path" {_text(target)}')
        raise PatchError(msg)
    if source == target:
        return doc
    return _insert(doc, target, _delete(doc, source, "move"), "move")


def _copy(doc: Any, op: dict[str, Any]) -> Any:
    source, target = _pointer(op, "from"), _pointer(op, "path")
    value = copy.deepcopy(_existing(doc, source, "copy"))
    return _insert(doc, target, value, "copy")


def _test(doc: Any, op: dict[str, Any]) -> Any:
    tokens, expected = _pointer(op, "path"), _value(op)
    if not json_equal(_get(doc, tokens), expected):
        msg = f"testing value {_text(tokens)} failed: test failed"
        raise PatchError(msg)
    return doc


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality (RFC 6902 section 4.6): ``1 == 1.0``, but ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return type(left) is type(right) and left == right


_HANDLERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "add": _add, "remove": _remove, "replace": _replace, "move": _move, "copy": _copy,
    "test": _test,
}
