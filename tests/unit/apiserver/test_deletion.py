"""The deletion rules alone: propagation policy to finalizers (kube's store.go order), the
namespace's two-step delete, DeleteOptions validation."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import MultiDict

from servers.apimachinery import errors
from servers.apiserver import deletion
from servers.apiserver.resources import Resource, by_plural

Obj = dict[str, Any]


def resource(group: str, version: str, plural: str) -> Resource:
    found = by_plural(group, version, plural)
    assert found is not None
    return found


CONFIGMAPS = resource("", "v1", "configmaps")
RCS = resource("", "v1", "replicationcontrollers")
JOBS = resource("batch", "v1", "jobs")
DEPLOYMENTS = resource("apps", "v1", "deployments")
EVENTS = resource("", "v1", "events")
NAMESPACES = resource("", "v1", "namespaces")


@pytest.mark.parametrize(("res", "before", "options", "after"), [
    (CONFIGMAPS, [], {}, []),
    (CONFIGMAPS, [], {"propagationPolicy": "Foreground"}, ["foregroundDeletion"]),
    (CONFIGMAPS, [], {"propagationPolicy": "Orphan"}, ["orphan"]),
    (CONFIGMAPS, ["orphan"], {}, ["orphan"]),  # the object's finalizer beats the default
    (CONFIGMAPS, ["orphan"], {"propagationPolicy": "Background"}, []),
    (CONFIGMAPS, ["x/y", "orphan"], {"propagationPolicy": "Foreground"},
     ["x/y", "foregroundDeletion"]),
    (CONFIGMAPS, [], {"orphanDependents": True}, ["orphan"]),
    (CONFIGMAPS, ["foregroundDeletion"], {"orphanDependents": False}, []),
    (RCS, [], {}, ["orphan"]),
    (JOBS, [], {}, ["orphan"]),
    (RCS, ["foregroundDeletion"], {}, ["foregroundDeletion"]),
    (RCS, [], {"propagationPolicy": "Background"}, []),
    (DEPLOYMENTS, [], {}, []),
    (EVENTS, [], {"propagationPolicy": "Foreground"}, []),  # Unsupported
])
def test_gc_finalizers(res: Resource, before: list[str], options: Obj,
                       after: list[str]) -> None:
    assert deletion.gc_finalizers(res, before, options) == after


def test_unchanged_finalizers_are_the_same_list() -> None:
    held = ["a/b", "orphan"]
    assert deletion.gc_finalizers(CONFIGMAPS, held, {"propagationPolicy": "Orphan"}) is held


def test_mark_keeps_the_first_timestamp_and_bumps_generation_once() -> None:
    obj: Obj = {"metadata": {"name": "r", "generation": 3}}
    marked = deletion.mark_for_deletion(RCS, obj, {})
    assert marked is not None and marked["metadata"]["generation"] == 4
    stamp = marked["metadata"]["deletionTimestamp"]
    again = deletion.mark_for_deletion(RCS, marked, {"propagationPolicy": "Foreground"})
    assert again is not None and again["metadata"]["deletionTimestamp"] == stamp
    assert again["metadata"]["generation"] == 4
    assert again["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert deletion.mark_for_deletion(RCS, again, {"propagationPolicy": "Background"}) is None


def test_query_options_and_their_validation() -> None:
    query = MultiDict(propagationPolicy="Orphan")
    assert deletion.parse_options({}, query) == {"propagationPolicy": "Orphan"}
    assert deletion.parse_options({}, MultiDict(orphanDependents="true")) == {
        "orphanDependents": True}
    with pytest.raises(errors.Invalid, match="cannot be both set"):
        deletion.parse_options({"orphanDependents": False}, query)
    with pytest.raises(errors.Invalid, match='Unsupported value: "soon"'):
        deletion.parse_options({"propagationPolicy": "soon"}, MultiDict())
    with pytest.raises(errors.BadRequest):
        deletion.parse_options({"orphanDependents": "yes"}, MultiDict())


@pytest.mark.parametrize(("before", "options", "after"), [
    ([], {}, None),
    (["orphan"], {}, ["orphan"]),
    ([], {"propagationPolicy": "Foreground"}, ["foregroundDeletion"]),
    (["orphan"], {"orphanDependents": False}, ["foregroundDeletion"]),
    (["foregroundDeletion"], {"propagationPolicy": "Background"}, None),
])
def test_first_namespace_delete_marks_it_terminating(before: list[str], options: Obj,
                                                     after: list[str] | None) -> None:
    ns: Obj = {"metadata": {"name": "t"}, "spec": {"finalizers": ["kubernetes"]},
               "status": {"phase": "Active"}}
    if before:
        ns["metadata"]["finalizers"] = before
    marked = deletion.mark_namespace(ns, options)
    assert marked is not None and marked["status"]["phase"] == "Terminating"
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"].get("finalizers") == after
    assert deletion.namespace_pending(NAMESPACES, marked)
    assert deletion.mark_namespace(marked, options) is None  # then: the ordinary delete


def test_namespace_goes_on_update_only_when_both_finalizer_lists_are_empty() -> None:
    ns: Obj = {"metadata": {"name": "t", "deletionTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"finalizers": ["kubernetes"]}}
    assert not deletion.delete_on_update(NAMESPACES, ns)
    ns["spec"] = {}
    assert deletion.delete_on_update(NAMESPACES, ns)
    ns["metadata"]["finalizers"] = ["orphan"]
    assert not deletion.delete_on_update(NAMESPACES, ns)


def test_finalize_changes_only_spec_finalizers() -> None:
    current: Obj = {"metadata": {"name": "t", "labels": {"a": "b"}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}
    new: Obj = {"metadata": {"name": "t"}, "spec": {"finalizers": []}}
    deletion.keep_namespace_finalizers(NAMESPACES, "finalize", current, new)
    assert new == {"metadata": {"name": "t", "labels": {"a": "b"}}, "spec": {},
                   "status": {"phase": "Terminating"}}
    put: Obj = {"metadata": {"name": "t"}, "spec": {"finalizers": []}}
    deletion.keep_namespace_finalizers(NAMESPACES, "", current, put)
    assert put["spec"] == {"finalizers": ["kubernetes"]}


def test_immortal_namespaces() -> None:
    with pytest.raises(errors.Forbidden, match="this namespace may not be deleted"):
        deletion.check_namespace_delete("kube-system")
    deletion.check_namespace_delete("kube-node-lease")
