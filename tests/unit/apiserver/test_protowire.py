"""The protobuf reader for the kinds kubectl's typed clients send, on kubectl 1.32's bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.apimachinery import errors
from servers.apiserver import protowire

#: ``kubectl auth can-i list pods``, as its -v=9 dump shows it.
CAN_I_LIST_PODS = (
    b"k8s\x00\x0a\x32\x0a\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview"
    b"\x12\x3d\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x008\x00B\x00"
    b"\x12\x1f\x0a\x1d\x0a\x07default\x12\x04list\x1a\x00\x22\x00\x2a\x04pods\x32\x00:\x00"
    b"\x1a\x08\x08\x00\x12\x00\x1a\x00\x20\x00\x1a\x00\x22\x00"
)


def test_kubectl_can_i_body_decodes_to_the_json_review() -> None:
    review = protowire.decode(CAN_I_LIST_PODS)
    assert review["apiVersion"] == "authorization.k8s.io/v1"
    assert review["kind"] == "SelfSubjectAccessReview"
    assert review["spec"] == {"resourceAttributes": {
        "namespace": "default", "verb": "list", "resource": "pods"}}
    assert review["metadata"] == {}


def test_subject_access_review_spec_carries_user_and_groups() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    spec = (field(2, field(1, b"/version") + field(2, b"get")) + field(3, b"bob")
            + field(4, b"a") + field(4, b"b"))
    type_meta = field(1, b"authorization.k8s.io/v1") + field(2, b"SubjectAccessReview")
    body = protowire.MAGIC + field(1, type_meta) + field(2, field(2, spec))
    assert protowire.decode(body)["spec"] == {
        "nonResourceAttributes": {"path": "/version", "verb": "get"},
        "user": "bob", "groups": ["a", "b"]}


def test_rules_review_spec_is_a_namespace() -> None:
    body = (protowire.MAGIC + b"\x0a\x31\x0a\x17authorization.k8s.io/v1"
            + b"\x12\x16SelfSubjectRulesReview\x12\x07\x12\x05\x0a\x03dev")
    review = protowire.decode(body)
    assert (review["kind"], review["spec"]) == ("SelfSubjectRulesReview", {"namespace": "dev"})


@pytest.mark.parametrize("body", [
    b"not-k8s", protowire.MAGIC + b"\x12\x05ab", protowire.MAGIC + b"\x0f",
    protowire.MAGIC + b"\x0a\x09\x0a\x02v1\x12\x03Pod\x12\x00",  # a Pod: JSON only
    CAN_I_LIST_PODS[:-5] + b"\xff\xff\x0a\x01\xff"])
def test_malformed_bodies_or_other_kinds_are_415(body: bytes) -> None:
    with pytest.raises(errors.UnsupportedMediaType):
        protowire.decode(body)


def test_a_rolebinding_from_kubectl_create_rolebinding() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    type_meta = field(1, b"rbac.authorization.k8s.io/v1") + field(2, b"RoleBinding")
    meta = field(1, b"rb") + field(11, field(1, b"app") + field(2, b"web"))
    subject = field(1, b"User") + field(2, b"rbac.authorization.k8s.io") + field(3, b"alice")
    ref = field(1, b"rbac.authorization.k8s.io") + field(2, b"Role") + field(3, b"reader")
    obj = field(1, meta) + field(2, subject) + field(3, ref)
    assert protowire.decode(protowire.MAGIC + field(1, type_meta) + field(2, obj)) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "rb", "labels": {"app": "web"}},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                      "name": "alice"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}}


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_415(tail: bytes) -> None:
    for body in (tail, protowire.MAGIC + tail, CAN_I_LIST_PODS[:40] + tail):
        try:
            decoded = protowire.decode(body)
        except errors.UnsupportedMediaType:
            continue
        assert isinstance(decoded, dict)


def _field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint or a length-delimited payload."""
    if isinstance(payload, int):
        return _varint_bytes(number << 3) + _varint_bytes(payload)
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_workload_kinds_as_kubectl_create_sends_them() -> None:
    labels = _field(11, _field(1, b"app") + _field(2, b"web"))
    container = (_field(1, b"nginx") + _field(2, b"nginx") + _field(3, b"sleep")
                 + _field(3, b"1") + _field(6, _field(2, 0) + _field(3, 80)))
    template = _field(1, labels) + _field(2, _field(2, container))
    spec = (_field(1, 3) + _field(2, _field(1, _field(1, b"app") + _field(2, b"web")))
            + _field(3, template) + _field(4, _field(1, b"")) + _field(5, 0))
    body = _field(1, _field(1, b"web") + labels) + _field(2, spec)
    envelope = protowire.MAGIC + _field(1, _field(1, b"apps/v1") + _field(2, b"Deployment")) + \
        _field(2, body)
    assert protowire.decode(envelope) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "nginx", "image": "nginx", "command": ["sleep", "1"],
                      "ports": [{"containerPort": 80}]}]}},
                 "strategy": {}}}
    pdb = _field(2, _field(1, _field(1, 1) + _field(3, b"50%")))
    envelope = protowire.MAGIC + _field(1, _field(1, b"policy/v1") + _field(
        2, b"PodDisruptionBudget")) + _field(2, _field(1, _field(1, b"p")) + pdb)
    assert protowire.decode(envelope)["spec"] == {"minAvailable": "50%"}
