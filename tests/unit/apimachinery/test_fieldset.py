"""Field sets of server-side apply: paths of a configuration, FieldsV1 round trips, removal."""

from __future__ import annotations

from servers.apimachinery import fieldset
from servers.apimachinery.strategic import PatchMeta
from tests.unit.apimachinery.test_strategic import POD

CONFIG = {"metadata": {"name": "p", "finalizers": ["x"]},
          "spec": {"containers": [{"name": "a", "image": "i", "env": [{"name": "E"}],
                                   "command": ["sh"]}]}}


def test_fields_of_names_leaves_items_and_set_members() -> None:
    assert fieldset.fields_of(CONFIG, POD) == {
        ("f:metadata", "f:name"),
        ("f:metadata", "f:finalizers", 'v:"x"'),
        ("f:spec", "f:containers", 'k:{"name":"a"}'),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:name"),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:command"),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:env", 'k:{"name":"E"}'),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:env", 'k:{"name":"E"}', "f:name"),
    }


def test_fields_v1_round_trips_and_marks_items_with_a_dot() -> None:
    paths = fieldset.fields_of(CONFIG, POD)
    tree = fieldset.encode(paths)
    assert tree["f:spec"]["f:containers"]['k:{"name":"a"}']["."] == {}
    assert tree["f:metadata"]["f:name"] == {}
    assert fieldset.decode(tree) == paths


def test_remove_and_value_at() -> None:
    obj = {"spec": {"containers": [{"name": "a", "env": [{"name": "E"}, {"name": "F"}]}]}}
    item = ("f:spec", "f:containers", 'k:{"name":"a"}')
    assert fieldset.value_at(obj, (*item, "f:name")) == "a"
    fieldset.remove(obj, (*item, "f:env", 'k:{"name":"E"}'))
    assert obj["spec"]["containers"][0]["env"] == [{"name": "F"}]
    fieldset.remove(obj, (*item, "f:missing", "f:deeper"))
    fieldset.remove(obj, item)
    assert obj == {"spec": {"containers": []}}


def test_lists_that_do_not_merge_are_one_field() -> None:
    assert PatchMeta().merges is False
    assert fieldset.fields_of({"spec": {"tolerations": [{"key": "k"}]}}, POD) == {
        ("f:spec", "f:tolerations")}


def test_prune_removes_what_it_emptied_unless_kept() -> None:
    obj = {"spec": {"containers": [{"name": "a", "env": [{"name": "E"}]}]},
           "metadata": {"labels": {"x": "1"}}}
    item = ("f:spec", "f:containers", 'k:{"name":"a"}')
    env_item = (*item, "f:env", 'k:{"name":"E"}')
    fieldset.prune(obj, {env_item, ("f:metadata", "f:labels", "f:x")},
                   keep={(*item, "f:name"), ("f:metadata", "f:labels")})
    assert obj == {"spec": {"containers": [{"name": "a"}]}, "metadata": {"labels": {}}}
