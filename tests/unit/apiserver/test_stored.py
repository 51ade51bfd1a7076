"""Objects read back as JSON bytes carry their resourceVersion without being decoded."""

from __future__ import annotations

import json

from servers.apiserver.storage.interface import KeyValue
from servers.apiserver.stored import decode, encode, raw


def kv(value: bytes, rev: int = 7) -> KeyValue:
    return KeyValue("/registry/pods/default/web", value, 3, rev)


def test_raw_equals_decoded_object() -> None:
    obj = {"spec": {"template": {"metadata": {"name": "inner"}}}, "kind": "Pod",
           "metadata": {"name": "web", "labels": {"a": "b"}}, "apiVersion": "v1"}
    stored = kv(encode(obj))
    assert stored.value.startswith(b'{"apiVersion":"v1","kind":"Pod","metadata":{')
    assert json.loads(raw(stored)) == decode(stored)
    assert json.loads(raw(stored))["spec"]["template"]["metadata"] == {"name": "inner"}


def test_raw_with_empty_metadata() -> None:
    stored = kv(encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {}}))
    assert json.loads(raw(stored))["metadata"] == {"resourceVersion": "7"}


def test_raw_falls_back_for_other_layouts() -> None:
    stored = kv(b'{"metadata":{"name":"x"},"kind":"Pod","apiVersion":"v1"}')
    assert json.loads(raw(stored))["metadata"] == {"name": "x", "resourceVersion": "7"}
