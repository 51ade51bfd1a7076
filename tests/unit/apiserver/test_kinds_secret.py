"""core/v1 Secret rules: stringData merged, base64 checked, types' keys, immutability."""

from __future__ import annotations

import base64

from servers.apiserver.kinds import secret


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fields(causes: list) -> list[str]:
    return [c.field for c in causes]


def test_string_data_is_merged_over_data_and_dropped() -> None:
    obj = {"data": {"a": b64("old"), "b": b64("kept")}, "stringData": {"a": "new"}}
    secret.default(obj)
    assert obj == {"type": "Opaque", "data": {"a": b64("new"), "b": b64("kept")}}


def test_data_must_be_base64_and_keys_valid() -> None:
    causes = secret.validate({"type": "Opaque", "data": {"k": "!!", "bad key": b64("x")}})
    assert sorted(fields(causes)) == ["data[bad key]", "data[k]"]
    assert secret.validate({"type": "Opaque", "data": {"k": b64("fine")}}) == []


def test_types_need_their_keys() -> None:
    assert fields(secret.validate({"type": "kubernetes.io/tls", "data": {
        "tls.crt": b64("c")}})) == ["data[tls.key]"]
    assert fields(secret.validate({"type": "kubernetes.io/basic-auth", "data": {}})) == [
        "data[username]"]
    assert fields(secret.validate({"type": "kubernetes.io/dockerconfigjson", "data": {
        ".dockerconfigjson": b64("{not json")}})) == ["data[.dockerconfigjson]"]
    assert fields(secret.validate({"type": "kubernetes.io/service-account-token",
                                   "metadata": {}})) == [
        "metadata.annotations[kubernetes.io/service-account.name]"]


def test_type_and_immutable_data_do_not_change() -> None:
    old = {"type": "Opaque", "immutable": True, "data": {"a": b64("1")}}
    new = {"type": "kubernetes.io/tls", "immutable": True,
           "data": {"a": b64("2"), "tls.crt": b64("c"), "tls.key": b64("k")}}
    assert sorted(fields(secret.validate(new, old))) == ["data", "type"]
