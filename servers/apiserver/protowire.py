"""Request bodies in Kubernetes' protobuf encoding, for the few kinds kubectl sends that way.

kubectl's typed clients (``kubectl create role``, ``create rolebinding``, ``auth can-i``, ...)
encode built-in kinds as ``application/vnd.kubernetes.protobuf``: the ``k8s\\x00`` magic, then a
``runtime.Unknown`` whose ``typeMeta`` names the kind and whose ``raw`` is the object. This reads
the kinds listed in ``MESSAGES`` into the JSON shape km works with (field numbers from
k8s.io/api generated.proto at v0.32; unknown fields are skipped). Answers go back as JSON,
which those clients accept too. A body that is not such an envelope, or of another kind, is
415 as before: km is JSON first, and this is not a general protobuf codec.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Union

from servers.apimachinery import errors

Obj = dict[str, Any]
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A message: field number -> (JSON name, how to read it): "str", "strs", "map"
# (map<string,string>), "int32", "bool", a nested message, or ("[]", message) for a
# repeated one.
Message = dict[int, tuple[str, Union[str, "Message", tuple[str, "Message"]]]]

_OBJECT_META: Message = {
    1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
    6: ("resourceVersion", "str"), 11: ("labels", "map"), 12: ("annotations", "map"),
    14: ("finalizers", "strs"),
}
_POLICY_RULE: Message = {1: ("verbs", "strs"), 2: ("apiGroups", "strs"),
                         3: ("resources", "strs"), 4: ("resourceNames", "strs"),
                         5: ("nonResourceURLs", "strs")}
_SUBJECT: Message = {1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"),
                     4: ("namespace", "str")}
_ROLE_REF: Message = {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")}
_REQUIREMENT: Message = {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "strs")}
_SELECTOR: Message = {1: ("matchLabels", "map"), 2: ("matchExpressions", ("[]", _REQUIREMENT))}
_ROLE: Message = {1: ("metadata", _OBJECT_META), 2: ("rules", ("[]", _POLICY_RULE)),
                  3: ("aggregationRule", {1: ("clusterRoleSelectors", ("[]", _SELECTOR))})}
_BINDING: Message = {1: ("metadata", _OBJECT_META), 2: ("subjects", ("[]", _SUBJECT)),
                     3: ("roleRef", _ROLE_REF)}
_RESOURCE_ATTRIBUTES: Message = {
    1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"), 4: ("version", "str"),
    5: ("resource", "str"), 6: ("subresource", "str"), 7: ("name", "str")}
_ACCESS_SPEC: Message = {
    1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", {1: ("path", "str"), 2: ("verb", "str")}),
    3: ("user", "str"), 4: ("groups", "strs"), 6: ("uid", "str")}

_PRIORITY_CLASS: Message = {1: ("metadata", _OBJECT_META), 2: ("value", "int32"),
                            3: ("globalDefault", "bool"), 4: ("description", "str"),
                            5: ("preemptionPolicy", "str")}
_TOKEN_REVIEW: Message = {1: ("metadata", _OBJECT_META),
                          2: ("spec", {1: ("token", "str"), 2: ("audiences", "strs")})}

#: (apiVersion, kind) -> message, for every kind km reads from protobuf.
MESSAGES: dict[tuple[str, str], Message] = {
    ("v1", "Namespace"): {1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", "strs")})},
    ("v1", "ConfigMap"): {1: ("metadata", _OBJECT_META), 2: ("data", "map")},
    ("rbac.authorization.k8s.io/v1", "Role"): _ROLE,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): _ROLE,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _BINDING,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", _ACCESS_SPEC)},
    ("authorization.k8s.io/v1", "SubjectAccessReview"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", _ACCESS_SPEC)},
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", _ACCESS_SPEC)},
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {
        1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("namespace", "str")})},
    ("scheduling.k8s.io/v1", "PriorityClass"): _PRIORITY_CLASS,
    ("authentication.k8s.io/v1", "TokenReview"): _TOKEN_REVIEW,
}


class _Malformed(Exception):
    pass


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed
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
            raise _Malformed
        if at + size > len(data):
            raise _Malformed
        yield number, data[at:at + size]
        at += size


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise _Malformed
    return value.decode("utf-8")


def _read(data: bytes, message: Message) -> Obj:
    out: Obj = {}
    for number, value in fields(data):
        if number not in message:
            continue
        name, how = message[number]
        if how == "str":  # Go's empty strings are sent; JSON would omit them
            text = _text(value)
            if text:
                out[name] = text
        elif how == "strs":
            out.setdefault(name, []).append(_text(value))
        elif how in ("int32", "bool"):
            out.update(_scalar(name, value, how))
        elif how == "map":
            entry = dict(fields(value if isinstance(value, bytes) else b""))
            out.setdefault(name, {})[_text(entry.get(1, b""))] = _text(entry.get(2, b""))
        elif isinstance(how, tuple):
            out.setdefault(name, []).append(_read(_bytes(value), how[1]))
        elif isinstance(how, dict):
            out[name] = _read(_bytes(value), how)
    return out


def _scalar(name: str, value: int | bytes, how: str) -> Obj:
    """``{name: value}`` for a varint read as an int32 (negative ones come as 64-bit two's
    complement) or a bool; a false bool is left out, as JSON's omitempty leaves it."""
    if not isinstance(value, int):
        raise _Malformed
    if how == "bool":
        return {name: True} if value else {}
    value &= 0xFFFFFFFF
    return {name: value - (1 << 32) if value & 0x80000000 else value}


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise _Malformed
    return value


def decode(body: bytes) -> Obj:
    """The object in a protobuf envelope; 415 unless it is a well-formed one of ``MESSAGES``."""
    try:
        if not body.startswith(MAGIC):
            raise _Malformed
        envelope = dict(fields(body[len(MAGIC):]))
        type_meta = _read(_bytes(envelope.get(1, b"")), {1: ("apiVersion", "str"),
                                                         2: ("kind", "str")})
        message = MESSAGES.get((type_meta.get("apiVersion", ""), type_meta.get("kind", "")))
        if message is None:
            raise _Malformed
        return {**type_meta, **_read(_bytes(envelope.get(2, b"")), message)}
    except (_Malformed, UnicodeDecodeError, RecursionError):
        raise errors.UnsupportedMediaType(("application/json", "application/yaml")) from None
