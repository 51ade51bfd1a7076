"""The real kubectl's everyday writes against the built km.pyz: client-side apply (strategic
merge patches built from km's OpenAPI merge keys), server-side apply, patch of every type,
label, annotate, set image, scale, edit and delete -f. Each test checks the objects."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = base.api  # fixture: a km.pyz apiserver for this module (HTTPS, RBAC)
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test


def write(path: Path, *objs: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(objs))
    return str(path)


def rc_manifest(name: str = "web") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "labels": {"app": name, "tier": "front"}},
            "spec": {"replicas": 1, "selector": {"app": name}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "a", "image": "busybox:1",
                     "env": [{"name": "EA", "value": "1"}, {"name": "EB", "value": "2"}],
                     "ports": [{"containerPort": 80}]},
                    {"name": "b", "image": "nginx:1"}]}}}}


def pod_manifest() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1",
                                     "env": [{"name": "EA", "value": "1"}]}]}}


def service_manifest() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def configmap_manifest() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"},
            "data": {"a": "1", "b": "2"}}


def apply_twice(kubectl: Kubectl, path: Path, first: dict[str, Any], second: dict[str, Any],
                ref: str) -> dict[str, Any]:
    """Apply ``first`` (created), ``second`` (configured), ``second`` again (unchanged)."""
    kind = ref.split("/")[0]
    assert kubectl("apply", "-f", write(path, first)).stdout.strip() == f"{ref} created"
    assert kubectl("apply", "-f", write(path, second)).stdout.strip() == f"{ref} configured"
    assert kubectl("apply", "-f", str(path)).stdout.strip() == f"{ref} unchanged"
    return kubectl.json("get", kind, ref.split("/")[1])


def test_apply_a_replication_controller(kubectl: Kubectl, tmp_path: Path) -> None:
    changed = rc_manifest()
    del changed["metadata"]["labels"]["tier"]
    a = changed["spec"]["template"]["spec"]["containers"][0]
    a["env"] = [{"name": "EB", "value": "2"}]
    a["ports"] = [{"containerPort": 81}]
    try:
        rc = apply_twice(kubectl, tmp_path / "rc.yaml", rc_manifest(), changed,
                         "replicationcontroller/web")
        assert rc["metadata"]["labels"] == {"app": "web"}
        first = rc["spec"]["template"]["spec"]["containers"][0]
        assert first["env"] == [{"name": "EB", "value": "2"}]
        assert [p["containerPort"] for p in first["ports"]] == [81]
    finally:
        kubectl("delete", "rc", "web", "--ignore-not-found")


def test_client_side_apply_merges_containers_by_name(kubectl: Kubectl, tmp_path: Path) -> None:
    # A field set outside the manifest on container b survives an apply that changes a: the
    # patch kubectl built from km's OpenAPI schemas merged the containers by name.
    path = tmp_path / "rc.yaml"
    kubectl("apply", "-f", write(path, rc_manifest("merged")))
    try:
        kubectl("patch", "rc", "merged", "-p", '{"spec":{"template":{"spec":{"containers":'
                '[{"name":"b","workingDir":"/srv"}]}}}}')
        changed = rc_manifest("merged")
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
        kubectl("apply", "-f", write(path, changed))
        a, b = kubectl.json("get", "rc", "merged")["spec"]["template"]["spec"]["containers"]
        assert (a["image"], b["name"], b["workingDir"]) == ("busybox:2", "b", "/srv")
    finally:
        kubectl("delete", "rc", "merged", "--ignore-not-found")


def test_apply_a_pod(kubectl: Kubectl, tmp_path: Path) -> None:
    changed = pod_manifest()
    changed["metadata"]["labels"] = {"app": "web"}
    changed["spec"]["containers"][0]["image"] = "nginx:2"
    try:
        pod = apply_twice(kubectl, tmp_path / "pod.yaml", pod_manifest(), changed, "pod/web")
        assert pod["metadata"]["labels"] == {"app": "web"}
        assert pod["spec"]["containers"][0]["image"] == "nginx:2"
        assert pod["spec"]["containers"][0]["env"] == [{"name": "EA", "value": "1"}]
    finally:
        kubectl("delete", "pod", "web", "--ignore-not-found")


def test_apply_a_service(kubectl: Kubectl, tmp_path: Path) -> None:
    changed = service_manifest()
    changed["metadata"]["labels"] = {"app": "web"}
    changed["spec"]["ports"] = [{"name": "http", "port": 8080, "targetPort": 9090}]
    try:
        svc = apply_twice(kubectl, tmp_path / "svc.yaml", service_manifest(), changed,
                          "service/web")
        assert svc["metadata"]["labels"] == {"app": "web"}
        [port] = svc["spec"]["ports"]
        assert (port["port"], port["targetPort"]) == (8080, 9090)
        assert svc["spec"]["clusterIP"]  # allocated by the server, kept by the patches
    finally:
        kubectl("delete", "service", "web", "--ignore-not-found")


def test_apply_a_configmap(kubectl: Kubectl, tmp_path: Path) -> None:
    changed = configmap_manifest()
    changed["data"] = {"a": "1", "c": "3"}
    try:
        cm = apply_twice(kubectl, tmp_path / "cm.yaml", configmap_manifest(), changed,
                         "configmap/conf")
        assert cm["data"] == {"a": "1", "c": "3"}
    finally:
        kubectl("delete", "configmap", "conf", "--ignore-not-found")


def test_server_side_apply_twice_converges(kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "rc.yaml"
    out = kubectl("apply", "--server-side", "-f", write(path, rc_manifest("ssa")))
    assert out.stdout.strip() == "replicationcontroller/ssa serverside-applied"
    try:
        changed = rc_manifest("ssa")
        del changed["metadata"]["labels"]["tier"]
        changed["spec"]["template"]["spec"]["containers"][0]["env"] = [
            {"name": "EA", "value": "1"}]
        kubectl("apply", "--server-side", "-f", write(path, changed))
        rc = kubectl.json("get", "rc", "ssa", "--show-managed-fields")
        assert rc["metadata"]["labels"] == {"app": "ssa"}
        containers = rc["spec"]["template"]["spec"]["containers"]
        assert containers[0]["env"] == [{"name": "EA", "value": "1"}]
        assert [c["name"] for c in containers] == ["a", "b"]
        managers = {(e["manager"], e["operation"]) for e in rc["metadata"]["managedFields"]}
        assert managers == {("kubectl", "Apply")}
    finally:
        kubectl("delete", "rc", "ssa", "--ignore-not-found")


def test_patch_of_every_type(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", write(tmp_path / "rc.yaml", rc_manifest("p")))
    try:
        kubectl("patch", "rc", "p", "--type", "strategic", "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"nginx:9"}]}}}}')
        kubectl("patch", "rc", "p", "--type", "merge", "-p",
                '{"metadata":{"labels":{"tier":null,"m":"1"}}}')
        kubectl("patch", "rc", "p", "--type", "json", "-p",
                '[{"op":"replace","path":"/spec/replicas","value":2}]')
        rc = kubectl.json("get", "rc", "p")
        assert [c["image"] for c in rc["spec"]["template"]["spec"]["containers"]] == [
            "busybox:1", "nginx:9"]
        assert rc["metadata"]["labels"] == {"app": "p", "m": "1"}
        assert rc["spec"]["replicas"] == 2
    finally:
        kubectl("delete", "rc", "p", "--ignore-not-found")


def test_label_annotate_set_image_and_scale(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", write(tmp_path / "rc.yaml", rc_manifest("ops")))
    try:
        assert "labeled" in kubectl("label", "rc", "ops", "stage=prod").stdout
        assert "annotated" in kubectl("annotate", "rc", "ops", "note=hi").stdout
        assert "image updated" in kubectl("set", "image", "rc/ops", "a=busybox:4").stdout
        assert "scaled" in kubectl("scale", "rc", "ops", "--replicas=3").stdout
        rc = kubectl.json("get", "rc", "ops")
        assert rc["metadata"]["labels"]["stage"] == "prod"
        assert rc["metadata"]["annotations"]["note"] == "hi"
        assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:4"
        assert rc["spec"]["replicas"] == 3
        kubectl("label", "rc", "ops", "stage-")
        assert "stage" not in kubectl.json("get", "rc", "ops")["metadata"]["labels"]
    finally:
        kubectl("delete", "rc", "ops", "--ignore-not-found")


def test_edit_with_a_scripted_editor(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", write(tmp_path / "cm.yaml", configmap_manifest()))
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i \'s/^  b: "2"$/  b: edited/\' "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    try:
        out = kubectl("edit", "configmap", "conf", env={**os.environ, "KUBE_EDITOR": str(editor)})
        assert out.stdout.strip() == "configmap/conf edited"
        assert kubectl.json("get", "configmap", "conf")["data"] == {"a": "1", "b": "edited"}
    finally:
        kubectl("delete", "configmap", "conf", "--ignore-not-found")


def test_delete_from_file(kubectl: Kubectl, tmp_path: Path) -> None:
    objs = [service_manifest(), configmap_manifest()]
    path = write(tmp_path / "all.yaml", *copy.deepcopy(objs))
    kubectl("apply", "-f", path)
    out = kubectl("delete", "-f", path).stdout
    assert 'service "web" deleted' in out and 'configmap "conf" deleted' in out
    assert "NotFound" in kubectl("get", "configmap", "conf", check=False).stderr
    assert "NotFound" in kubectl("get", "service", "web", check=False).stderr


def test_server_side_apply_conflicts_and_force(kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    kubectl("apply", "--server-side", "-f", write(path, configmap_manifest()))
    try:
        theirs = configmap_manifest()
        theirs["data"] = {"a": "changed"}
        write(path, theirs)
        refused = kubectl("apply", "--server-side", "--field-manager=other", "-f", str(path),
                          check=False)
        assert refused.returncode != 0
        assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in (
            refused.stderr)
        kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts",
                "-f", str(path))
        assert kubectl.json("get", "configmap", "conf")["data"] == {"a": "changed", "b": "2"}
    finally:
        kubectl("delete", "configmap", "conf", "--ignore-not-found")


def test_diff_and_server_dry_run_change_nothing(kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    kubectl("apply", "-f", write(path, configmap_manifest()))
    try:
        changed = configmap_manifest()
        changed["data"]["a"] = "2"
        write(path, changed)
        diff = kubectl("diff", "-f", str(path), check=False)
        assert diff.returncode == 1, diff.stderr  # 1: there are differences
        assert '-  a: "1"' in diff.stdout and '+  a: "2"' in diff.stdout
        dry = kubectl("apply", "--dry-run=server", "-f", str(path), "-o", "json")
        assert yaml.safe_load(dry.stdout)["data"]["a"] == "2"
        assert kubectl.json("get", "configmap", "conf")["data"]["a"] == "1"
    finally:
        kubectl("delete", "configmap", "conf", "--ignore-not-found")


def test_apply_switches_a_volume_source(kubectl: Kubectl, tmp_path: Path) -> None:
    # volumes are "merge,retainKeys": kubectl sends $retainKeys, so the old source goes.
    path = tmp_path / "rc.yaml"
    first = rc_manifest("vol")
    first["spec"]["template"]["spec"]["volumes"] = [{"name": "v", "emptyDir": {}}]
    kubectl("apply", "-f", write(path, first))
    try:
        second = copy.deepcopy(first)
        second["spec"]["template"]["spec"]["volumes"] = [
            {"name": "v", "hostPath": {"path": "/tmp"}}]
        kubectl("apply", "-f", write(path, second))
        volumes = kubectl.json("get", "rc", "vol")["spec"]["template"]["spec"]["volumes"]
        assert [{k: v for k, v in vol.items() if k != "hostPath"} for vol in volumes] == [
            {"name": "v"}]
        assert volumes[0]["hostPath"]["path"] == "/tmp"
    finally:
        kubectl("delete", "rc", "vol", "--ignore-not-found")
