"""Container events carry involvedObject.fieldPath as kube's kubelet writes them."""

from __future__ import annotations

from servers.client.events import EventRecorder, reference

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}


def test_reference_has_no_field_path_unless_given() -> None:
    assert "fieldPath" not in reference(POD)
    assert reference(POD, "spec.containers{app}")["fieldPath"] == "spec.containers{app}"


def test_field_path_is_part_of_the_events_identity() -> None:
    ticks = iter(range(10))
    recorder = EventRecorder(None, component="kubelet", host="n1",
                             clock=lambda: 1.7e9 + next(ticks))
    app = recorder.event(POD, "Normal", "Started", "Started container",
                         field_path="spec.containers{app}")
    side = recorder.event(POD, "Normal", "Started", "Started container",
                          field_path="spec.initContainers{side}")
    again = recorder.event(POD, "Normal", "Started", "Started container",
                           field_path="spec.containers{app}")
    assert app is not None and side is not None and again is not None
    assert app["involvedObject"]["fieldPath"] == "spec.containers{app}"
    assert side["count"] == 1 and side["metadata"]["name"] != app["metadata"]["name"]
    assert (again["metadata"]["name"], again["count"]) == (app["metadata"]["name"], 2)


def test_kubelet_field_paths() -> None:
    from servers.kubelet.workers import field_path

    pod = {"spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "app"}]}}
    assert field_path(pod, "app") == "spec.containers{app}"
    assert field_path(pod, "init") == "spec.initContainers{init}"
    assert field_path(pod, "") == ""
