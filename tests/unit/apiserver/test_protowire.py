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
