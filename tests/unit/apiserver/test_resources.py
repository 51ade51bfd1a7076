"""The resource table: lookups, storage keys, field selectors."""

from __future__ import annotations

import dataclasses

import pytest

from servers.apiserver import resources
from servers.apiserver.resources import RESOURCES, by_kind, by_plural, by_short_or_name, key_for


def pods() -> resources.Resource:
    found = by_plural("", "v1", "pods")
    assert found is not None
    return found


def test_resource_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        pods().plural = "x"  # type: ignore[misc]


def test_pods_row_describes_the_core_pod_resource() -> None:
    pod = pods()
    assert (pod.kind, pod.list_kind, pod.singular, pod.api_version) == (
        "Pod", "PodList", "pod", "v1")
    assert pod.namespaced and pod.short_names == ("po",) and pod.categories == ("all",)
    assert {s.name for s in pod.subresources} == {"status", "binding", "log", "eviction",
                                                  "attach", "exec", "portforward"}
    assert pod.has_status


@pytest.mark.parametrize("typed", ["po", "pod", "pods", "Pod", "PODS"])
def test_by_short_or_name_resolves_what_a_user_types(typed: str) -> None:
    assert by_short_or_name(typed) == pods()


@pytest.mark.parametrize(("typed", "plural"), [
    ("rc", "replicationcontrollers"), ("svc", "services"), ("ep", "endpoints"),
    ("ns", "namespaces"), ("no", "nodes"), ("ev", "events"), ("cm", "configmaps"),
])
def test_short_names_are_kubernetes_ones(typed: str, plural: str) -> None:
    found = by_short_or_name(typed)
    assert found is not None and found.plural == plural


def test_lookups_miss_with_none() -> None:
    assert by_plural("", "v1", "widgets") is None
    assert by_plural("apps", "v1", "pods") is None
    assert by_short_or_name("po", group="apps") is None
    assert by_kind("", "Widget") is None
    assert by_kind("", "Service") == by_plural("", "v1", "services")


@pytest.mark.parametrize(("plural", "ns", "name", "key"), [
    ("pods", "default", "web", "/registry/pods/default/web"),
    ("nodes", None, "node1", "/registry/minions/node1"),
    ("nodes", "ignored", "node1", "/registry/minions/node1"),
    ("replicationcontrollers", "ns1", "rc", "/registry/controllers/ns1/rc"),
    ("services", "default", "kubernetes", "/registry/services/specs/default/kubernetes"),
    ("endpoints", "default", "kubernetes", "/registry/services/endpoints/default/kubernetes"),
    ("namespaces", None, "default", "/registry/namespaces/default"),
    ("events", "default", "e.1", "/registry/events/default/e.1"),
    ("configmaps", "default", "cfg", "/registry/configmaps/default/cfg"),
])
def test_key_for_uses_the_kubernetes_layout(
    plural: str, ns: str | None, name: str, key: str
) -> None:
    resource = by_plural("", "v1", plural)
    assert resource is not None
    assert key_for(resource, ns, name) == key


def test_key_for_a_namespaced_resource_needs_a_namespace() -> None:
    with pytest.raises(ValueError, match="namespace"):
        key_for(pods(), None, "web")
    with pytest.raises(ValueError, match="namespace"):
        resources.prefix_for(pods(), "")


def test_prefix_for_lists_everything_or_one_namespace() -> None:
    assert resources.prefix_for(pods()) == "/registry/pods/"
    assert resources.prefix_for(pods(), "kube-system") == "/registry/pods/kube-system/"


def test_no_key_prefix_contains_another() -> None:
    prefixes = [r.key_prefix for r in RESOURCES]
    assert len(set(prefixes)) == len(prefixes)
    for a in prefixes:
        assert a.endswith("/")
        assert not [b for b in prefixes if b != a and b.startswith(a)]


def test_scale_subresource_speaks_autoscaling_v1() -> None:
    rc = by_plural("", "v1", "replicationcontrollers")
    assert rc is not None
    scale = rc.subresource("scale")
    assert scale is not None and scale.kind.api_version == "autoscaling/v1"
    assert scale.kind.kind == "Scale"
    assert resources.BINDING.api_version == "v1"



def test_field_selectors_come_from_the_shared_table() -> None:
    assert {"spec.nodeName", "status.phase", "metadata.name"} <= pods().field_selectors
    events = by_plural("", "v1", "events")
    assert events is not None and "involvedObject.uid" in events.field_selectors


def test_selectable_fields_of_an_unscheduled_pod() -> None:
    pod = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"restartPolicy": "Always"}, "status": {"phase": "Pending"}}
    fields = resources.selectable_fields(pods(), pod)
    assert fields["metadata.name"] == "web"
    assert fields["spec.nodeName"] == ""
    assert fields["spec.hostNetwork"] == "false"
    assert fields["status.phase"] == "Pending"
