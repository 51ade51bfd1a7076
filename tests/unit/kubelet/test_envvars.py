"""Container environments as kube makes them: order, $(VAR), sources, service links."""

from __future__ import annotations

import base64

import pytest

from servers.kubelet.envvars import ConfigError, Sources, expand, make_env, service_env

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
       "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {
           "limits": {"cpu": "250m", "memory": "64Mi"}}}]}}


def sources(**kw: object) -> Sources:
    cm = {"settings": {"data": {"MODE": "fast", "LEVEL": "3"}}}
    secret = {"db": {"data": {"password": base64.b64encode(b"s3cret").decode()}}}
    return Sources(kw.get("configmaps", cm), kw.get("secrets", secret),  # type: ignore[arg-type]
                   kw.get("services", []), host_ip="127.0.0.1",  # type: ignore[arg-type]
                   pod_ip="127.60.0.2", allocatable={"cpu": "4", "memory": "8Gi"})


def test_expand() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)-$(C)-$$(A)-$", env.get) == "1-two-$(C)-$(A)-$"


def test_order_sources_and_expansion() -> None:
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "settings"},
                                           "prefix": "CFG_"}],
                 "env": [{"name": "GREETING", "value": "mode=$(CFG_MODE)"},
                         {"name": "CFG_LEVEL", "value": "9"},
                         {"name": "NAME", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.name"}}},
                         {"name": "APP", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.labels['app']"}}},
                         {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                         {"name": "PW", "valueFrom": {"secretKeyRef": {
                             "name": "db", "key": "password"}}},
                         {"name": "CPU", "valueFrom": {"resourceFieldRef": {
                             "resource": "limits.cpu"}}},
                         {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                             "resource": "limits.memory", "divisor": "1Mi"}}}]}
    env = make_env(POD, container, sources())
    assert env["GREETING"] == "mode=fast"
    assert env["CFG_LEVEL"] == "9"  # env overrides envFrom
    assert (env["NAME"], env["APP"], env["IP"], env["PW"]) == ("p", "web", "127.60.0.2",
                                                              "s3cret")
    assert (env["CPU"], env["MEM"]) == ("1", "64")  # cpu rounds up


def test_missing_sources() -> None:
    ref = {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}
    with pytest.raises(ConfigError, match='configmap "nope" not found'):
        make_env(POD, {"name": "c", "env": [ref]}, sources())
    ref["valueFrom"]["configMapKeyRef"]["optional"] = True  # type: ignore[index]
    assert "X" not in make_env(POD, {"name": "c", "env": [ref]}, sources())
    key = {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "K"}}}
    with pytest.raises(ConfigError, match="couldn't find key K in ConfigMap ns/settings"):
        make_env(POD, {"name": "c", "env": [key]}, sources())


def test_service_links() -> None:
    svc = {"metadata": {"name": "redis-master", "namespace": "ns"},
           "spec": {"clusterIP": "10.0.0.11", "ports": [{"port": 6379, "name": "db"}]}}
    env = service_env([svc])
    assert env["REDIS_MASTER_SERVICE_HOST"] == "10.0.0.11"
    assert env["REDIS_MASTER_SERVICE_PORT_DB"] == "6379"
    assert env["REDIS_MASTER_PORT_6379_TCP_ADDR"] == "10.0.0.11"
    assert env["REDIS_MASTER_PORT"] == "tcp://10.0.0.11:6379"
