"""Strategic merge patch: Kubernetes' directive cases on a pod-like schema, and the property
that a patch computed by ``diff`` turns one random pod-like object into another."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.strategic import NO_SCHEMA, PatchMeta, Schema, apply, strip_directives
from servers.apimachinery.strategic_diff import diff

MERGE = frozenset({"merge"})


@dataclass
class Tree:
    """A hand-written ``Schema``: which fields hold merged lists, and sub-schemas."""

    lists: dict[str, PatchMeta] = field(default_factory=dict)
    children: dict[str, Tree] = field(default_factory=dict)

    def field(self, name: str) -> Schema:
        return self.children.get(name, NO_SCHEMA)

    def patch_meta(self, name: str) -> PatchMeta:
        return self.lists.get(name, PatchMeta())


CONTAINER = Tree(lists={"env": PatchMeta("name", MERGE),
                        "ports": PatchMeta("containerPort", MERGE)})
POD = Tree(children={
    "metadata": Tree(lists={"finalizers": PatchMeta("", MERGE)}),
    "spec": Tree(
        lists={"containers": PatchMeta("name", MERGE),
               "volumes": PatchMeta("name", frozenset({"merge", "retainKeys"}))},
        children={"containers": CONTAINER}),
})


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), **spec}}


# -- maps and nulls ----------------------------------------------------------------------------

def test_null_deletes_a_key_and_maps_merge() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}, "x": 1}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "x": None}
    assert apply(original, patch, POD) == {"metadata": {"labels": {"b": "2", "c": "3"}}}


def test_patch_replace_in_a_map_replaces_the_map() -> None:
    original = {"spec": {"nodeSelector": {"a": "1", "b": "2"}}}
    patch = {"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}}
    assert apply(original, patch, POD) == {"spec": {"nodeSelector": {"c": "3"}}}


def test_patch_delete_in_a_map_empties_it() -> None:
    original = {"spec": {"securityContext": {"runAsUser": 1}, "x": 1}}
    assert apply(original, {"spec": {"securityContext": {"$patch": "delete"}}}, POD) == {
        "spec": {"securityContext": {}, "x": 1}}


def test_patch_merge_is_the_default() -> None:
    assert apply({"a": {"b": 1}}, {"a": {"$patch": "merge", "c": 2}}) == {"a": {"b": 1, "c": 2}}


def test_unknown_patch_directive_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="Unknown patch type: frobnicate"):
        apply({}, {"a": {"$patch": "frobnicate"}})


def test_the_patch_must_be_an_object() -> None:
    with pytest.raises(BadRequest):
        apply({}, [1])  # type: ignore[arg-type]


# -- lists merged by key -----------------------------------------------------------------------

def test_containers_merge_by_name_and_new_ones_are_appended() -> None:
    original = pod({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"})
    patch = {"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c"}]}}
    assert apply(original, patch, POD)["spec"]["containers"] == [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"},
        {"name": "c", "image": "c"}]


def test_patch_delete_removes_the_item_with_that_key() -> None:
    original = pod({"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]})
    patch = {"spec": {"containers": [{"name": "a", "env": [{"$patch": "delete", "name": "X"}]}]}}
    assert apply(original, patch, POD)["spec"]["containers"] == [
        {"name": "a", "env": [{"name": "Y", "value": "2"}]}]


def test_ports_merge_by_container_port() -> None:
    original = pod({"name": "a", "ports": [{"containerPort": 80, "name": "http"}]})
    patch = {"spec": {"containers": [{"name": "a", "ports": [
        {"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}]}}
    assert apply(original, patch, POD)["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]


def test_patch_replace_item_replaces_the_whole_list() -> None:
    original = pod({"name": "a"}, {"name": "b"})
    patch = {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}
    assert apply(original, patch, POD)["spec"]["containers"] == [{"name": "c"}]


def test_an_item_without_its_merge_key_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="does not contain declared merge key: name"):
        apply(pod({"name": "a"}), {"spec": {"containers": [{"image": "x"}]}}, POD)


def test_nulls_in_a_new_item_are_dropped() -> None:
    patch = {"spec": {"containers": [{"name": "b", "image": None, "env": [{"name": "E"}]}]}}
    assert apply(pod({"name": "a"}), patch, POD)["spec"]["containers"][1] == {
        "name": "b", "env": [{"name": "E"}]}


def test_the_observed_client_side_apply_patch() -> None:
    # The patch kubectl 1.32 sent after renaming container b to c and bumping a's image.
    original = pod({"name": "a", "image": "busybox:1"}, {"name": "b", "image": "nginx"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
                      "containers": [{"image": "busybox:2", "name": "a"},
                                     {"image": "nginx", "name": "c"},
                                     {"$patch": "delete", "name": "b"}]}}
    assert apply(original, patch, POD)["spec"]["containers"] == [
        {"name": "a", "image": "busybox:2"}, {"name": "c", "image": "nginx"}]


# -- order, retainKeys, primitive lists ------------------------------------------------------

def test_set_element_order_sorts_the_merged_list() -> None:
    original = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"},
                                                      {"name": "b"}]}}
    assert [c["name"] for c in apply(original, patch, POD)["spec"]["containers"]] == [
        "c", "a", "b"]


def test_items_the_order_does_not_name_keep_their_place() -> None:
    original = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "d"}],
                      "containers": [{"name": "d"}]}}
    assert [c["name"] for c in apply(original, patch, POD)["spec"]["containers"]] == [
        "a", "b", "c", "d"]


def test_retain_keys_clears_the_keys_not_listed() -> None:
    original = pod({"name": "a"}, volumes=[{"name": "v", "hostPath": {"path": "/x"}}])
    patch = {"spec": {"volumes": [{"name": "v", "emptyDir": {},
                                   "$retainKeys": ["emptyDir", "name"]}]}}
    assert apply(original, patch, POD)["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]


def test_retain_keys_with_the_nulls_kubectl_sends() -> None:
    original = pod(volumes=[{"name": "v", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"], "emptyDir": None,
                                   "hostPath": {"path": "/tmp"}, "name": "v"}]}}
    assert apply(original, patch, POD)["spec"]["volumes"] == [
        {"name": "v", "hostPath": {"path": "/tmp"}}]


def test_retain_keys_must_list_the_patched_keys() -> None:
    original = pod(volumes=[{"name": "v"}])
    patch = {"spec": {"volumes": [{"name": "v", "emptyDir": {}, "$retainKeys": ["name"]}]}}
    with pytest.raises(BadRequest, match="not in \\$retainKeys"):
        apply(original, patch, POD)


def test_primitive_merge_lists_are_sets() -> None:
    original = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"finalizers": ["b", "c"]}}
    assert apply(original, patch, POD) == {"metadata": {"finalizers": ["a", "b", "c"]}}


def test_delete_from_primitive_list() -> None:
    original = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"],
                          "$setElementOrder/finalizers": ["c", "a"]}}
    assert apply(original, patch, POD) == {"metadata": {"finalizers": ["c", "a"]}}


def test_lists_without_a_merge_strategy_are_replaced() -> None:
    original = pod({"name": "a", "command": ["x", "y"]}, tolerations=[{"key": "k"}])
    patch = {"spec": {"tolerations": [{"key": "j"}],
                      "containers": [{"name": "a", "command": ["z"]}]}}
    result = apply(original, patch, POD)
    assert result["spec"]["tolerations"] == [{"key": "j"}]
    assert result["spec"]["containers"] == [{"name": "a", "command": ["z"]}]


def test_without_a_schema_every_list_is_replaced() -> None:
    assert apply(pod({"name": "a"}), {"spec": {"containers": [{"name": "b"}]}}) == pod(
        {"name": "b"})


def test_arguments_are_not_modified() -> None:
    original = pod({"name": "a", "env": [{"name": "X"}]})
    patch = {"spec": {"containers": [{"name": "a", "env": [{"$patch": "delete", "name": "X"}]}]}}
    before = copy.deepcopy((original, patch))
    apply(original, patch, POD)
    assert (original, patch) == before


def test_other_dollar_keys_are_data() -> None:
    assert apply({"a": {}}, {"a": {"$ref": "x"}}) == {"a": {"$ref": "x"}}


def test_strip_directives() -> None:
    assert strip_directives({"a": [{"$patch": "delete", "name": "x"}, {"name": "y"}],
                             "$setElementOrder/a": [], "b": {"$retainKeys": []}}) == {
        "a": [{"name": "y"}], "b": {}}


# -- diff --------------------------------------------------------------------------------------

def test_diff_of_equal_objects_is_empty() -> None:
    assert diff(pod({"name": "a"}), pod({"name": "a"}), POD) == {}


def test_diff_lists_changed_items_and_deletions() -> None:
    before = pod({"name": "a", "image": "1"}, {"name": "b"})
    after = pod({"name": "a", "image": "2"}, {"name": "c"})
    assert diff(before, after, POD) == {"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
        "containers": [{"image": "2", "name": "a"}, {"name": "c"},
                       {"$patch": "delete", "name": "b"}]}}


# -- property: apply(a, diff(a, b)) == b -------------------------------------------------------

scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text("xyz", max_size=3))
plain = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from("abcd"), inner, max_size=3)),
    max_leaves=6)
names = st.sampled_from(["a", "b", "c", "d", "e"])


def keyed(key: str, keys: st.SearchStrategy[Any], extra: st.SearchStrategy[dict[str, Any]]
          ) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of maps with unique values of ``key``."""
    return st.lists(st.tuples(keys, extra), max_size=4, unique_by=lambda t: t[0]).map(
        lambda items: [{**rest, key: k} for k, rest in items])


env = keyed("name", names, st.fixed_dictionaries({}, optional={"value": st.text("uv", max_size=2)}))
ports = keyed("containerPort", st.integers(1, 6),
              st.fixed_dictionaries({}, optional={"name": names, "protocol": st.just("TCP")}))
containers = keyed("name", names, st.fixed_dictionaries({}, optional={
    "image": st.text("ij", max_size=2), "env": env, "ports": ports,
    "command": st.lists(st.text("c", max_size=2), max_size=2), "extra": plain}))
pods = st.fixed_dictionaries({
    "metadata": st.fixed_dictionaries({"name": names}, optional={
        "labels": st.dictionaries(names, st.text("lm", max_size=2), max_size=3),
        "finalizers": st.lists(names, unique=True, max_size=3)}),
    "spec": st.fixed_dictionaries({"containers": containers}, optional={
        "tolerations": st.lists(st.fixed_dictionaries({"key": names}), max_size=2),
        "nodeName": names, "other": plain}),
}, optional={"status": plain})


@settings(max_examples=300, deadline=None)
@given(pods, pods)
def test_a_computed_patch_turns_the_first_object_into_the_second(
        first: dict[str, Any], second: dict[str, Any]) -> None:
    assert apply(first, diff(first, second, POD), POD) == second


@settings(max_examples=100, deadline=None)
@given(pods)
def test_an_object_diffed_with_itself_needs_no_patch(obj: dict[str, Any]) -> None:
    assert diff(obj, copy.deepcopy(obj), POD) == {}
