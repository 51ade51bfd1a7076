"""Server-side Tables: columns and cells as kube-apiserver prints them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from servers.apiserver import tables
from servers.apiserver.resources import Resource, by_plural

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def res(plural: str) -> Resource:
    found = by_plural("", "v1", plural)
    assert found is not None
    return found


def row(plural: str, obj: dict[str, Any], **kw: Any) -> list[Any]:
    table = tables.to_table(res(plural), [obj], now=NOW, **kw)
    cells: list[Any] = table["rows"][0]["cells"]
    return cells


def names(plural: str, *, wide: bool = True) -> list[str]:
    return [c["name"] for c in tables.columns(res(plural), wide=wide)]


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1.5, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
    (182, "3m2s"), (599, "9m59s"), (600, "10m"), (45 * 60, "45m"), (179 * 60, "179m"),
    (3 * 3600, "3h"), (5 * 3600 + 3 * 60, "5h3m"), (8 * 3600 + 59, "8h"), (47 * 3600, "47h"),
    (48 * 3600, "2d"), (2 * 86400 + 3 * 3600, "2d3h"), (8 * 86400, "8d"), (12 * 86400, "12d"),
    (729 * 86400, "729d"), (730 * 86400, "2y"), (2 * 365 * 86400 + 30 * 86400, "2y30d"),
    (8 * 365 * 86400, "8y"), (11 * 365 * 86400 + 5 * 86400, "11y"),
])
def test_human_duration_matches_kubernetes(seconds: float, text: str) -> None:
    assert tables.human_duration(seconds) == text


def test_age_of_missing_or_bad_timestamps_is_unknown() -> None:
    assert tables.age(None, NOW) == "<unknown>"
    assert tables.age("yesterday", NOW) == "<unknown>"
    assert tables.age(ago(minutes=3, seconds=2), NOW) == "3m2s"


def test_pod_columns_and_priorities() -> None:
    cols = tables.columns(res("pods"))
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
        ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert cols[0]["format"] == "name"
    assert all(c["type"] == "string" and c["description"] for c in cols)
    assert names("pods", wide=False) == ["Name", "Ready", "Status", "Restarts", "Age"]


def pod(phase: str = "Running", statuses: list[dict[str, Any]] | None = None,
        **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1",
                     "creationTimestamp": ago(minutes=5), "resourceVersion": "42", **meta},
        "spec": {"containers": [{"name": "a", "image": "x"}], "nodeName": "node1"},
        "status": {"phase": phase, "podIP": "10.0.0.5",
                   "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": statuses or []},
    }


RUNNING = {"name": "a", "ready": True, "restartCount": 0, "image": "x", "imageID": "",
           "state": {"running": {"startedAt": ago(minutes=4)}}}
CRASHING = {"name": "a", "ready": False, "restartCount": 4, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "finishedAt": ago(seconds=20)}}}


def test_running_pod_wide_row() -> None:
    assert row("pods", pod(statuses=[RUNNING])) == [
        "web", "1/1", "Running", "0", "5m", "10.0.0.5", "node1", "<none>", "<none>"]


def test_pending_pod_without_statuses() -> None:
    p = pod("Pending")
    p["spec"].pop("nodeName")
    p["status"] = {"phase": "Pending"}
    assert row("pods", p) == ["web", "0/1", "Pending", "0", "5m", "<none>", "<none>",
                              "<none>", "<none>"]


def test_crashing_container_shows_its_waiting_reason_and_last_restart() -> None:
    assert row("pods", pod(statuses=[CRASHING]))[1:4] == [
        "0/1", "CrashLoopBackOff", "4 (20s ago)"]


def test_terminating_pod() -> None:
    p = pod(statuses=[RUNNING], deletionTimestamp=ago(seconds=-30))
    assert row("pods", p)[2] == "Terminating"


def test_finished_pod_is_not_terminating_and_gets_a_row_condition() -> None:
    done = {"name": "a", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    p = pod("Succeeded", [done], deletionTimestamp=ago(seconds=1))
    table = tables.to_table(res("pods"), [p], now=NOW)
    assert table["rows"][0]["cells"][1:3] == ["0/1", "Completed"]
    assert table["rows"][0]["conditions"][0]["type"] == "Completed"


def test_terminated_without_reason_shows_exit_code_or_signal() -> None:
    killed = {"name": "a", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
              "state": {"terminated": {"exitCode": 137, "signal": 9}}}
    failed = {"name": "a", "ready": False, "restartCount": 0, "image": "x", "imageID": "",
              "state": {"terminated": {"exitCode": 2}}}
    assert row("pods", pod("Failed", [killed]))[2] == "Signal:9"
    assert row("pods", pod("Failed", [failed]))[2] == "ExitCode:2"


def test_init_containers_show_progress() -> None:
    p = pod("Pending")
    p["spec"]["initContainers"] = [{"name": "i1"}, {"name": "i2"}]
    p["status"]["initContainerStatuses"] = [
        {"name": "i1", "state": {"terminated": {"exitCode": 0}}, "restartCount": 0},
        {"name": "i2", "state": {"running": {}}, "restartCount": 1},
    ]
    assert row("pods", p)[1:4] == ["0/1", "Init:1/2", "1"]
    p["status"]["initContainerStatuses"][1]["state"] = {
        "waiting": {"reason": "CrashLoopBackOff"}}
    assert row("pods", p)[2] == "Init:CrashLoopBackOff"


def test_completed_container_with_a_running_one_is_running() -> None:
    p = pod(statuses=[RUNNING, {"name": "b", "ready": False, "restartCount": 0, "image": "x",
                                "imageID": "",
                                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])
    p["spec"]["containers"].append({"name": "b", "image": "x"})
    p["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert row("pods", p)[1:3] == ["1/2", "Running"]


def test_readiness_gates_cell() -> None:
    p = pod(statuses=[RUNNING])
    p["spec"]["readinessGates"] = [{"conditionType": "a/b"}, {"conditionType": "c/d"}]
    p["status"]["conditions"] = [{"type": "a/b", "status": "True"}]
    assert row("pods", p)[8] == "1/2"


def test_narrow_table_drops_priority_columns_and_cells() -> None:
    table = tables.to_table(res("pods"), [pod(statuses=[RUNNING])], wide=False, now=NOW)
    assert len(table["columnDefinitions"]) == 5
    assert table["rows"][0]["cells"] == ["web", "1/1", "Running", "0", "5m"]


def test_table_envelope_and_partial_object_metadata() -> None:
    table = tables.to_table(res("pods"), [pod()], now=NOW, resource_version="101",
                            continue_token="abc", remaining_item_count=3)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert table["metadata"] == {"resourceVersion": "101", "continue": "abc",
                                 "remainingItemCount": 3}
    obj = table["rows"][0]["object"]
    assert obj["kind"] == "PartialObjectMetadata"
    assert obj["apiVersion"] == "meta.k8s.io/v1"
    assert obj["metadata"]["namespace"] == "default"


def test_include_object_object_and_none() -> None:
    p = pod()
    full = tables.to_table(res("pods"), [p], now=NOW, include_object="Object")
    assert full["rows"][0]["object"] is p
    bare = tables.to_table(res("pods"), [p], now=NOW, include_object="None")
    assert "object" not in bare["rows"][0]


def test_watch_event_tables_send_headers_once() -> None:
    first = tables.table_for_watch_event(res("pods"), pod(), first=True, now=NOW)
    later = tables.table_for_watch_event(res("pods"), pod(), first=False, now=NOW)
    assert first["columnDefinitions"] and later["columnDefinitions"] == []
    assert first["metadata"] == {"resourceVersion": "42"}
    assert len(later["rows"]) == 1


def test_node_rows() -> None:
    node: dict[str, Any] = {
        "metadata": {"name": "n1", "creationTimestamp": ago(days=2, hours=3),
                     "labels": {"node-role.kubernetes.io/control-plane": "",
                                "kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                   "nodeInfo": {"kubeletVersion": "v1.32.4-km", "osImage": "Debian"}},
    }
    assert names("nodes", wide=False) == ["Name", "Status", "Roles", "Age", "Version"]
    assert row("nodes", node) == [
        "n1", "Ready,SchedulingDisabled", "control-plane,worker", "2d3h", "v1.32.4-km",
        "127.0.0.2", "<none>", "Debian", "<unknown>", "<unknown>"]
    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    node["spec"] = {}
    assert row("nodes", node)[1] == "NotReady"
    node["status"]["conditions"] = []
    assert row("nodes", node)[1] == "Unknown"


def service(kind: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "creationTimestamp": ago(hours=4)},
            "spec": {"type": kind, "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"],
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                     "selector": {"app": "web", "tier": "fe"}, **spec}}


def test_service_rows() -> None:
    assert names("services") == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age",
                                 "Selector"]
    assert row("services", service()) == [
        "web", "ClusterIP", "10.0.0.10", "<none>", "80/TCP", "4h", "app=web,tier=fe"]
    node_port = service("NodePort", ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                           {"port": 53, "protocol": "UDP"}])
    assert row("services", node_port)[4] == "80:30080/TCP,53/UDP"
    assert row("services", service("LoadBalancer"))[3] == "<pending>"
    assert row("services", service("ExternalName", externalName="x.example"))[3] == "x.example"
    headless = service(clusterIP="None", clusterIPs=["None"], selector={}, ports=[])
    assert row("services", headless)[2:7] == ["None", "<none>", "<none>", "4h", "<none>"]


def test_endpoints_row_shows_three_and_counts_the_rest() -> None:
    ep = {"metadata": {"name": "web", "creationTimestamp": ago(seconds=5)},
          "subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)],
                       "ports": [{"port": 80}, {"port": 443}]}]}
    assert row("endpoints", ep) == [
        "web", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 5 more...", "5s"]
    assert row("endpoints", {"metadata": {"name": "e"}}) == ["e", "<none>", "<unknown>"]
    assert tables.format_endpoints({"subsets": [{"addresses": [{"ip": "fd00::1"}],
                                                 "ports": [{"port": 80}]}]}) == "[fd00::1]:80"


def test_replication_controller_rows() -> None:
    rc = {"metadata": {"name": "rc", "creationTimestamp": ago(minutes=45)},
          "spec": {"replicas": 3, "selector": {"app": "web"},
                   "template": {"spec": {"containers": [{"name": "a", "image": "x:1"},
                                                        {"name": "b", "image": "y"}]}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert names("replicationcontrollers", wide=False) == [
        "Name", "Desired", "Current", "Ready", "Age"]
    assert row("replicationcontrollers", rc) == [
        "rc", 3, 2, 1, "45m", "a,b", "x:1,y", "app=web"]


def test_namespace_configmap_and_fallback_rows() -> None:
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(days=12)},
          "status": {"phase": "Active"}}
    assert row("namespaces", ns) == ["default", "Active", "12d"]
    cm = {"metadata": {"name": "cfg", "creationTimestamp": ago(seconds=9)},
          "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert names("configmaps") == ["Name", "Data", "Age"]
    assert row("configmaps", cm) == ["cfg", 3, "9s"]
    widget = Resource("example.com", "v1", "widgets", "widget", "Widget", True,
                      "/registry/widgets/")
    table = tables.to_table(widget, [{"metadata": {"name": "w", "creationTimestamp": ago(
        seconds=30)}}], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["w", "30s"]


def test_event_rows() -> None:
    event = {"metadata": {"name": "web.1", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
             "reason": "Started", "message": " Started container a \n", "type": "Normal",
             "source": {"component": "kubelet", "host": "node1"},
             "firstTimestamp": ago(minutes=3), "lastTimestamp": ago(seconds=30), "count": 2}
    assert names("events", wide=False) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert row("events", event) == [
        "30s", "Normal", "Started", "pod/web", "spec.containers{a}", "kubelet, node1",
        "Started container a", "3m", 2, "web.1"]
    event.pop("lastTimestamp")
    event.pop("count")
    assert row("events", event, wide=False) == [
        "3m", "Normal", "Started", "pod/web", "Started container a"]
    series = {**event, "series": {"count": 7, "lastObservedTime": ago(seconds=4)}}
    assert row("events", series)[0] == "4s"
    assert row("events", series)[8] == 7
