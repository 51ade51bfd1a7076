"""Just enough protobuf to read the access reviews kubectl sends.

``kubectl auth can-i`` posts its SelfSubjectAccessReview with the typed client, which always
encodes built-in kinds as ``application/vnd.kubernetes.protobuf``: the ``k8s\\x00`` magic, then a
``runtime.Unknown`` (typeMeta, raw) whose ``raw`` is the review. This reads those messages
into the JSON shape km works with (field numbers from k8s.io/api authorization/v1
generated.proto at v0.32); the answer goes back as JSON, which kubectl also accepts. Everything
else km serves is JSON only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from servers.apimachinery import errors

Obj = dict[str, Any]
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_RESOURCE = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
             6: "subresource", 7: "name"}
_NON_RESOURCE = {1: "path", 2: "verb"}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise errors.BadRequest("malformed protobuf: truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """``(field number, value)`` pairs: an int for varints, bytes for everything else."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
            continue
        if wire == 2:
            size, at = _varint(data, at)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise errors.BadRequest(f"malformed protobuf: wire type {wire}")
        if at + size > len(data):
            raise errors.BadRequest("malformed protobuf: truncated field")
        yield number, data[at:at + size]
        at += size


def _strings(data: bytes, names: dict[int, str]) -> Obj:
    out: Obj = {}
    for number, value in fields(data):
        if number in names and isinstance(value, bytes):
            out[names[number]] = value.decode("utf-8", "replace")
    return out


def _spec(data: bytes) -> Obj:
    spec: Obj = {}
    for number, value in fields(data):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            spec["resourceAttributes"] = _strings(value, _RESOURCE)
        elif number == 2:
            spec["nonResourceAttributes"] = _strings(value, _NON_RESOURCE)
        elif number == 3:
            spec["user"] = value.decode("utf-8", "replace")
        elif number == 4:
            spec.setdefault("groups", []).append(value.decode("utf-8", "replace"))
        elif number == 6:
            spec["uid"] = value.decode("utf-8", "replace")
    return spec


def decode_review(body: bytes) -> Obj:
    """A SelfSubjectAccessReview, SubjectAccessReview or SelfSubjectRulesReview in
    Kubernetes' protobuf envelope, as a JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise errors.BadRequest("protobuf body without the k8s envelope")
    review: Obj = {}
    for number, value in fields(body[len(MAGIC):]):
        if number == 1 and isinstance(value, bytes):
            type_meta = _strings(value, {1: "apiVersion", 2: "kind"})
            review.update(type_meta)
        elif number == 2 and isinstance(value, bytes):
            for inner, part in fields(value):
                if inner == 2 and isinstance(part, bytes):
                    rules = review.get("kind") == "SelfSubjectRulesReview"
                    review["spec"] = _strings(part, {1: "namespace"}) if rules else _spec(part)
    return review
