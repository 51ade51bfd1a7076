"""Server-side apply's merge: convergence for one manager, shared fields, conflicts; and the
merge keys km's OpenAPI schemas carry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from servers.apimachinery import strategic
from servers.apimachinery.strategic_diff import diff
from servers.apiserver.apply import ApplyConflict, merge
from servers.apiserver.schemas import schemas
from servers.apiserver.schemas.patchmeta import OpenAPISchema
from tests.unit.apimachinery.test_strategic import POD as POD_TREE
from tests.unit.apimachinery.test_strategic import pods

POD = OpenAPISchema.named(schemas(), "io.k8s.api.core.v1.Pod")


def manifest(env: list[str], labels: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "i",
                                     "env": [{"name": n, "value": "1"} for n in env]}]}}


def strip(obj: dict) -> dict:
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def test_a_second_apply_converges_to_the_changed_manifest() -> None:
    live = merge({}, manifest(["A", "B"], {"x": "1", "y": "2"}), POD, manager="m", force=False)
    live["spec"]["containers"][0]["imagePullPolicy"] = "Always"  # defaulted by the server
    second = merge(live, manifest(["A"], {"x": "1"}), POD, manager="m", force=False)
    expected = manifest(["A"], {"x": "1"})
    expected["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    assert strip(second) == expected
    [entry] = second["metadata"]["managedFields"]
    assert entry["manager"] == "m" and entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"


def test_fields_another_manager_applied_are_kept() -> None:
    live = merge({}, manifest(["A"], {"x": "1"}), POD, manager="one", force=False)
    live = merge(live, manifest(["A"], {"x": "1", "z": "3"}), POD, manager="two", force=False)
    live = merge(live, manifest([], {}), POD, manager="one", force=False)
    assert live["metadata"]["labels"] == {"x": "1", "z": "3"}
    assert [e["name"] for e in live["spec"]["containers"][0]["env"]] == ["A"]


def test_a_different_value_for_another_managers_field_conflicts_unless_forced() -> None:
    live = merge({}, manifest([], {"x": "1"}), POD, manager="one", force=False)
    with pytest.raises(ApplyConflict) as caught:
        merge(live, manifest([], {"x": "2"}), POD, manager="two", force=False)
    assert caught.value.code == 409
    assert 'conflict with "one": .metadata.labels.x' in str(caught.value)
    forced = merge(live, manifest([], {"x": "2"}), POD, manager="two", force=True)
    assert forced["metadata"]["labels"] == {"x": "2"}


@pytest.mark.parametrize(("path", "name", "key", "strategy"), [
    (("spec",), "containers", "name", {"merge"}),
    (("spec",), "volumes", "name", {"merge", "retainKeys"}),
    (("spec",), "imagePullSecrets", "name", {"merge"}),
    (("spec",), "tolerations", "", set()),
    (("spec", "containers"), "env", "name", {"merge"}),
    (("spec", "containers"), "ports", "containerPort", {"merge"}),
    (("spec", "containers"), "volumeMounts", "mountPath", {"merge"}),
    (("spec", "containers"), "command", "", set()),
    (("status",), "conditions", "type", {"merge"}),
    (("metadata",), "finalizers", "", {"merge"}),
])
def test_pod_schema_merge_keys(path: tuple[str, ...], name: str, key: str,
                               strategy: set[str]) -> None:
    schema = POD
    for step in path:
        schema = schema.field(step)
    meta = schema.patch_meta(name)
    assert (meta.merge_key, set(meta.strategies)) == (key, strategy)


def test_service_ports_merge_by_port() -> None:
    service = OpenAPISchema.named(schemas(), "io.k8s.api.core.v1.Service")
    assert service.field("spec").patch_meta("ports").merge_key == "port"


def test_forcing_takes_the_field_from_the_other_manager() -> None:
    live = merge({}, manifest([], {"x": "1", "y": "1"}), POD, manager="one", force=False)
    live = merge(live, manifest([], {"x": "2"}), POD, manager="two", force=True)
    owners = {e["manager"]: e["fieldsV1"]["f:metadata"]["f:labels"]
              for e in live["metadata"]["managedFields"]}
    assert owners == {"one": {"f:y": {}}, "two": {"f:x": {}}}
    # "one" no longer owns x: applying without it leaves x to "two", with no conflict.
    live = merge(live, manifest([], {"y": "1"}), POD, manager="one", force=False)
    assert live["metadata"]["labels"] == {"x": "2", "y": "1"}


@settings(max_examples=300, deadline=None)
@given(pods, pods)
def test_applying_a_then_b_gives_what_applying_b_alone_gives(a: dict, b: dict) -> None:
    one = merge(merge({}, a, POD_TREE, manager="m", force=False), b, POD_TREE, manager="m",
                force=False)
    assert strip(one) == strip(merge({}, b, POD_TREE, manager="m", force=False))


@settings(max_examples=200, deadline=None)
@given(pods, pods)
def test_a_diff_over_the_real_pod_schema_patches_a_into_b(a: dict, b: dict) -> None:
    assert strategic.apply(a, diff(a, b, POD), POD) == b
