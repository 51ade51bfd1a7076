"""The real kubectl (v1.32, on the PATH) against the built km.pyz apiserver on loopback.

The module's apiserver is the locked door users meet: HTTPS with a certificate from
``km.pyz certs``, client certificates and ``--authorization-mode RBAC``; kubectl talks to it
with the generated admin kubeconfig. The other ``test_kubectl_*`` modules reuse these fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import make_certs

MANIFESTS = Path(__file__).parent / "manifests"
KUBECTL_TIMEOUT = 60


@pytest.fixture(scope="module")
def certs(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the apiserver's serving certificate and the kubeconfigs, from ``km.pyz certs``."""
    return make_certs(tmp_path_factory.mktemp("pki"), km=km)


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("apiserver-data")
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "RBAC"]
    with start_apiserver(data, km=km, env=env, secure=True, extra_args=args) as server:
        server.kubeconfig = certs / "admin.kubeconfig"
        yield server


class Kubectl:
    """kubectl against ``api``: with its admin kubeconfig when it has one (HTTPS)."""

    def __init__(self, api: ApiServer, cache: Path) -> None:
        self.api = api
        self.cache = cache
        config = ["--kubeconfig", str(api.kubeconfig)] if api.kubeconfig else []
        self.base = ["kubectl", *config,
                     "--server", api.url, "--cache-dir", str(cache)]

    def __call__(self, *args: str, check: bool = True, timeout: float = KUBECTL_TIMEOUT,
                 input: str | None = None, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True,
                              timeout=timeout, input=input, env=env)
        if check:
            assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.base, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self(*args, "-o", "json").stdout)

    def watches(self, resource: str) -> float:
        """How many watches of ``resource`` the apiserver serves now (its /metrics gauge)."""
        text = self("get", "--raw", "/metrics").stdout
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("apiserver_longrunning_requests{")
                   and 'verb="WATCH"' in line and f'resource="{resource}"' in line)

    def until_watching(self, resource: str, before: float, timeout: float = 60) -> None:
        """Wait (bounded) until more watches of ``resource`` are open than ``before``: a
        kubectl just started (which can take seconds on a loaded machine) is watching."""
        deadline = time.monotonic() + timeout
        while self.watches(resource) <= before:
            assert time.monotonic() < deadline, f"no new watch of {resource}"
            time.sleep(0.1)


@pytest.fixture
def kubectl(api: ApiServer, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    return Kubectl(api, tmp_path / "kube-cache")


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_version_reports_kubernetes_1_32(kubectl: Kubectl) -> None:
    out = kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")
    assert json.loads(out)["clientVersion"]["gitVersion"].startswith("v1.32.")


def test_api_resources_lists_core_kinds_with_short_names(kubectl: Kubectl) -> None:
    table = rows(kubectl("api-resources").stdout)
    by_name = {row[0]: row for row in table[1:]}
    for name, short in [("pods", "po"), ("nodes", "no"), ("services", "svc"),
                        ("endpoints", "ep"), ("replicationcontrollers", "rc"),
                        ("namespaces", "ns"), ("configmaps", "cm"), ("events", "ev")]:
        assert short in by_name[name], name


def test_default_namespaces_exist(kubectl: Kubectl) -> None:
    names = kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert {"namespace/default", "namespace/kube-system"} <= set(names)


def test_create_get_and_delete_a_pod(kubectl: Kubectl) -> None:
    out = kubectl("create", "-f", str(MANIFESTS / "web-pod.yaml")).stdout
    assert out.strip() == "pod/web created"
    try:
        check_pod(kubectl)
    finally:
        kubectl("delete", "pod", "web", "--ignore-not-found")


def check_pod(kubectl: Kubectl) -> None:
    table = rows(kubectl("get", "pods").stdout)
    assert table[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1][:4] == ["web", "0/1", "Pending", "0"]
    wide = rows(kubectl("get", "pods", "-o", "wide").stdout)
    assert wide[0][5:7] == ["IP", "NODE"]
    pod = kubectl.json("get", "pod", "web")
    assert pod["metadata"]["uid"] and pod["metadata"]["resourceVersion"]
    assert pod["status"]["phase"] == "Pending"
    as_yaml = yaml.safe_load(kubectl("get", "pod", "web", "-o", "yaml").stdout)
    assert as_yaml["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert kubectl("get", "pods", "-o", "name").stdout.split() == ["pod/web"]
    assert kubectl("delete", "pod", "web").stdout.strip() == 'pod "web" deleted'
    assert "NotFound" in kubectl("get", "pod", "web", check=False).stderr


def test_label_and_field_selectors(kubectl: Kubectl) -> None:
    kubectl("create", "-f", str(MANIFESTS / "web-pod.yaml"))
    try:
        assert kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split() == [
            "pod/web"]
        assert kubectl("get", "pods", "-l", "app!=web", "-o", "name").stdout.strip() == ""
        assert kubectl("get", "pods", "-l", "tier in (front,back)", "-o", "name"
                       ).stdout.split() == ["pod/web"]
        by_field = kubectl("get", "pods", "--field-selector", "metadata.name=web", "-o", "name")
        assert by_field.stdout.split() == ["pod/web"]
        phase = kubectl("get", "pods", "--field-selector", "status.phase=Running", "-o", "name")
        assert phase.stdout.strip() == ""
        bad = kubectl("get", "pods", "--field-selector", "spec.color=red", check=False)
        assert bad.returncode != 0 and "field label not supported" in bad.stderr
    finally:
        kubectl("delete", "pod", "web")


def test_service_gets_a_cluster_ip(kubectl: Kubectl) -> None:
    kubectl("create", "-f", str(MANIFESTS / "web-service.yaml"))
    try:
        svc = kubectl.json("get", "service", "web")
        assert svc["spec"]["clusterIP"].startswith("10.96.0.")
        assert svc["spec"]["ports"][0]["protocol"] == "TCP"
        table = rows(kubectl("get", "svc", "web").stdout)
        assert table[0][:5] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
        assert table[1][1] == "ClusterIP" and table[1][4] == "80/TCP"
    finally:
        kubectl("delete", "-f", str(MANIFESTS / "web-service.yaml"))


def test_replication_controller(kubectl: Kubectl) -> None:
    kubectl("create", "-f", str(MANIFESTS / "web-rc.yaml"))
    try:
        table = rows(kubectl("get", "rc").stdout)
        assert table[0][:4] == ["NAME", "DESIRED", "CURRENT", "READY"]
        assert table[1][:2] == ["web-rc", "3"]
        rc = kubectl.json("get", "rc", "web-rc")
        assert rc["spec"]["replicas"] == 3
    finally:
        kubectl("delete", "rc", "web-rc")


def test_bad_manifest_is_refused_with_the_reason(kubectl: Kubectl, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n"
                   "  containers:\n  - name: c\n    image: x\n")
    done = kubectl("create", "-f", str(bad), check=False)
    assert done.returncode != 0
    assert "is invalid" in done.stderr and "metadata.name" in done.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: ok\nspec:\n"
                       "  colour: red\n  containers:\n  - name: c\n    image: x\n")
    done = kubectl("create", "-f", str(unknown), check=False)
    assert done.returncode != 0 and 'unknown field "spec.colour"' in done.stderr


def test_get_watch_sees_a_later_change(kubectl: Kubectl) -> None:
    before = kubectl.watches("pods")
    watcher = kubectl.popen("get", "pods", "-w", "--request-timeout", "60s")
    try:
        # kubectl lists, then watches from the list: a pod made and deleted before the list
        # would never show (a fixed sleep lost that race to a slow kubectl start)
        kubectl.until_watching("pods", before)
        kubectl("create", "-f", str(MANIFESTS / "web-pod.yaml"))
        kubectl("delete", "pod", "web")
        assert watcher.stdout is not None
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 2:
            line = watcher.stdout.readline()
            if not line:
                break
            seen.append(line.split())
        names = [row[0] for row in seen if row and row[0] != "NAME"]
        assert "web" in names
    finally:
        watcher.kill()
        watcher.communicate()
