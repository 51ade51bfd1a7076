"""Volume layout: kube's atomic writer (..data), items and modes, downwardAPI, subPath."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from servers.kubelet import volumes
from servers.kubelet.envvars import Sources

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"b": "2", "a": "1"}},
       "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}}


def sources(**data: str) -> Sources:
    cm = {"cfg": {"data": data}}
    secret = {"db": {"data": {"password": base64.b64encode(b"s3cret").decode()}}}
    return Sources(cm, secret, [], pod_ip="10.0.0.5")


def test_atomic_writer_layout_and_update(tmp_path: Path) -> None:
    target = str(tmp_path / "v")
    assert volumes.atomic_write(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    data = os.readlink(os.path.join(target, "..data"))
    assert data.startswith("..") and os.path.isdir(os.path.join(target, data))
    assert os.readlink(os.path.join(target, "a")) == "..data/a"
    assert (tmp_path / "v" / "dir" / "b").read_bytes() == b"2"
    assert oct(os.stat(os.path.join(target, "dir", "b")).st_mode & 0o777) == "0o600"
    assert not volumes.atomic_write(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert volumes.atomic_write(target, {"a": (b"changed", 0o644)})
    assert (tmp_path / "v" / "a").read_bytes() == b"changed"
    assert not os.path.lexists(os.path.join(target, "dir"))
    hidden = [n for n in os.listdir(target) if n.startswith("..") and n != "..data"]
    assert len(hidden) == 1  # the old payload is gone


def test_configmap_items_secret_and_downward_api(tmp_path: Path) -> None:
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "conf", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "x/y"}]}},
        {"name": "sec", "secret": {"secretName": "db", "defaultMode": 0o400}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}}]}},
        {"name": "scratch", "emptyDir": {}}]}}
    paths = volumes.set_up(str(tmp_path), pod, sources(k="v", other="o"))
    assert paths["conf"].endswith("pods/u1/volumes/kubernetes.io~configmap/conf")
    assert Path(paths["conf"], "x", "y").read_text() == "v"
    assert not Path(paths["conf"], "other").exists()
    secret = Path(paths["sec"], "password")
    assert secret.read_bytes() == b"s3cret" and oct(secret.stat().st_mode & 0o777) == "0o400"
    assert Path(paths["info"], "labels").read_text() == 'a="1"\nb="2"'
    assert Path(paths["info"], "ip").read_text() == "10.0.0.5"
    mounts = volumes.mounts_for({"volumeMounts": [
        {"name": "conf", "mountPath": "/etc/conf", "readOnly": True},
        {"name": "scratch", "mountPath": "/data/sub", "subPath": "s"}]}, paths)
    assert mounts[0].readonly and mounts[0].host_path == paths["conf"]
    assert mounts[1].host_path == os.path.join(paths["scratch"], "s")
    with pytest.raises(volumes.VolumeError, match="leaves volume"):
        volumes.mounts_for({"volumeMounts": [{"name": "scratch", "mountPath": "/x",
                                              "subPath": "../.."}]}, paths)
    volumes.tear_down(str(tmp_path), "u1")
    assert not (tmp_path / "pods" / "u1").exists()


def test_missing_configmap_is_a_volume_error(tmp_path: Path) -> None:
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "conf", "configMap": {"name": "absent"}}]}}
    with pytest.raises(volumes.VolumeError, match='configmap "absent" not found'):
        volumes.set_up(str(tmp_path), pod, sources())
