"""Name rules and metadata validation, message for message as Kubernetes words them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery import field, validation
from servers.apimachinery.errors import BadRequest, Invalid
from servers.apimachinery.field import Cause
from servers.apimachinery.validation import (
    expect_type,
    generate_name,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_RULE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def test_the_invalid_pod_name_message_is_kubernetes_own() -> None:
    causes = validate_object_meta({"name": "Bad_Name", "namespace": "default"},
                                  namespaced=True, name_rule=name_is_dns_subdomain)
    assert str(Invalid("Pod", "Bad_Name", causes)) == (
        'Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ' + SUBDOMAIN_RULE)


@pytest.mark.parametrize(
    ("rule", "value", "problems"),
    [
        (is_dns1123_subdomain, "web", []),
        (is_dns1123_subdomain, "a.b-c.d", []),
        (is_dns1123_subdomain, "Bad_Name", [SUBDOMAIN_RULE]),
        (is_dns1123_subdomain, "", [SUBDOMAIN_RULE]),
        (is_dns1123_subdomain, "a" * 253, []),
        (is_dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
        (is_dns1123_subdomain, "A" * 254, ["must be no more than 253 characters", SUBDOMAIN_RULE]),
        (is_dns1123_subdomain, "web\n", [SUBDOMAIN_RULE]),
        (is_dns1123_label, "default", []),
        (is_dns1123_label, "a.b", ["must not contain dots"]),
        (is_dns1123_label, "Default", [LABEL_RULE]),
        (is_dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
        (is_dns1035_label, "my-svc", []),
        (is_dns1035_label, "1svc", [DNS1035_RULE]),
        (is_qualified_name, "app", []),
        (is_qualified_name, "example.com/App_1.x", []),
        (is_qualified_name, "-app", [NAME_PART_RULE]),
        (is_qualified_name, "", ["name part must be non-empty", NAME_PART_RULE]),
        (is_qualified_name, "a" * 64, ["name part must be no more than 63 characters"]),
        (is_qualified_name, "/a", ["prefix part must be non-empty"]),
        (is_qualified_name, "Ex.com/a", ["prefix part " + SUBDOMAIN_RULE]),
        (is_valid_label_value, "", []),
        (is_valid_label_value, "My_value-1.x", []),
        (is_valid_label_value, "é", [
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', "
            " or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
    ],
)
def test_string_rules(rule: object, value: str, problems: list[str]) -> None:
    assert rule(value) == problems  # type: ignore[operator]


def test_lengths_are_utf8_bytes_like_go() -> None:
    assert is_valid_label_value("é" * 32)[0] == "must be no more than 63 characters"


@pytest.mark.parametrize(
    ("rule", "prefix", "valid"),
    [
        (name_is_dns_subdomain, "web-", True),
        (name_is_dns_subdomain, "a-", True),
        (name_is_dns_subdomain, "-", False),
        (name_is_dns_subdomain, "Web-", False),
        # Upstream's mask drops two characters, so "a.-" passes as a prefix although every
        # name generated from it is invalid. Reproduced on purpose.
        (name_is_dns_subdomain, "a.-", True),
        (name_is_dns_label, "ns-", True),
        (name_is_dns1035_label, "svc-", True),
        (name_is_dns1035_label, "1a-", False),
    ],
)
def test_generate_name_prefixes_may_end_in_a_dash(rule: validation.NameRule, prefix: str,
                                                  valid: bool) -> None:
    assert (rule(prefix, True) == []) is valid
    if prefix.endswith("-") and len(prefix) > 1:
        assert rule(prefix, False) != []


def test_generate_name_appends_five_characters_from_kubernetes_alphabet() -> None:
    names = {generate_name("web-") for _ in range(50)}
    assert len(names) > 1
    for name in names:
        assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    assert len(generate_name("x" * 100)) == 63
    assert generate_name("x" * 100).startswith("x" * 58)


# -- object metadata ---------------------------------------------------------------------------

def meta_causes(meta: object, namespaced: bool = True) -> list[tuple[str, str, str]]:
    causes = validate_object_meta(meta, namespaced=namespaced, name_rule=name_is_dns_subdomain)
    return [(cause.field, cause.reason, cause.message) for cause in causes]


def test_valid_metadata_has_no_causes() -> None:
    meta = {
        "name": "web", "namespace": "default", "generation": 1,
        "labels": {"app": "web", "example.com/tier": ""},
        "annotations": {"Example.com/Note": "x" * 1000},
        "finalizers": ["example.com/cleanup"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController",
                             "name": "rc", "uid": "u1", "controller": True}],
    }
    assert meta_causes(meta) == []
    assert meta_causes({"name": "node1"}, namespaced=False) == []


@pytest.mark.parametrize(
    ("meta", "namespaced", "expected"),
    [
        ({"namespace": "default"}, True,
         [("metadata.name", "FieldValueRequired",
           "Required value: name or generateName is required")]),
        (None, False,
         [("metadata.name", "FieldValueRequired",
           "Required value: name or generateName is required")]),
        ({"name": "web"}, True, [("metadata.namespace", "FieldValueRequired", "Required value")]),
        ({"name": "web", "namespace": "Default"}, True,
         [("metadata.namespace", "FieldValueInvalid", 'Invalid value: "Default": ' + LABEL_RULE)]),
        ({"name": "n1", "namespace": "default"}, False,
         [("metadata.namespace", "FieldValueForbidden", "Forbidden: not allowed on this type")]),
        ({"name": "Web-", "generateName": "Web-", "namespace": "d"}, True,
         [("metadata.generateName", "FieldValueInvalid", 'Invalid value: "Web-": '
           + SUBDOMAIN_RULE),
          ("metadata.name", "FieldValueInvalid", 'Invalid value: "Web-": ' + SUBDOMAIN_RULE)]),
        ({"name": "w", "namespace": "d", "generation": -1}, True,
         [("metadata.generation", "FieldValueInvalid",
           "Invalid value: -1: must be greater than or equal to 0")]),
        ({"name": "w", "namespace": "d", "labels": {"-a": "b c"}}, True,
         [("metadata.labels", "FieldValueInvalid", 'Invalid value: "-a": ' + NAME_PART_RULE),
          ("metadata.labels", "FieldValueInvalid", 'Invalid value: "b c": a valid label must be '
           "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
           "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
           "'12345', regex used for validation is "
           "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
        ({"name": "w", "namespace": "d", "annotations": {"a": "x" * (256 * 1024)}}, True,
         [("metadata.annotations", "FieldValueTooLong",
           "Too long: may not be more than 262144 bytes")]),
        ({"name": "w", "namespace": "d", "annotations": {"a b": ""}}, True,
         [("metadata.annotations", "FieldValueInvalid", 'Invalid value: "a b": '
           + NAME_PART_RULE)]),
        ({"name": "w", "namespace": "d", "finalizers": ["orphan", "foregroundDeletion"]}, True,
         [("metadata.finalizers", "FieldValueInvalid", 'Invalid value: ["orphan",'
           '"foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set')]),
        ({"name": "w", "namespace": "d", "finalizers": ["a/b/c"]}, True,
         [("metadata.finalizers", "FieldValueInvalid", 'Invalid value: "a/b/c": a qualified '
           "name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
           "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
           "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
           "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")]),
    ],
)
def test_metadata_causes(meta: object, namespaced: bool,
                         expected: list[tuple[str, str, str]]) -> None:
    assert meta_causes(meta, namespaced) == expected


def test_owner_references() -> None:
    refs = [
        {"apiVersion": "", "kind": "", "name": "", "uid": ""},
        {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1",
         "controller": True},
        {"apiVersion": "v1", "kind": "ReplicationController", "name": "b", "uid": "2",
         "controller": True},
    ]
    causes = meta_causes({"name": "w", "namespace": "d", "ownerReferences": refs})
    messages = [(path, message.split(":")[0] + ": ..." + message.rsplit(":", 1)[1])
                for path, _, message in causes]
    assert messages == [
        ("metadata.ownerReferences.apiVersion", "Invalid value: ... version must not be empty"),
        ("metadata.ownerReferences.kind", "Invalid value: ... kind must not be empty"),
        ("metadata.ownerReferences.name", "Invalid value: ... name must not be empty"),
        ("metadata.ownerReferences.uid", "Invalid value: ... uid must not be empty"),
        ("metadata.ownerReferences", "Invalid value: ... /v1, Kind=Event is disallowed from "
                                     "being an owner"),
        ("metadata.ownerReferences", "Invalid value: ... Only one reference can have Controller "
                                     'set to true. Found "true" in references for ReplicaSet/a '
                                     "and ReplicationController/b"),
    ]


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("x", "json: cannot unmarshal string into Go struct field metadata of type object"),
        ({"name": 5}, "json: cannot unmarshal number into Go struct field metadata.name of type "
                      "string"),
        ({"name": "w", "labels": []}, "json: cannot unmarshal array into Go struct field "
                                      "metadata.labels of type object"),
        ({"name": "w", "labels": {"a": True}}, "json: cannot unmarshal bool into Go struct field "
                                               "metadata.labels[a] of type string"),
        ({"name": "w", "generation": 1.5}, "json: cannot unmarshal number into Go struct field "
                                           "metadata.generation of type int64"),
        ({"name": "w", "finalizers": [1]}, "json: cannot unmarshal number into Go struct field "
                                           "metadata.finalizers[0] of type string"),
        ({"name": "w", "ownerReferences": [[]]}, "json: cannot unmarshal array into Go struct "
                                                 "field metadata.ownerReferences[0] of type "
                                                 "object"),
    ],
)
def test_wrong_json_types_are_bad_requests(meta: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        meta_causes(meta, namespaced=False)
    assert caught.value.message == message


def test_expect_type() -> None:
    assert expect_type("x", (str,), "f") == "x"
    assert expect_type(1, (float,), "f") == 1
    assert expect_type(None, (str, type(None)), "f") is None
    with pytest.raises(BadRequest, match=r"cannot unmarshal bool into Go struct field f of type "
                                         r"int64$"):
        expect_type(True, (int,), "f")
    with pytest.raises(BadRequest, match=r"of type string$"):
        expect_type(1, (str, type(None)), "f")
    assert expect_type(False, (bool,), "f") is False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
    | st.text(alphabet="ab-./_A ", max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "namespace", "generateName", "labels", "annotations",
                         "finalizers", "ownerReferences", "generation", "kind", "uid",
                         "apiVersion", "controller", "a"]), inner, max_size=5),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(json_values, st.booleans())
def test_any_json_metadata_gives_causes_or_a_bad_request(meta: object, namespaced: bool) -> None:
    try:
        causes = validate_object_meta(meta, namespaced=namespaced, name_rule=name_is_dns_label)
    except BadRequest:
        return
    assert all(isinstance(cause, Cause) for cause in causes)


# -- update ------------------------------------------------------------------------------------

OLD = {"name": "web", "namespace": "d", "uid": "u1", "resourceVersion": "5", "generation": 2,
       "creationTimestamp": "2026-11-28T12:00:00Z", "finalizers": ["a"]}


def update_causes(changes: dict[str, object], old: dict[str, object] = OLD,
                  ) -> list[tuple[str, str]]:
    new = {**old, **changes}
    return [(cause.field, cause.message) for cause in validate_object_meta_update(new, old)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"labels": {"app": "x"}, "generation": 3}, []),
        ({"resourceVersion": ""},
         [("metadata.resourceVersion", 'Invalid value: "": must be specified for an update')]),
        ({"generation": 1},
         [("metadata.generation", "Invalid value: 1: must not be decremented")]),
        ({"name": "other"}, [("metadata.name", 'Invalid value: "other": field is immutable')]),
        ({"uid": None}, [("metadata.uid", "Invalid value: null: field is immutable")]),
        ({"namespace": "e", "creationTimestamp": "2026-11-28T12:00:01Z"},
         [("metadata.namespace", 'Invalid value: "e": field is immutable'),
          ("metadata.creationTimestamp",
           'Invalid value: "2026-11-28T12:00:01Z": field is immutable')]),
        ({"labels": {"a": "-"}}, [("metadata.labels", field.invalid(
            "", "-", validation.is_valid_label_value("-")[0]).message)]),
    ],
)
def test_update_rules(changes: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert update_causes(changes) == expected


def test_no_new_finalizers_once_deleting() -> None:
    deleting = {**OLD, "deletionTimestamp": "2026-11-28T12:00:00Z"}
    assert update_causes({"finalizers": ["a", "c", "b"]}, deleting) == [
        ("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is "
                                'being deleted, found new finalizers []string{"b", "c"}')]
    assert update_causes({"finalizers": []}, deleting) == []
    assert update_causes({"finalizers": ["a", "b"]}) == []


# -- properties against reference definitions written out here ---------------------------------

LOWER = set("abcdefghijklmnopqrstuvwxyz0123456789")
ALNUM = LOWER | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def reference_label(text: str) -> bool:
    return (0 < len(text) <= 63 and set(text) <= LOWER | {"-"}
            and text[0] in LOWER and text[-1] in LOWER)


def reference_subdomain(text: str) -> bool:
    return len(text) <= 253 and all(reference_label(part) for part in text.split("."))


def reference_qualified_name(text: str) -> bool:
    prefix, _, name = text.rpartition("/")
    if "/" in prefix or (text.count("/") == 1 and not reference_subdomain(prefix)):
        return False
    return (0 < len(name) <= 63 and set(name) <= ALNUM | set("-_.")
            and name[0] in ALNUM and name[-1] in ALNUM)


def reference_label_value(text: str) -> bool:
    return text == "" or ("/" not in text and reference_qualified_name(text))


names = st.one_of(st.text(max_size=12), st.text(alphabet="aZ09-._/é", max_size=12),
                  st.from_regex(r"[a-z0-9]{1,70}(\.[a-z0-9-]{1,70}){0,4}", fullmatch=True))


@settings(max_examples=200, deadline=None)
@given(names)
def test_string_rules_agree_with_their_definitions(text: str) -> None:
    assert (is_dns1123_label(text) == []) == reference_label(text)
    assert (is_dns1123_subdomain(text) == []) == reference_subdomain(text)
    assert (is_qualified_name(text) == []) == reference_qualified_name(text)
    assert (is_valid_label_value(text) == []) == reference_label_value(text)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z0-9][-a-z0-9]{0,60}", fullmatch=True))
def test_a_prefix_that_validates_generates_a_valid_name(prefix: str) -> None:
    if name_is_dns_subdomain(prefix, True) == []:
        assert name_is_dns_subdomain(generate_name(prefix), False) == []
