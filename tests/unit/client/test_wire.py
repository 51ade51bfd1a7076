"""Wire rules without a socket: Status bodies → exceptions, watch lines → events, queries."""

from __future__ import annotations

import json

import pytest

from servers.apimachinery import errors
from servers.apimachinery.field import invalid
from servers.client._wire import EventDecoder, decode, query, status_error
from servers.client.errors import BadResponse

STATUS_ERRORS = [
    errors.NotFound("pods", "web"),
    errors.AlreadyExists("pods", "web"),
    errors.Conflict("pods", "web"),
    errors.Invalid("Pod", "web", [invalid("spec.containers[0].image", "", "Required value")]),
    errors.Gone(errors.EXPIRED_WATCH),
    errors.BadRequest("field label not supported: foo"),
    errors.Forbidden("pods", "web", "no"),
    errors.UnsupportedMediaType(["application/json"]),
    errors.InternalError("boom"),
]


@pytest.mark.parametrize("error", STATUS_ERRORS, ids=lambda e: type(e).__name__)
def test_status_body_is_rebuilt_into_the_same_error(error: errors.StatusError) -> None:
    body = json.dumps(error.to_status()).encode()
    rebuilt = status_error(error.code, body)
    assert type(rebuilt) is type(error)
    assert (rebuilt.code, rebuilt.reason, str(rebuilt)) == (error.code, error.reason, str(error))
    assert rebuilt.details == error.details


def test_invalid_keeps_its_causes() -> None:
    error = errors.Invalid("Pod", "web", [invalid("metadata.name", "X", "bad name")])
    rebuilt = status_error(422, json.dumps(error.to_status()).encode())
    assert [cause.field for cause in rebuilt.causes] == ["metadata.name"]


def test_reason_gone_is_gone_too() -> None:
    body = {"kind": "Status", "status": "Failure", "reason": "Gone", "code": 410, "message": "x"}
    assert isinstance(status_error(410, json.dumps(body).encode()), errors.Gone)


def test_status_without_code_takes_the_http_one() -> None:
    body = {"kind": "Status", "status": "Failure", "message": "gone fishing"}
    error = status_error(404, json.dumps(body).encode())
    assert isinstance(error, errors.NotFound) and error.code == 404


@pytest.mark.parametrize(("code", "body", "cls", "message"), [
    (500, b"Traceback...\n oops", errors.InternalError, "HTTP 500: Traceback... oops"),
    (503, b"", errors.ServiceUnavailable, "HTTP 503"),
    (404, b"404: Not Found", errors.NotFound, "HTTP 404: 404: Not Found"),
    (502, b"<html>bad gateway</html>", errors.StatusError, "HTTP 502: <html>bad gateway"),
    (400, b'{"kind": "Pod"}', errors.BadRequest, "HTTP 400"),
    (500, b"x" * 5000, errors.InternalError, "HTTP 500: " + "x" * 200),
])
def test_non_status_bodies_map_by_code_with_a_clear_message(
        code: int, body: bytes, cls: type[errors.StatusError], message: str) -> None:
    error = status_error(code, body)
    assert type(error) is cls and error.code == code
    assert str(error).startswith(f"the server responded with {message}")
    assert len(str(error)) < 300


def test_decode_refuses_a_body_that_is_not_json() -> None:
    assert decode(b"", "GET /x") is None
    with pytest.raises(BadResponse, match="GET /x: the response is not JSON"):
        decode(b"<html>", "GET /x")


def test_query_leaves_out_none_and_spells_booleans_like_go() -> None:
    assert query(watch=True, limit=5, labelSelector=None, force=False) == {
        "watch": "true", "limit": "5", "force": "false"}


EVENTS = [("ADDED", {"metadata": {"name": "a", "resourceVersion": "1"}}),
          ("BOOKMARK", {"metadata": {"resourceVersion": "2"}}),
          ("DELETED", {"metadata": {"name": "ü", "resourceVersion": "3"}})]
STREAM = b"".join(json.dumps({"type": t, "object": o}).encode() + b"\n" for t, o in EVENTS)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_events_survive_any_chunking(size: int) -> None:
    decoder = EventDecoder("WATCH /x")
    got = []
    for start in range(0, len(STREAM), size):
        got += decoder.feed(STREAM[start:start + size])
    assert got + decoder.close() == EVENTS


def test_last_event_without_newline_comes_out_at_close() -> None:
    decoder = EventDecoder("WATCH /x")
    assert decoder.feed(STREAM.rstrip(b"\n")) == EVENTS[:2]
    assert decoder.close() == EVENTS[2:]
    assert decoder.close() == []


@pytest.mark.parametrize("line", [b"not json", b'{"type": "ADDED"}', b'{"object": {}}',
                                  b'["ADDED", {}]', b'{"type": 1, "object": {}}'])
def test_a_line_that_is_no_event_is_a_bad_response(line: bytes) -> None:
    with pytest.raises(BadResponse, match="WATCH /x: not a watch event"):
        EventDecoder("WATCH /x").feed(line + b"\n")
