"""The protobuf reader for access reviews, on the exact bytes kubectl 1.32 sends."""

from __future__ import annotations

import pytest

from servers.apimachinery import errors
from servers.apiserver.authz import _proto

#: ``kubectl auth can-i list pods``, as its -v=9 dump shows it.
CAN_I_LIST_PODS = (
    b"k8s\x00\x0a\x32\x0a\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview"
    b"\x12\x3d\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x008\x00B\x00"
    b"\x12\x1f\x0a\x1d\x0a\x07default\x12\x04list\x1a\x00\x22\x00\x2a\x04pods\x32\x00:\x00"
    b"\x1a\x08\x08\x00\x12\x00\x1a\x00\x20\x00\x1a\x00\x22\x00"
)


def test_kubectl_can_i_body_decodes_to_the_json_review() -> None:
    review = _proto.decode_review(CAN_I_LIST_PODS)
    assert review["apiVersion"] == "authorization.k8s.io/v1"
    assert review["kind"] == "SelfSubjectAccessReview"
    assert review["spec"] == {"resourceAttributes": {
        "namespace": "default", "verb": "list", "group": "", "version": "",
        "resource": "pods", "subresource": "", "name": ""}}


def test_subject_access_review_spec_carries_user_and_groups() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    spec = (field(2, field(1, b"/version") + field(2, b"get")) + field(3, b"bob")
            + field(4, b"a") + field(4, b"b"))
    body = _proto.MAGIC + field(2, field(2, spec))
    assert _proto.decode_review(body)["spec"] == {
        "nonResourceAttributes": {"path": "/version", "verb": "get"},
        "user": "bob", "groups": ["a", "b"]}


def test_rules_review_spec_is_a_namespace() -> None:
    body = (_proto.MAGIC + b"\x0a\x1a\x0a\x00\x12\x16SelfSubjectRulesReview"
            + b"\x12\x07\x12\x05\x0a\x03dev")
    review = _proto.decode_review(body)
    assert (review["kind"], review["spec"]) == ("SelfSubjectRulesReview", {"namespace": "dev"})


@pytest.mark.parametrize("body", [b"not-k8s", _proto.MAGIC + b"\x12\x05ab",
                                  _proto.MAGIC + b"\x0f"])
def test_malformed_bodies_are_bad_requests(body: bytes) -> None:
    with pytest.raises(errors.BadRequest):
        _proto.decode_review(body)
