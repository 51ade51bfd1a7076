"""StatusError tree: Status bodies byte-for-byte as kube-apiserver sends them, and back."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery import errors, field
from servers.apimachinery.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PatchError,
    RequestEntityTooLarge,
    ServiceUnavailable,
    StatusError,
    Timeout,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    from_status,
)


def wire(error: StatusError) -> str:
    """The body as Go's encoding/json writes it (compact, members in struct order)."""
    return json.dumps(error.to_status(), separators=(",", ":"))


# Bodies recorded from kube-apiserver (or built by the named apimachinery constructor).
KUBE_BODIES = [
    (
        NotFound("pods", "web"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"pods \\"web\\" not found","reason":"NotFound",'
        '"details":{"name":"web","kind":"pods"},"code":404}',
    ),
    (
        NotFound("deployments", "x", group="apps"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"deployments.apps \\"x\\" not found","reason":"NotFound",'
        '"details":{"name":"x","group":"apps","kind":"deployments"},"code":404}',
    ),
    (
        AlreadyExists("pods", "web"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"pods \\"web\\" already exists","reason":"AlreadyExists",'
        '"details":{"name":"web","kind":"pods"},"code":409}',
    ),
    (
        Conflict("pods", "web"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"Operation cannot be fulfilled on pods \\"web\\": the object has been '
        'modified; please apply your changes to the latest version and try again",'
        '"reason":"Conflict","details":{"name":"web","kind":"pods"},"code":409}',
    ),
    (
        Invalid("Pod", "x", [field.required("spec.containers[0].image")]),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"Pod \\"x\\" is invalid: spec.containers[0].image: Required value",'
        '"reason":"Invalid","details":{"name":"x","kind":"Pod","causes":[{"reason":'
        '"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"}]},'
        '"code":422}',
    ),
    (
        Forbidden("pods", "", 'User "system:anonymous" cannot list resource "pods" in API '
                  'group "" in the namespace "default"'),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"pods is forbidden: User \\"system:anonymous\\" cannot list resource '
        '\\"pods\\" in API group \\"\\" in the namespace \\"default\\"","reason":"Forbidden",'
        '"details":{"kind":"pods"},"code":403}',
    ),
    (
        Unauthorized(),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"Unauthorized","reason":"Unauthorized","code":401}',
    ),
    (
        Gone(errors.TOO_OLD_RESOURCE_VERSION.format(requested=5, current=100)),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"too old resource version: 5 (100)","reason":"Expired","code":410}',
    ),
    (
        BadRequest("field label not supported: foo"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"field label not supported: foo","reason":"BadRequest","code":400}',
    ),
    (
        InternalError("boom"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"Internal error occurred: boom","reason":"InternalError",'
        '"details":{"causes":[{"message":"boom"}]},"code":500}',
    ),
    (
        PatchError("testing value /a failed: test failed"),
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"the server rejected our request due to an error in our request",'
        '"reason":"Invalid","details":{"causes":[{"reason":"UnexpectedServerResponse",'
        '"message":"testing value /a failed: test failed"}]},"code":422}',
    ),
]


@pytest.mark.parametrize(("error", "body"), KUBE_BODIES, ids=lambda x: type(x).__name__)
def test_status_body_is_byte_identical_to_kube_apiserver(error: StatusError, body: str) -> None:
    assert wire(error) == body


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NotFound("pods", "we\"b\n"), 'pods "we\\"b\\n" not found'),
        (AlreadyExists("pods", "web-x7k2p", generated=True),
         'pods "web-x7k2p" already exists, the server was not able to generate a unique name '
         "for the object"),
        (Conflict("pods", "web", "spec.nodeName already set"),
         'Operation cannot be fulfilled on pods "web": spec.nodeName already set'),
        (Forbidden(why="no"), "forbidden: no"),
        (Forbidden("pods", "web", "no"), 'pods "web" is forbidden: no'),
        (Unauthorized(""), "not authorized"),
        (MethodNotAllowed("bindings", "delete"),
         'delete is not supported on resources of kind "bindings"'),
        (MethodNotAllowed("deployments", "create", group="apps"),
         'create is not supported on resources of kind "deployments.apps"'),
        (NotAcceptable(["application/json", "application/yaml"]),
         "only the following media types are accepted: application/json, application/yaml"),
        (UnsupportedMediaType(["application/json-patch+json", "application/merge-patch+json"]),
         "the body of the request was in an unknown format - accepted media types include: "
         "application/json-patch+json, application/merge-patch+json"),
        (RequestEntityTooLarge("limit is 3145728"), "Request entity too large: limit is 3145728"),
        (Timeout("request did not complete within 60s", 2),
         "Timeout: request did not complete within 60s"),
        (ServiceUnavailable("apiserver is shutting down"), "apiserver is shutting down"),
        (Invalid("Pod", "x", []), 'Pod "x" is invalid'),
        (Invalid("Deployment", "d", [field.required("spec.selector")], group="apps"),
         'Deployment.apps "d" is invalid: spec.selector: Required value'),
    ],
)
def test_message_wording_matches_kubernetes(error: StatusError, message: str) -> None:
    assert error.message == message
    assert str(error) == message


def test_invalid_message_joins_several_causes_and_drops_duplicates() -> None:
    causes = [
        field.invalid("metadata.name", "Bad_Name", "x"),
        field.required("spec.containers"),
        field.invalid("metadata.name", "Bad_Name", "x"),
    ]
    error = Invalid("Pod", "Bad_Name", causes)
    assert error.message == (
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": x, '
        "spec.containers: Required value]"
    )
    assert len(error.to_status()["details"]["causes"]) == 3
    assert error.causes == causes


def test_codes_and_reasons_are_class_attributes() -> None:
    table: dict[type[StatusError], tuple[int, str]] = {
        BadRequest: (400, "BadRequest"), Unauthorized: (401, "Unauthorized"),
        Forbidden: (403, "Forbidden"), NotFound: (404, "NotFound"),
        MethodNotAllowed: (405, "MethodNotAllowed"), NotAcceptable: (406, "NotAcceptable"),
        AlreadyExists: (409, "AlreadyExists"), Conflict: (409, "Conflict"),
        Gone: (410, "Expired"), RequestEntityTooLarge: (413, "RequestEntityTooLarge"),
        UnsupportedMediaType: (415, "UnsupportedMediaType"), Invalid: (422, "Invalid"),
        PatchError: (422, "Invalid"), TooManyRequests: (429, "TooManyRequests"),
        InternalError: (500, "InternalError"), ServiceUnavailable: (503, "ServiceUnavailable"),
        Timeout: (504, "Timeout"),
    }
    for cls, (code, reason) in table.items():
        assert (cls.code, cls.reason) == (code, reason), cls
        assert issubclass(cls, StatusError)


def test_retry_after_seconds_and_empty_details_render_like_go() -> None:
    assert TooManyRequests("slow down", 3).to_status()["details"] == {"retryAfterSeconds": 3}
    assert TooManyRequests("slow down").to_status()["details"] == {}
    assert Timeout("late", 2).retry_after_seconds == 2
    assert AlreadyExists("pods", "a", generated=True).retry_after_seconds == 1
    assert "details" not in Gone("old").to_status()


def test_gone_carries_the_inconsistent_continue_token_in_metadata() -> None:
    error = Gone(errors.INCONSISTENT_CONTINUE, continue_token="tok")
    status = error.to_status()
    assert status["metadata"] == {"continue": "tok"}
    assert status["code"] == 410
    assert from_status(status).metadata == {"continue": "tok"}


def test_to_status_returns_a_fresh_dict_each_time() -> None:
    error = NotFound("pods", "web")
    error.to_status()["details"]["name"] = "changed"
    assert error.name == "web"


@pytest.mark.parametrize(("error", "_body"), KUBE_BODIES, ids=lambda x: type(x).__name__)
def test_errors_survive_copy_and_pickle(error: StatusError, _body: str) -> None:
    for clone in (copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
        assert clone.to_status() == error.to_status()
        assert isinstance(clone, StatusError)


def test_accessors_read_details() -> None:
    error = NotFound("deployments", "x", group="apps")
    assert (error.name, error.kind, error.group) == ("x", "deployments", "apps")
    assert error.causes == []
    assert error.retry_after_seconds == 0


@pytest.mark.parametrize(("error", "_body"), KUBE_BODIES, ids=lambda x: type(x).__name__)
def test_from_status_rebuilds_the_class(error: StatusError, _body: str) -> None:
    rebuilt = from_status(error.to_status())
    expected = Invalid if isinstance(error, PatchError) else type(error)
    assert type(rebuilt) is expected
    assert rebuilt.to_status() == error.to_status()
    assert str(rebuilt) == str(error)


@pytest.mark.parametrize(
    ("status", "cls", "code", "reason"),
    [
        ({"reason": "Gone", "code": 410, "message": "gone"}, Gone, 410, "Gone"),
        ({"reason": "SomethingNew", "code": 409}, Conflict, 409, "SomethingNew"),
        ({"reason": "ServerTimeout", "code": 500}, InternalError, 500, "ServerTimeout"),
        ({"code": 418}, StatusError, 418, ""),
        ({}, StatusError, 0, ""),
        ({"reason": 5, "code": "x", "details": [], "message": None}, StatusError, 0, ""),
        ({"reason": "NotFound", "code": 404, "details": {"causes": "bad"}}, NotFound, 404,
         "NotFound"),
    ],
)
def test_from_status_tolerates_unknown_and_malformed_bodies(
    status: dict[str, object], cls: type[StatusError], code: int, reason: str,
) -> None:
    error = from_status(status)
    assert type(error) is cls
    assert (error.code, error.reason) == (code, reason)
    assert error.causes == []


names = st.text(max_size=20)
any_error = st.one_of(
    st.builds(NotFound, names, names, names),
    st.builds(AlreadyExists, names, names, names, generated=st.booleans()),
    st.builds(Conflict, names, names, names, names),
    st.builds(Forbidden, names, names, names, group=names),
    st.builds(BadRequest, names),
    st.builds(Gone, names, continue_token=names),
    st.builds(TooManyRequests, names, st.integers(0, 100)),
    st.builds(Invalid, names, names, st.lists(st.builds(field.invalid, names, names, names))),
    st.builds(PatchError, names),
)


@settings(max_examples=150, deadline=None)
@given(any_error)
def test_round_trip_through_json_preserves_every_error(error: StatusError) -> None:
    body = json.loads(json.dumps(error.to_status()))
    rebuilt = from_status(body)
    assert rebuilt.to_status() == error.to_status()
    assert rebuilt.code == error.code
    assert isinstance(error, type(rebuilt))
