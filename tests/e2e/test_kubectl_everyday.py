"""The real kubectl's everyday reads against the built km.pyz over HTTPS with the admin
kubeconfig: describe (with events), wait for a condition and for deletion, explain from the
published schemas, get across namespaces and sorted. Each test checks what a user reads."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from servers.apiserver.schemas import schemas
from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import KUBECTL_TIMEOUT, Kubectl, rows

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = base.api  # fixture: a km.pyz apiserver for this module (HTTPS, RBAC)
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test


def apply(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def pod(name: str, namespace: str = "default", image: str = "nginx:1",
        **meta: Any) -> dict[str, Any]:
    meta.setdefault("labels", {"app": name})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, **meta},
            "spec": {"containers": [{"name": "c", "image": image,
                                     "ports": [{"containerPort": 80}]}]}}


def event(obj: dict[str, Any], reason: str, message: str, *, uid: str,
          namespace: str = "default", type_: str = "Normal") -> dict[str, Any]:
    """An Event about ``obj``, as a component records it (kubectl finds events by uid)."""
    meta = obj["metadata"]
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{reason.lower()}", "namespace": namespace},
            "involvedObject": {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                               "name": meta["name"], "namespace": meta.get("namespace", ""),
                               "uid": uid},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "source": {"component": "e2e"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}


def described(text: str) -> dict[str, str]:
    """The top-level ``Key:  value`` lines of ``kubectl describe`` output."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z][\w -]*):\s+(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def events_table(text: str) -> list[list[str]]:
    """The rows under ``Events:`` (Type, Reason, Age, From, Message...)."""
    lines = text.split("\nEvents:", 1)[1].strip().splitlines()
    return [line.split(None, 4) for line in lines[2:]]


@pytest.fixture
def cleanup(kubectl: Kubectl) -> Iterator[list[str]]:
    """Names (``kind/name`` or ``kind/name -n ns``) deleted after the test."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        kubectl("delete", *ref.split(), "--ignore-not-found", "--wait=false", check=False)


def test_describe_a_pod_shows_its_spec_and_events(kubectl: Kubectl,
                                                  cleanup: list[str]) -> None:
    web = pod("web", annotations={"team": "blue"})
    apply(kubectl, web)
    cleanup += ["pod/web", "event/web.scheduled", "event/web.pulled"]
    uid = kubectl.json("get", "pod", "web")["metadata"]["uid"]
    apply(kubectl, event(web, "Scheduled", "Successfully assigned default/web to n1", uid=uid),
          event(web, "Pulled", "image pulled", uid=uid, type_="Warning"))
    out = kubectl("describe", "pod", "web").stdout
    fields = described(out)
    assert fields["Name"] == "web" and fields["Namespace"] == "default"
    assert fields["Status"] == "Pending" and fields["Annotations"] == "team: blue"
    assert re.search(r"^    Image:\s+nginx:1$", out, re.M)
    assert sorted(row[:2] for row in events_table(out)) == [
        ["Normal", "Scheduled"], ["Warning", "Pulled"]]
    assert "Successfully assigned default/web to n1" in out


def test_describe_a_node_shows_addresses_capacity_its_pods_and_events(
        kubectl: Kubectl, cleanup: list[str]) -> None:
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}}
    apply(kubectl, node)
    # A pod bound to a node waits for its kubelet to finish a delete: force it.
    cleanup += ["node/n1", "pod/on-n1 --grace-period=0 --force", "event/n1.nodeready"]
    kubectl("patch", "node", "n1", "--subresource=status", "--type=merge", "-p", yaml.safe_dump(
        {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
                    "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                    "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                    "message": "kubelet is posting ready status"}]}}))
    bound = pod("on-n1")
    bound["spec"]["nodeName"] = "n1"
    bound["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500m"}}
    apply(kubectl, bound)
    # The kubelet reports node events with the node's name as the uid (kubectl looks them up so).
    apply(kubectl, event(node, "NodeReady", "Node n1 status is now: NodeReady", uid="n1"))
    out = kubectl("describe", "node", "n1").stdout
    assert "InternalIP:  127.0.0.2" in out
    assert re.search(r"Ready\s+True\s.*KubeletReady", out)
    assert "Non-terminated Pods:          (1 in total)" in out
    assert re.search(r"default\s+on-n1\s+500m \(25%\)", out)
    assert [row[:2] for row in events_table(out)] == [["Normal", "NodeReady"]]


def test_describe_a_service_and_a_replication_controller_with_events(
        kubectl: Kubectl, cleanup: list[str]) -> None:
    meta = {"name": "front", "namespace": "default"}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
           "spec": {"selector": {"app": "front"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta,
          "spec": {"replicas": 2, "selector": {"app": "front"}, "template": {
              "metadata": {"labels": {"app": "front"}},
              "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}
    apply(kubectl, svc, rc)
    cleanup += ["service/front", "rc/front", "event/front.synced", "event/front.successfulcreate"]
    svc_uid = kubectl.json("get", "service", "front")["metadata"]["uid"]
    rc_uid = kubectl.json("get", "rc", "front")["metadata"]["uid"]
    svc_event = event(svc, "Synced", "service synced", uid=svc_uid)
    rc_event = event(rc, "SuccessfulCreate", "Created pod: front-x1", uid=rc_uid)
    apply(kubectl, svc_event, rc_event)

    out = kubectl("describe", "service", "front").stdout
    fields = described(out)
    assert fields["Selector"] == "app=front" and fields["Type"] == "ClusterIP"
    assert fields["IP"].startswith("10.96.0.") and fields["TargetPort"] == "8080/TCP"
    assert [row[:2] for row in events_table(out)] == [["Normal", "Synced"]]

    out = kubectl("describe", "rc", "front").stdout
    fields = described(out)
    assert fields["Replicas"] == "0 current / 2 desired"
    assert fields["Selector"] == "app=front"
    assert [row[:2] for row in events_table(out)] == [["Normal", "SuccessfulCreate"]]
    assert "Created pod: front-x1" in out


def test_wait_for_condition_ready(kubectl: Kubectl, cleanup: list[str]) -> None:
    apply(kubectl, pod("slow"))
    cleanup.append("pod/slow")
    early = kubectl("wait", "--for=condition=Ready", "pod/slow", "--timeout=1s", check=False)
    assert early.returncode != 0 and "timed out waiting for the condition" in early.stderr
    waiter = kubectl.popen("wait", "--for=condition=Ready", "pod/slow", "--timeout=30s")
    try:
        time.sleep(1)
        assert waiter.poll() is None  # still waiting: nothing is ready yet
        kubectl("patch", "pod", "slow", "--subresource=status", "--type=merge", "-p",
                '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}')
        out, err = waiter.communicate(timeout=KUBECTL_TIMEOUT)
    finally:
        stop(waiter)
    assert waiter.returncode == 0, err
    assert out.strip() == "pod/slow condition met"
    conditions = kubectl.json("get", "pod", "slow")["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [("Ready", "True")]


def test_wait_for_delete_waits_for_the_finalizer(kubectl: Kubectl, cleanup: list[str]) -> None:
    apply(kubectl, pod("held", finalizers=["e2e.km.dev/hold"]))
    cleanup.append("pod/held")
    kubectl("delete", "pod", "held", "--wait=false")
    terminating = kubectl.json("get", "pod", "held")
    assert terminating["metadata"]["deletionTimestamp"]
    held = kubectl("wait", "--for=delete", "pod/held", "--timeout=1s", check=False)
    assert held.returncode != 0 and "timed out waiting for the condition" in held.stderr
    before = kubectl.watches("pods")
    waiter = kubectl.popen("wait", "--for=delete", "pod/held", "--timeout=60s")
    try:
        # a kubectl that started after the pod went would find nothing to wait for
        kubectl.until_watching("pods", before)
        kubectl("patch", "pod", "held", "--type=json", "-p",
                '[{"op":"remove","path":"/metadata/finalizers"}]')
        out, err = waiter.communicate(timeout=KUBECTL_TIMEOUT)
    finally:
        stop(waiter)
    assert waiter.returncode == 0, err
    assert out.strip() == "pod/held condition met"
    assert "NotFound" in kubectl("get", "pod", "held", check=False).stderr


def test_explain_pod_spec_containers_lists_the_validated_schema(kubectl: Kubectl) -> None:
    out = kubectl("explain", "pod.spec.containers").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n")
    assert "FIELD: containers <[]Container>" in out
    fields = dict(re.findall(r"^  (\w+)\t<([^>]+)>", out, re.M))
    container = schemas()["io.k8s.api.core.v1.Container"]
    assert set(fields) == set(container["properties"])  # the same table validates bodies
    assert fields["name"] == "string" and fields["env"] == "[]EnvVar"
    assert re.search(r"^  name\t<string> -required-$", out, re.M)
    deeper = kubectl("explain", "pod.spec.containers.ports.containerPort").stdout
    assert "FIELD: containerPort <integer>" in deeper
    missing = kubectl("explain", "pod.spec.colour", check=False)
    assert missing.returncode != 0 and 'field "colour" does not exist' in missing.stderr


def test_get_across_namespaces_and_sorted(kubectl: Kubectl, cleanup: list[str]) -> None:
    kubectl("create", "namespace", "team-a")
    cleanup.append("namespace/team-a")
    mine = {"sorting": "yes"}
    apply(kubectl, pod("b", image="img:2", labels=mine), pod("a", "team-a", image="img:3",
          labels=mine), pod("c", image="img:1", labels=mine))
    cleanup += ["pod/b", "pod/c", "pod/a -n team-a"]
    table = rows(kubectl("get", "pods", "-A", "-l", "sorting").stdout)
    assert table[0][:2] == ["NAMESPACE", "NAME"]
    assert sorted(row[:2] for row in table[1:]) == [
        ["default", "b"], ["default", "c"], ["team-a", "a"]]
    by_image = rows(kubectl("get", "pods", "-A", "-l", "sorting",
                            "--sort-by=.spec.containers[0].image").stdout)
    assert [row[1] for row in by_image[1:]] == ["c", "b", "a"]
    by_name = kubectl("get", "pods", "-l", "sorting", "--sort-by=.metadata.name", "-o", "name")
    assert by_name.stdout.split() == ["pod/b", "pod/c"]
    bad = kubectl("get", "pods", "-l", "sorting", "--sort-by=.spec.nothing", "-o", "name",
                  check=False)
    assert bad.returncode != 0 and "couldn't find any field with path" in bad.stderr


def test_create_service_of_each_type(kubectl: Kubectl, cleanup: list[str]) -> None:
    # kubectl create service sends protobuf (a typed client), not JSON.
    kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:https")
    kubectl("create", "service", "nodeport", "np", "--tcp=8080:80", "--node-port=30080")
    kubectl("create", "service", "externalname", "ext", "--external-name", "db.example.com")
    kubectl("create", "service", "clusterip", "headless", "--clusterip=None")
    cleanup += ["service/web", "service/np", "service/ext", "service/headless"]
    table = {row[0]: row for row in rows(kubectl("get", "svc", "web", "np", "ext",
                                                 "headless").stdout)[1:]}
    assert table["web"][1] == "ClusterIP" and table["web"][4] == "80/TCP,443/TCP"
    assert table["np"][1] == "NodePort" and table["np"][4] == "8080:30080/TCP"
    assert table["ext"][1:4] == ["ExternalName", "<none>", "db.example.com"]
    assert table["headless"][2] == "None"
    ports = kubectl("get", "svc", "web", "-o", "jsonpath={.spec.ports[1].targetPort}")
    assert ports.stdout == "https"


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_kubeconfig_is_the_generated_admin_over_https(api: Any) -> None:
    assert api.url.startswith("https://127.0.0.1:")
    assert isinstance(api.kubeconfig, Path) and api.kubeconfig.name == "admin.kubeconfig"
