"""JSON patch and merge patch: the RFCs' own examples, kube-apiserver's error classes, and
properties checked against reference semantics written out below."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery.errors import BadRequest, Invalid, RequestEntityTooLarge, StatusError
from servers.apimachinery.patch import (
    MAX_JSON_PATCH_OPERATIONS,
    PatchError,
    json_equal,
    json_patch,
    merge_patch,
)

# -- RFC 6902 appendix A -----------------------------------------------------------------------

RFC6902_EXAMPLES = [
    ("A.1", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ("A.2", {"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ("A.4", {"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ("A.5", {"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6", {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7", {"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.9", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], PatchError),
    ("A.10", {"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.12", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], PatchError),
    ("A.14", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}],
     {"/": 9, "~1": 10}),
    ("A.15", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], PatchError),
    ("A.16", {"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), [case[1:] for case in RFC6902_EXAMPLES],
                         ids=[case[0] for case in RFC6902_EXAMPLES])
def test_rfc6902_appendix_a(doc: Any, ops: list[Any], expected: Any) -> None:
    if expected is PatchError:
        with pytest.raises(PatchError):
            json_patch(doc, ops)
    else:
        assert json_patch(doc, ops) == expected


RFC6901_DOC = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5,
               'k"l': 6, " ": 7, "m~n": 8}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [("", RFC6901_DOC), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
     ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8)],
)
def test_rfc6901_section_5_pointers(pointer: str, value: Any) -> None:
    assert json_patch(RFC6901_DOC, [{"op": "test", "path": pointer, "value": value}]) == RFC6901_DOC


# -- RFC 7386 appendix A -----------------------------------------------------------------------

RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), RFC7386_EXAMPLES)
def test_rfc7386_appendix_a(doc: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(doc, patch) == expected


def test_kubectl_scale_merge_patch() -> None:
    scale = {"kind": "Scale", "spec": {"replicas": 1}, "status": {"replicas": 1}}
    assert merge_patch(scale, {"spec": {"replicas": 3}})["spec"] == {"replicas": 3}


# -- errors as kube-apiserver classifies them --------------------------------------------------

@pytest.mark.parametrize(
    ("ops", "error", "message"),
    [
        ({"op": "add"}, BadRequest,
         "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ([1], BadRequest,
         "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
        ([{"op": "frob", "path": "/a"}], PatchError, "Unexpected kind: frob"),
        ([{"path": "/a"}], PatchError, "Unexpected kind: unknown"),
        ([{"op": ["add"], "path": "/a"}], PatchError, "Unexpected kind: unknown"),
        ([{"op": "add", "path": "/a"}], PatchError, 'add operation does not apply: "value" is '
                                                    "missing"),
        ([{"op": "add", "value": 1}], PatchError, 'add operation does not apply: "path" is '
                                                  "missing or not a string"),
        ([{"op": "move", "path": "/a"}], PatchError, 'move operation does not apply: "from" is '
                                                     "missing or not a string"),
        ([{"op": "add", "path": "a", "value": 1}], PatchError, 'invalid JSON pointer: "a"'),
        ([{"op": "add", "path": "/a~2", "value": 1}], PatchError, 'invalid JSON pointer: "/a~2"'),
        ([{"op": "remove", "path": "/x"}], PatchError,
         'remove operation does not apply: doc is missing path: "/x": missing value'),
        ([{"op": "replace", "path": "/x", "value": 1}], PatchError,
         'replace operation does not apply: doc is missing path: "/x": missing value'),
        ([{"op": "add", "path": "/x/y", "value": 1}], PatchError,
         'add operation does not apply: doc is missing path: "/x": missing value'),
        ([{"op": "add", "path": "/a/y", "value": 1}], PatchError,
         'add operation does not apply: doc is missing path: "/a/y": missing value'),
        ([{"op": "add", "path": "/l/5", "value": 1}], PatchError,
         "Unable to access invalid index: 5: invalid index referenced (/l/5)"),
        ([{"op": "add", "path": "/l/01", "value": 1}], PatchError,
         "Unable to access invalid index: 01: invalid index referenced (/l/01)"),
        ([{"op": "remove", "path": "/l/-"}], PatchError,
         'remove operation does not apply: doc is missing path: "/l/-": missing value'),
        ([{"op": "remove", "path": ""}], PatchError,
         "remove operation does not apply: cannot remove the whole document"),
        ([{"op": "move", "from": "/o", "path": "/o/p"}], PatchError,
         'move operation does not apply: "from" /o is a parent of "path" /o/p'),
        ([{"op": "copy", "from": "/nope", "path": "/b"}], PatchError,
         'copy operation does not apply: doc is missing path: "/nope": missing value'),
        ([{"op": "test", "path": "/t", "value": 1}], PatchError,
         "testing value /t failed: test failed"),
        ([{"op": "test", "path": "/nope", "value": None}], PatchError,
         "testing value /nope failed: test failed"),
    ],
)
def test_errors(ops: Any, error: type[StatusError], message: str) -> None:
    doc = {"a": 1, "l": [1, 2], "o": {"p": 1}, "t": True}
    with pytest.raises(error) as caught:
        json_patch(doc, ops)
    assert type(caught.value) is error
    if isinstance(caught.value, PatchError):
        assert caught.value.code == 422
        assert caught.value.causes[0].message == message
    else:
        assert caught.value.message == message


def test_patch_error_is_an_invalid_422_status() -> None:
    with pytest.raises(Invalid) as caught:
        json_patch({}, [{"op": "test", "path": "/a", "value": 1}])
    status = caught.value.to_status()
    assert status["code"] == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == "the server rejected our request due to an error in our request"


def test_too_many_operations_is_413() -> None:
    ops = [{"op": "test", "path": "", "value": {}}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(RequestEntityTooLarge, match="maximum operations in a JSON patch is 10000, "
                                                    "got 10001"):
        json_patch({}, ops)
    assert json_patch({}, ops[:MAX_JSON_PATCH_OPERATIONS]) == {}


def test_whole_document_operations_and_move_no_op() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]
    assert json_patch({"a": 1}, [{"op": "add", "path": "", "value": "x"}]) == "x"
    assert json_patch({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}]) == {"a": 1}
    assert json_patch([1, 2], [{"op": "copy", "from": "/0", "path": "/-"}]) == [1, 2, 1]


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [(1, 1.0, True), (True, 1, False), (0, False, False), (None, None, True), ("1", 1, False),
     ({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2}]}, True), ({"a": 1}, {"a": 1, "b": 2}, False),
     ([1, 2], [2, 1], False), ({}, [], False)],
)
def test_json_equality(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal


def test_added_values_are_copies_not_aliases_of_the_patch() -> None:
    value = {"deep": [1]}
    ops = [{"op": "add", "path": "/a", "value": value}]
    result = json_patch({}, ops)
    result["a"]["deep"].append(2)
    assert value == {"deep": [1]}
    merged = merge_patch({}, {"a": value})
    merged["a"]["deep"].append(2)
    assert value == {"deep": [1]}


# -- properties --------------------------------------------------------------------------------

keys = st.text(alphabet="ab~/-0", min_size=0, max_size=3)
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(alphabet="xy", max_size=2)
json_docs = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)
objects = st.dictionaries(keys, json_docs, max_size=4)


def reference_merge(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2, transcribed without mutation."""
    if not isinstance(patch, dict):
        return patch
    base = target if isinstance(target, dict) else {}
    merged = {key: value for key, value in base.items() if key not in patch}
    for key, value in patch.items():
        if value is not None:
            merged[key] = reference_merge(base.get(key), value)
    return {key: merged[key] for key in (*base, *patch) if key in merged}


def reference_create_merge_patch(source: Any, target: Any) -> Any:
    """A merge patch turning ``source`` into ``target`` (``target`` without nulls)."""
    if not (isinstance(source, dict) and isinstance(target, dict)):
        return target
    patch: dict[str, Any] = {key: None for key in source if key not in target}
    for key, value in target.items():
        if key not in source or not json_equal(source[key], value):
            patch[key] = reference_create_merge_patch(source.get(key), value)
    return patch


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def reference_diff(source: Any, target: Any, path: str = "") -> list[dict[str, Any]]:
    """A JSON patch turning ``source`` into ``target`` using add, remove and replace."""
    if isinstance(source, dict) and isinstance(target, dict):
        ops: list[dict[str, Any]] = [{"op": "remove", "path": f"{path}/{escape(key)}"}
                                     for key in source if key not in target]
        for key, value in target.items():
            child = f"{path}/{escape(key)}"
            if key in source:
                ops += reference_diff(source[key], value, child)
            else:
                ops.append({"op": "add", "path": child, "value": value})
        return ops
    if isinstance(source, list) and isinstance(target, list):
        common = min(len(source), len(target))
        ops = []
        for index in range(common):
            ops += reference_diff(source[index], target[index], f"{path}/{index}")
        ops += [{"op": "remove", "path": f"{path}/{index}"}
                for index in reversed(range(common, len(source)))]
        ops += [{"op": "add", "path": f"{path}/-", "value": value} for value in target[common:]]
        return ops
    if json_equal(source, target) and type(source) is type(target):
        return []
    return [{"op": "replace", "path": path, "value": target}]


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nulls(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [without_nulls(member) for member in value]
    return value


@settings(max_examples=150, deadline=None)
@given(json_docs, json_docs)
def test_merge_patch_matches_the_rfc_pseudocode_and_mutates_nothing(doc: Any, patch: Any) -> None:
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = merge_patch(doc, patch)
    assert result == reference_merge(doc, patch)
    assert (doc, patch) == (doc_before, patch_before)
    assert merge_patch(result, patch) == result  # applying the same patch again changes nothing


@settings(max_examples=80, deadline=None)
@given(objects, objects)
def test_merge_patch_from_a_diff_reaches_the_target(source: Any, target: Any) -> None:
    target = without_nulls(target)
    assert merge_patch(source, reference_create_merge_patch(source, target)) == target


@settings(max_examples=150, deadline=None)
@given(json_docs, json_docs)
def test_json_patch_from_a_diff_reaches_the_target(source: Any, target: Any) -> None:
    before = copy.deepcopy(source)
    ops = reference_diff(source, target)
    result = json_patch(source, ops)
    assert json_equal(result, target)
    assert source == before


@settings(max_examples=100, deadline=None)
@given(objects, keys, json_docs)
def test_add_test_remove_round_trip(doc: dict[str, Any], key: str, value: Any) -> None:
    path = "/" + escape(key)
    added = json_patch(doc, [{"op": "add", "path": path, "value": value},
                             {"op": "test", "path": path, "value": value}])
    assert added == {**doc, key: value}
    removed = json_patch(added, [{"op": "remove", "path": path}])
    assert removed == {k: v for k, v in doc.items() if k != key}


@settings(max_examples=100, deadline=None)
@given(objects, keys, keys)
def test_move_is_copy_then_remove(doc: dict[str, Any], source: str, target: str) -> None:
    if source not in doc or source == target:
        return
    move = [{"op": "move", "from": "/" + escape(source), "path": "/" + escape(target)}]
    copy_remove = [{"op": "copy", "from": "/" + escape(source), "path": "/" + escape(target)},
                   {"op": "remove", "path": "/" + escape(source)}]
    assert json_patch(doc, move) == json_patch(doc, copy_remove)


operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"])},
    optional={"path": st.one_of(st.text(alphabet="/ab0-~1", max_size=6), st.integers()),
              "from": st.text(alphabet="/ab0-~1", max_size=6), "value": json_docs},
)


@settings(max_examples=200, deadline=None)
@given(json_docs, st.one_of(st.lists(operations, max_size=4), json_docs))
def test_any_patch_applies_or_raises_a_status_error(doc: Any, ops: Any) -> None:
    doc_before, ops_before = copy.deepcopy(doc), copy.deepcopy(ops)
    with contextlib.suppress(BadRequest, PatchError):
        json_patch(doc, ops)
    assert (doc, ops) == (doc_before, ops_before)
