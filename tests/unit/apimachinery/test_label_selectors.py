"""Label selectors: Kubernetes' grammar, messages and matching; nothing but BadRequest escapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.selectors import (
    EVERYTHING,
    NOTHING,
    LabelSelector,
    Requirement,
    label_selector_from_dict,
    label_selector_from_object,
    parse_label_selector,
)

LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
QUALIFIED_NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        ("z,y=b,x", "x,y=b,z"),
        ("x==a", "x==a"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("x in (b,a,b)", "x in (a,b)"),
        ("x in (a,)", "x in (,a)"),
        ("x in (,a)", "x in (,a)"),
        ("  app\t=\tweb ,\n tier in ( a , b ) ", "app=web,tier in (a,b)"),
        ("in in (in, notin)", "in in (in,notin)"),
        ("notin notin (notin)", "notin notin (notin)"),
        ("example.com/name=x,k8s.io/app", "example.com/name=x,k8s.io/app"),
        ("a=b\x00junk", None),
        ("a= \x00 junk", "a="),
    ],
)
def test_parse_and_canonical_string(text: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(BadRequest):
            parse_label_selector(text)
        return
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    assert parse_label_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a", None),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a notin", "unable to parse requirement: found '' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' "
                "operators, the value must be an integer"),
        ("x>1.5", "unable to parse requirement: values[0]: Invalid value: \"1.5\": for 'Gt', "
                  "'Lt' operators, the value must be an integer"),
        ("x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": "
                     + LABEL_VALUE_RULE),
        ("Bad_Key!=x", None),
        ("bad key=x", "unable to parse requirement: found 'key', expected: in, notin, =, ==, !=, "
                      "gt, lt"),
        ("-bad=x", "unable to parse requirement: <nil>: Invalid value: \"-bad\": "
                   + QUALIFIED_NAME_RULE),
        ("a=" + "v" * 64, "unable to parse requirement: values[0][a]: Invalid value: \""
                          + "v" * 64 + "\": must be no more than 63 characters"),
        ("x in (-a,b_)", "unable to parse requirement: [values[0][x]: Invalid value: \"-a\": "
                         + LABEL_VALUE_RULE + ", values[1][x]: Invalid value: \"b_\": "
                         + LABEL_VALUE_RULE + "]"),
        ("a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified "
                  "name must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                  "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                  "[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. "
                  "'example.com/MyName')"),
        ("/a", "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be "
               "non-empty"),
        ("Example.com/a", "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": "
                          "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                          "alphanumeric characters, '-' or '.', and must start and end with an "
                          "alphanumeric character (e.g. 'example.com', regex used for validation "
                          "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ("a/", "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be "
               "non-empty; " + QUALIFIED_NAME_RULE),
    ],
)
def test_malformed_selectors_fail_with_kubernetes_messages(text: str, message: str | None) -> None:
    if message is None:
        parse_label_selector(text)
        return
    with pytest.raises(BadRequest) as caught:
        parse_label_selector(text)
    assert caught.value.message == message
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("text", "labels", "selected"),
    [
        ("", {}, True),
        ("", {"a": "b"}, True),
        ("x=y", {"x": "y"}, True),
        ("x=y", {"x": "z"}, False),
        ("x=y", {}, False),
        ("x==y", {"x": "y", "z": "w"}, True),
        ("x!=y", {}, True),
        ("x!=y", {"x": "z"}, True),
        ("x!=y", {"x": "y"}, False),
        ("x in (a,b)", {"x": "b"}, True),
        ("x in (a,b)", {"x": "c"}, False),
        ("x in (a,b)", {}, False),
        ("x notin (a)", {}, True),
        ("x notin (a)", {"x": "a"}, False),
        ("x in ()", {"x": ""}, True),
        ("x in ()", {"x": "a"}, False),
        ("x=", {"x": ""}, True),
        ("x=", {}, False),
        ("x", {"x": ""}, True),
        ("x", {"y": "x"}, False),
        ("!x", {}, True),
        ("!x", {"x": "1"}, False),
        ("x>1", {"x": "2"}, True),
        ("x>1", {"x": "1"}, False),
        ("x>1", {"x": "a"}, False),
        ("x>1", {"x": "+2"}, True),
        ("x>1", {"x": "2 "}, False),
        ("x>1", {"x": "9223372036854775808"}, False),
        ("x>1", {}, False),
        ("x<1", {"x": "0"}, True),
        ("x<1", {"x": "-5"}, True),
        ("app=web,tier!=db,!canary", {"app": "web", "tier": "fe"}, True),
        ("app=web,tier!=db,!canary", {"app": "web", "canary": "1"}, False),
    ],
)
def test_matching(text: str, labels: dict[str, str], selected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is selected


def test_everything_nothing_and_none_labels() -> None:
    assert EVERYTHING.matches(None) and EVERYTHING.empty()
    assert not NOTHING.matches({}) and not NOTHING.empty()
    assert parse_label_selector("") == EVERYTHING
    assert not parse_label_selector("!x").empty()
    assert parse_label_selector("!x").matches(None)


def test_from_dict_is_the_equality_selector() -> None:
    selector = label_selector_from_dict({"tier": "fe", "app": "web"})
    assert str(selector) == "app=web,tier=fe"
    assert selector.matches({"app": "web", "tier": "fe", "x": "y"})
    assert not selector.matches({"app": "web"})
    assert label_selector_from_dict({}) == EVERYTHING
    assert label_selector_from_dict(None).empty()
    with pytest.raises(BadRequest, match=r"^values\[0\]\[app\]: Invalid value: \"we b\""):
        label_selector_from_dict({"app": "we b"})
    with pytest.raises(BadRequest, match=r"^key: Invalid value: \"b@d\""):
        label_selector_from_dict({"b@d": "x"})


def test_from_object_is_label_selector_as_selector() -> None:
    selector = label_selector_from_object({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "team", "operator": "Exists"},
        ],
    })
    assert str(selector) == "app=web,!canary,env notin (prod),team,tier in (be,fe)"
    assert selector.matches({"app": "web", "tier": "be", "team": "x"})
    assert not selector.matches({"app": "web", "tier": "be"})
    assert label_selector_from_object(None) == NOTHING
    assert label_selector_from_object({}) == EVERYTHING


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
         '"Gt" is not a valid label selector operator'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
         "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
         'values: Invalid value: ["x"]: values set must be empty for exists and does not exist'),
        ({"matchExpressions": [{"key": 5, "operator": "Exists"}]}, None),
        ({"matchExpressions": ["a"]}, None),
        ({"matchExpressions": {}}, None),
        ({"matchLabels": []}, None),
        ({"matchLabels": {"a": 1}}, None),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, None),
    ],
)
def test_from_object_rejects_bad_selectors(selector: dict[str, object], message: str | None,
                                           ) -> None:
    with pytest.raises(BadRequest) as caught:
        label_selector_from_object(selector)
    if message is not None:
        assert caught.value.message == message


# -- properties --------------------------------------------------------------------------------

SELECTOR_ALPHABET = "ab=!(),<> \t\n\x00inot-._/019AZ"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=SELECTOR_ALPHABET, max_size=40)))
def test_any_text_parses_or_raises_bad_request(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except BadRequest as err:
        assert err.message
        return
    assert isinstance(selector, LabelSelector)
    assert parse_label_selector(str(selector)) == selector


keys = st.from_regex(r"([a-z]{1,5}(\.[a-z]{1,5})?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,4}[A-Za-z0-9])?",
                     fullmatch=True)
values = st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,4}[A-Za-z0-9])?)?", fullmatch=True)
requirements = st.one_of(
    st.builds(lambda k, v: Requirement(k, "=", (v,)), keys, values),
    st.builds(lambda k, v: Requirement(k, "!=", (v,)), keys, values),
    st.builds(lambda k, vs: Requirement(k, "in", tuple(sorted(set(vs)))), keys,
              st.lists(values, min_size=1, max_size=3)),
    st.builds(lambda k, vs: Requirement(k, "notin", tuple(sorted(set(vs)))), keys,
              st.lists(values, min_size=1, max_size=3)),
    st.builds(lambda k: Requirement(k, "exists"), keys),
    st.builds(lambda k: Requirement(k, "!"), keys),
    st.builds(lambda k, n: Requirement(k, "gt", (str(n),)), keys, st.integers(0, 99)),
    st.builds(lambda k, n: Requirement(k, "lt", (str(n),)), keys, st.integers(0, 99)),
)


def reference_match(requirement: Requirement, labels: dict[str, str]) -> bool:
    """The meaning of each operator, spelled out independently of the implementation."""
    key, op, vals = requirement.key, requirement.operator, requirement.values
    if op in ("=", "in"):
        return key in labels and labels[key] in vals
    if op in ("!=", "notin"):
        return key not in labels or labels[key] not in vals
    if op == "exists":
        return key in labels
    if op == "!":
        return key not in labels
    if key not in labels or not labels[key].isdigit():
        return False
    return int(labels[key]) > int(vals[0]) if op == "gt" else int(labels[key]) < int(vals[0])


@settings(max_examples=120, deadline=None)
@given(st.lists(requirements, max_size=4),
       st.dictionaries(keys, st.one_of(values, st.integers(0, 99).map(str)), max_size=4))
def test_printed_selectors_parse_back_and_match_like_the_reference(
    reqs: list[Requirement], labels: dict[str, str],
) -> None:
    text = ",".join(str(requirement) for requirement in reqs)
    selector = parse_label_selector(text)
    assert sorted(selector.requirements, key=str) == sorted(reqs, key=str)
    assert selector.matches(labels) == all(reference_match(r, labels) for r in reqs)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=4),
       st.dictionaries(keys, values, max_size=4))
def test_dict_selector_matches_exactly_the_supersets(
    match_labels: dict[str, str], labels: dict[str, str],
) -> None:
    selected = label_selector_from_dict(match_labels).matches(labels)
    assert selected == (match_labels.items() <= labels.items())
    assert label_selector_from_dict(match_labels).matches({**labels, **match_labels})


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["matchLabels", "matchExpressions", "key", "operator", "values", "a"]),
        inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(junk)
def test_any_json_as_a_label_selector_object_converts_or_raises_bad_request(
    selector: object,
) -> None:
    try:
        converted = label_selector_from_object(selector)  # type: ignore[arg-type]
    except BadRequest:
        return
    assert isinstance(converted, LabelSelector)


@settings(max_examples=100, deadline=None)
@given(junk)
def test_any_json_as_a_selector_map_converts_or_raises_bad_request(match_labels: object) -> None:
    try:
        converted = label_selector_from_dict(match_labels)  # type: ignore[arg-type]
    except BadRequest:
        return
    assert isinstance(converted, LabelSelector)
