"""core/v1 Secret: stringData merged into data, data base64-checked, types checked.

As kube's ``pkg/apis/core/v1/conversion.go`` (stringData written over data, base64-encoded,
then dropped: it is write-only) and ``pkg/apis/core/validation/validation.go``
``ValidateSecret``/``ValidateSecretUpdate``: keys as ConfigMap keys, 1 MiB in all, each
built-in type's required keys, a type that never changes, ``immutable`` honoured.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from servers.apimachinery import field
from servers.apimachinery.field import Cause
from servers.apiserver.kinds._common import Obj, as_dict
from servers.apiserver.kinds.core import config_key_messages
from servers.apiserver.kinds.printers import age

__all__ = ["default", "row", "validate"]

MAX_SIZE = 1024 * 1024
OPAQUE = "Opaque"
IMMUTABLE = "field is immutable when `immutable` is set"
# type -> keys of which one at least (any) or each (all) must be present
_REQUIRED: dict[str, tuple[str, tuple[str, ...]]] = {
    "kubernetes.io/tls": ("all", ("tls.crt", "tls.key")),
    "kubernetes.io/dockercfg": ("all", (".dockercfg",)),
    "kubernetes.io/dockerconfigjson": ("all", (".dockerconfigjson",)),
    "kubernetes.io/basic-auth": ("any", ("username", "password")),
    "kubernetes.io/ssh-auth": ("all", ("ssh-privatekey",)),
}
_JSON_KEYS = {"kubernetes.io/dockercfg": ".dockercfg",
              "kubernetes.io/dockerconfigjson": ".dockerconfigjson"}
SA_NAME = "kubernetes.io/service-account.name"


def default(secret: Obj, old: Obj | None = None) -> None:
    """``type`` Opaque when unset; ``stringData`` written over ``data`` and dropped."""
    if not secret.get("type"):
        secret["type"] = OPAQUE
    strings = secret.pop("stringData", None)
    if isinstance(strings, dict) and strings:
        data = dict(as_dict(secret.get("data")))
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        secret["data"] = data


def _decoded(key: str, value: object) -> tuple[bytes | None, list[Cause]]:
    try:
        return base64.b64decode(str(value), validate=True), []
    except (binascii.Error, ValueError) as exc:
        return None, [field.invalid(f"data[{key}]", "<secret contents redacted>",
                                    f"illegal base64 data: {exc}")]


def validate(secret: Obj, old: Obj | None = None) -> list[Cause]:
    data = as_dict(secret.get("data"))
    causes: list[Cause] = []
    decoded: dict[str, bytes] = {}
    for key, value in data.items():
        causes += [field.invalid(f"data[{key}]", key, m) for m in config_key_messages(key)]
        raw, problems = _decoded(key, value)
        causes += problems
        if raw is not None:
            decoded[key] = raw
    if sum(len(v) for v in decoded.values()) > MAX_SIZE:
        causes.append(field.too_long("data", MAX_SIZE))
    causes += _type_rules(secret, decoded)
    if old is not None:
        causes += _update_rules(secret, old)
    return causes


def _type_rules(secret: Obj, decoded: dict[str, bytes]) -> list[Cause]:
    kind = str(secret.get("type") or OPAQUE)
    causes: list[Cause] = []
    if kind == "kubernetes.io/service-account-token":
        annotations = as_dict(as_dict(secret.get("metadata")).get("annotations"))
        if not annotations.get(SA_NAME):
            causes.append(field.required(f"metadata.annotations[{SA_NAME}]"))
    rule = _REQUIRED.get(kind)
    if rule is not None:
        how, keys = rule
        if how == "all":
            causes += [field.required(f"data[{k}]") for k in keys if k not in decoded]
        elif not any(k in decoded for k in keys):
            causes.append(field.required(f"data[{keys[0]}]"))
    json_key = _JSON_KEYS.get(kind)
    if json_key and json_key in decoded:
        try:
            json.loads(decoded[json_key])
        except ValueError as exc:
            causes.append(field.invalid(f"data[{json_key}]", "<secret contents redacted>",
                                        str(exc)))
    return causes


def _update_rules(secret: Obj, old: Obj) -> list[Cause]:
    causes: list[Cause] = []
    if (secret.get("type") or OPAQUE) != (old.get("type") or OPAQUE):
        causes.append(field.invalid("type", secret.get("type"), "field is immutable"))
    if old.get("immutable"):
        if not secret.get("immutable"):
            causes.append(field.forbidden("immutable", IMMUTABLE))
        if as_dict(secret.get("data")) != as_dict(old.get("data")):
            causes.append(field.forbidden("data", IMMUTABLE))
    return causes


def row(secret: Obj, now: datetime) -> list[object]:
    """The row of a secret (kube's printSecret): Name, Type, Data (number of keys), Age."""
    meta = as_dict(secret.get("metadata"))
    return [meta.get("name", ""), secret.get("type") or OPAQUE,
            len(as_dict(secret.get("data"))), age(meta.get("creationTimestamp"), now)]
