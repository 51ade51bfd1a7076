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

import base64
import time
from collections.abc import Iterator
from typing import Any, Union

from servers.apimachinery import errors

Obj = dict[str, Any]
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A message: field number -> (JSON name, how to read it): "str", "strs", "map", "bytesmap"
# (map<string,string>), "int32" (a pointer: zero is kept), "int" (a plain Go int: zero is
# omitted, as omitempty does), "int64", "bool", "intstr" (an IntOrString), a nested message,
# or ("[]", message) for a repeated one.
Message = dict[int, tuple[str, Union[str, "Message", tuple[str, "Message"]]]]

_OBJECT_META: Message = {
    1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
    6: ("resourceVersion", "str"), 11: ("labels", "map"), 12: ("annotations", "map"),
    13: ("ownerReferences", ("[]", {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"),
                                    5: ("apiVersion", "str"), 6: ("controller", "bool"),
                                    7: ("blockOwnerDeletion", "bool")})),
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

# kubectl create token: TokenRequestSpec's expirationSeconds is field 4, boundObjectRef 3.
_TOKEN_REQUEST: Message = {1: ("metadata", _OBJECT_META), 2: ("spec", {
    1: ("audiences", "strs"), 4: ("expirationSeconds", "int64"),
    3: ("boundObjectRef", {1: ("kind", "str"), 2: ("apiVersion", "str"), 3: ("name", "str"),
                           4: ("uid", "str")})})}

# The workload kinds as ``kubectl create deployment|job|cronjob|pdb|serviceaccount`` send
# them (k8s.io/api apps/v1, batch/v1, policy/v1 generated.proto): the pod template carries
# what those commands set; the server's defaults fill in the rest.
_CONTAINER: Message = {
    1: ("name", "str"), 2: ("image", "str"), 3: ("command", "strs"), 4: ("args", "strs"),
    5: ("workingDir", "str"),
    6: ("ports", ("[]", {1: ("name", "str"), 2: ("hostPort", "int"),
                         3: ("containerPort", "int"), 4: ("protocol", "str"),
                         5: ("hostIP", "str")})),
    7: ("env", ("[]", {1: ("name", "str"), 2: ("value", "str")})),
    13: ("terminationMessagePath", "str"), 14: ("imagePullPolicy", "str"),
    20: ("terminationMessagePolicy", "str"),
}
_POD_TEMPLATE: Message = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {2: ("containers", ("[]", _CONTAINER)), 3: ("restartPolicy", "str"),
                 4: ("terminationGracePeriodSeconds", "int64"),
                 5: ("activeDeadlineSeconds", "int64"), 6: ("dnsPolicy", "str"),
                 7: ("nodeSelector", "map"), 8: ("serviceAccountName", "str"),
                 10: ("nodeName", "str"), 19: ("schedulerName", "str"),
                 20: ("initContainers", ("[]", _CONTAINER))}),
}
_JOB_SPEC: Message = {
    1: ("parallelism", "int32"), 2: ("completions", "int32"),
    3: ("activeDeadlineSeconds", "int64"), 4: ("selector", _SELECTOR),
    5: ("manualSelector", "bool"), 6: ("template", _POD_TEMPLATE), 7: ("backoffLimit", "int32"),
    8: ("ttlSecondsAfterFinished", "int32"), 9: ("completionMode", "str"),
    10: ("suspend", "bool"),
}
_DEPLOYMENT: Message = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {1: ("replicas", "int32"), 2: ("selector", _SELECTOR),
                 3: ("template", _POD_TEMPLATE),
                 4: ("strategy", {1: ("type", "str"),
                                  2: ("rollingUpdate", {1: ("maxUnavailable", "intstr"),
                                                        2: ("maxSurge", "intstr")})}),
                 5: ("minReadySeconds", "int"), 6: ("revisionHistoryLimit", "int32"),
                 7: ("paused", "bool"), 9: ("progressDeadlineSeconds", "int32")}),
}
_CRONJOB: Message = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {1: ("schedule", "str"), 2: ("startingDeadlineSeconds", "int64"),
                 3: ("concurrencyPolicy", "str"), 4: ("suspend", "bool"),
                 5: ("jobTemplate", {1: ("metadata", _OBJECT_META), 2: ("spec", _JOB_SPEC)}),
                 6: ("successfulJobsHistoryLimit", "int32"),
                 7: ("failedJobsHistoryLimit", "int32"), 8: ("timeZone", "str")}),
}
_PDB: Message = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {1: ("minAvailable", "intstr"), 2: ("selector", _SELECTOR),
                 3: ("maxUnavailable", "intstr"), 4: ("unhealthyPodEvictionPolicy", "str")}),
}

# ``kubectl create service clusterip|nodeport|externalname|loadbalancer`` (core/v1).
_SERVICE: Message = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {
        1: ("ports", ("[]", {1: ("name", "str"), 2: ("protocol", "str"),
                             6: ("appProtocol", "str"), 3: ("port", "int"),
                             4: ("targetPort", "intstr"), 5: ("nodePort", "int")})),
        2: ("selector", "map"), 3: ("clusterIP", "str"), 18: ("clusterIPs", "strs"),
        4: ("type", "str"), 5: ("externalIPs", "strs"), 7: ("sessionAffinity", "str"),
        10: ("externalName", "str"), 11: ("externalTrafficPolicy", "str"),
        13: ("publishNotReadyAddresses", "bool"),
        14: ("sessionAffinityConfig", {1: ("clientIP", {1: ("timeoutSeconds", "int32")})}),
        17: ("ipFamilyPolicy", "str"), 19: ("ipFamilies", "strs"),
        22: ("internalTrafficPolicy", "str")}),
}

# ``kubectl certificate approve|deny`` PUTs the whole request to /approval (k8s.io/api
# certificates/v1 generated.proto); "bytes" fields are base64 in JSON, "time" a metav1.Time.
_CSR_CONDITION: Message = {1: ("type", "str"), 6: ("status", "str"), 2: ("reason", "str"),
                           3: ("message", "str"), 4: ("lastUpdateTime", "time"),
                           5: ("lastTransitionTime", "time")}
_CSR: Message = {
    1: ("metadata", _OBJECT_META),
    2: ("spec", {1: ("request", "bytes"), 7: ("signerName", "str"),
                 8: ("expirationSeconds", "int32"), 5: ("usages", "strs"),
                 2: ("username", "str"), 3: ("uid", "str"), 4: ("groups", "strs")}),
    3: ("status", {1: ("conditions", ("[]", _CSR_CONDITION)), 2: ("certificate", "bytes")}),
}

#: (apiVersion, kind) -> message, for every kind km reads from protobuf.
MESSAGES: dict[tuple[str, str], Message] = {
    ("v1", "Namespace"): {1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", "strs")})},
    ("v1", "ConfigMap"): {1: ("metadata", _OBJECT_META), 2: ("data", "map")},
    ("v1", "Secret"): {1: ("metadata", _OBJECT_META), 2: ("data", "bytesmap"),
                       3: ("type", "str"), 4: ("stringData", "map"), 5: ("immutable", "bool")},
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
    ("authentication.k8s.io/v1", "TokenRequest"): _TOKEN_REQUEST,
    ("v1", "ServiceAccount"): {1: ("metadata", _OBJECT_META)},
    ("v1", "Service"): _SERVICE,
    ("apps/v1", "Deployment"): _DEPLOYMENT,
    ("batch/v1", "Job"): {1: ("metadata", _OBJECT_META), 2: ("spec", _JOB_SPEC)},
    ("batch/v1", "CronJob"): _CRONJOB,
    ("policy/v1", "PodDisruptionBudget"): _PDB,
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): _CSR,
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
        elif how in ("int32", "int", "int64", "bool"):
            out.update(_scalar(name, value, how))
        elif how in ("map", "bytesmap", "intstr", "bytes", "time"):
            _entry(out, name, _bytes(value), how)
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
    if how == "int" and not value:
        return {}
    if how == "int64":
        return {name: value - (1 << 64) if value & (1 << 63) else value}
    value &= 0xFFFFFFFF
    return {name: value - (1 << 32) if value & 0x80000000 else value}


def _entry(out: Obj, name: str, data: bytes, how: str) -> None:
    """A map entry (``map<string,string>``, added to ``out[name]``), an IntOrString, a
    ``bytes`` field (base64, as JSON has it) or a ``metav1.Time`` (RFC 3339 in whole
    seconds; the zero time, which Go sends as an empty message, is left out)."""
    if how == "intstr":
        out[name] = _int_or_string(data)
        return
    if how == "bytes":
        out[name] = base64.b64encode(data).decode()
        return
    if how == "time":
        seconds = _read(data, {1: ("seconds", "int64")}).get("seconds", 0)
        if seconds:
            out[name] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
        return
    entry = dict(fields(data))
    raw = entry.get(2, b"")
    value = (base64.b64encode(_bytes(raw)).decode() if how == "bytesmap"  # map<string,bytes>
             else _text(raw))
    out.setdefault(name, {})[_text(entry.get(1, b""))] = value


def _int_or_string(data: bytes) -> int | str:
    """An ``IntOrString``: ``type`` 0 is ``intVal``, 1 is ``strVal``."""
    parts = _read(data, {1: ("type", "int32"), 2: ("intVal", "int32"), 3: ("strVal", "str")})
    if parts.get("type") == 1:
        return str(parts.get("strVal", ""))
    return int(parts.get("intVal", 0))


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
