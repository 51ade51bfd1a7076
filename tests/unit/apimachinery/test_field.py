"""Field causes render their messages like Kubernetes' field.Error.ErrorBody()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery import _goformat, field
from servers.apimachinery.field import Cause


@pytest.mark.parametrize(
    ("cause", "reason", "message"),
    [
        (field.required("metadata.name", "name or generateName is required"),
         "FieldValueRequired", "Required value: name or generateName is required"),
        (field.required("metadata.namespace"), "FieldValueRequired", "Required value"),
        (field.invalid("metadata.generation", -1, "must be greater than or equal to 0"),
         "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0"),
        (field.invalid("spec.x", None, "y"), "FieldValueInvalid", "Invalid value: null: y"),
        (field.invalid("spec.x", True), "FieldValueInvalid", "Invalid value: true"),
        (field.invalid("spec.x", 1.5), "FieldValueInvalid", "Invalid value: 1.5"),
        (field.invalid("spec.x", ["a", 1]), "FieldValueInvalid", 'Invalid value: ["a",1]'),
        (field.invalid("spec.x", field.OMIT, "bad"), "FieldValueInvalid", "Invalid value: bad"),
        (field.not_supported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"]),
         "FieldValueNotSupported",
         'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
        (field.not_supported("spec.x", "y"), "FieldValueNotSupported", 'Unsupported value: "y"'),
        (field.duplicate("spec.containers[1].name", "c"), "FieldValueDuplicate",
         'Duplicate value: "c"'),
        (field.forbidden("metadata.namespace", "not allowed on this type"),
         "FieldValueForbidden", "Forbidden: not allowed on this type"),
        (field.too_long("metadata.annotations", 262144), "FieldValueTooLong",
         "Too long: may not be more than 262144 bytes"),
        (field.too_long("x", 1), "FieldValueTooLong", "Too long: may not be more than 1 byte"),
        (field.too_long("x", -1), "FieldValueTooLong", "Too long: value is too long"),
        (field.too_many("spec.x", 5, 3), "FieldValueTooMany",
         "Too many: 5: must have at most 3 items"),
        (field.too_many("spec.x", -1, 1), "FieldValueTooMany",
         "Too many: must have at most 1 item"),
        (field.not_found("spec.x", "y"), "FieldValueNotFound", 'Not found: "y"'),
        (field.internal("spec.x", "oops"), "InternalError", "Internal error: oops"),
        (field.type_invalid("spec.x", 3, "expected string"), "FieldValueTypeInvalid",
         "Invalid value: 3: expected string"),
    ],
)
def test_cause_messages(cause: Cause, reason: str, message: str) -> None:
    assert (cause.reason, cause.message) == (reason, message)


def test_cause_renders_as_status_cause_and_back() -> None:
    cause = field.invalid("metadata.name", "Bad_Name", "nope")
    as_dict = cause.to_dict()
    assert as_dict == {"reason": "FieldValueInvalid",
                       "message": 'Invalid value: "Bad_Name": nope', "field": "metadata.name"}
    assert list(as_dict) == ["reason", "message", "field"]
    assert Cause.from_dict(as_dict) == cause
    assert cause.error() == 'metadata.name: Invalid value: "Bad_Name": nope'
    assert Cause("r", "m").to_dict() == {"reason": "r", "message": "m"}
    assert Cause.from_dict({"reason": 1}) == Cause("", "", "")


@pytest.mark.parametrize(
    ("messages", "joined"),
    [([], ""), (["a"], "a"), (["a", "a"], "a"), (["a", "b", "a"], "[a, b]")],
)
def test_aggregate_like_error_list_to_aggregate(messages: list[str], joined: str) -> None:
    assert field.aggregate(messages) == joined


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("web", '"web"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
        ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
        ("\u200b\U000e0001", '"\\u200b\\U000e0001"'),
        ("héllo 😀", '"héllo 😀"'),
        ("\ud800", '"\ufffd"'),
    ],
)
def test_quote_matches_go_strconv_quote(text: str, quoted: str) -> None:
    assert _goformat.quote(text) == quoted


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1"), (1.5, "1.5"), (123456.0, "123456"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"),
     (0.0001, "0.0001"), (1e-05, "1e-05"), (-2.5e-7, "-2.5e-07"), (0.0, "0"), (-0.0, "-0"),
     (100.25, "100.25"), (1e100, "1e+100"), (float("inf"), "+Inf"), (float("nan"), "NaN")],
)
def test_floats_print_like_go_percent_v(number: float, text: str) -> None:
    assert _goformat.value(number) == text


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_text_reads_back_as_the_same_number(number: float) -> None:
    assert float(_goformat.value(number)) == number


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_quoted_text_is_one_line_and_delimited(text: str) -> None:
    quoted = _goformat.quote(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert "\n" not in quoted and "\r" not in quoted
