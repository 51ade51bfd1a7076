"""The built km.pyz end to end over HTTPS: `km.pyz certs` makes the PKI, `km.pyz apiserver`
serves it, and the real kubectl and the official Python client work with the admin kubeconfig
— while requests without good credentials are refused and change nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import (
    TOKEN,
    WRONG_TOKEN,
    expired_client,
    foreign_client,
    make_certs,
    token_file,
)

KUBECTL_TIMEOUT = 60


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="module")
def certs(km: Path, cache_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Path:
    return make_certs(tmp_path_factory.mktemp("pki"), km=km, env=cache_env)


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, cache_env: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"),
            "--token-auth-file", str(token_file(certs))]
    with start_apiserver(tmp_path_factory.mktemp("data"), km=km, env=cache_env, secure=True,
                         extra_args=args) as server:
        yield server


def kubectl(api: ApiServer, cache: Path, *args: str, kubeconfig: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    config = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
    return subprocess.run(["kubectl", *config, "--server", api.url, "--cache-dir", str(cache),
                           *args], capture_output=True, text=True, timeout=KUBECTL_TIMEOUT)


def anonymous_kubeconfig(certs: Path, out: Path, user: dict[str, str]) -> Path:
    """A kubeconfig that trusts the cluster's CA and presents ``user`` (maybe nothing)."""
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "km", "cluster": {
               "server": "https://127.0.0.1:1", "certificate-authority": str(certs / "ca.crt")}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "km", "user": "u"}}],
           "current-context": "c"}
    out.write_text(json.dumps(doc))
    return out


def pods_revision(api: ApiServer, certs: Path, cache: Path) -> str:
    done = kubectl(api, cache, "get", "pods", "-o", "json",
                   kubeconfig=certs / "admin.kubeconfig")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["metadata"]["resourceVersion"])


def test_kubectl_with_the_admin_kubeconfig_creates_and_gets_pods(
        api: ApiServer, certs: Path, tmp_path: Path) -> None:
    admin = certs / "admin.kubeconfig"
    done = kubectl(api, tmp_path, "run", "web", "--image=nginx", "--labels=app=web",
                   kubeconfig=admin)
    assert done.returncode == 0, done.stderr
    done = kubectl(api, tmp_path, "get", "pods", "-o", "json", kubeconfig=admin)
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    assert [(p["metadata"]["name"], p["metadata"]["labels"]) for p in items] == [
        ("web", {"app": "web"})]
    done = kubectl(api, tmp_path, "get", "pods", kubeconfig=admin)
    assert done.stdout.split()[:6] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "web"]


def test_kubectl_auth_whoami_names_the_certificate_user(api: ApiServer, certs: Path,
                                                         tmp_path: Path) -> None:
    done = kubectl(api, tmp_path, "auth", "whoami", "-o", "json",
                   kubeconfig=certs / "node-n1.kubeconfig")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["userInfo"] == {
        "username": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}


@pytest.mark.parametrize("case", ["basic-auth", "wrong-token", "expired-cert", "foreign-ca"])
def test_kubectl_without_good_credentials_is_refused_and_changes_nothing(
        api: ApiServer, certs: Path, tmp_path: Path, case: str) -> None:
    # basic-auth: no credentials km accepts (kubectl prompts for some when given none at all).
    user = {"username": "admin", "password": "admin"}
    if case == "wrong-token":
        user = {"token": WRONG_TOKEN}
    elif case in ("expired-cert", "foreign-ca"):
        crt, key = (expired_client(certs, "admin", tmp_path) if case == "expired-cert"
                    else foreign_client("admin", tmp_path))
        user = {"client-certificate": str(crt), "client-key": str(key)}
    config = anonymous_kubeconfig(certs, tmp_path / "config.json", user)
    before = pods_revision(api, certs, tmp_path / "cache")
    done = kubectl(api, tmp_path / "cache", "run", f"refused-{case}", "--image=nginx",
                   kubeconfig=config)
    assert done.returncode != 0
    if case != "foreign-ca":  # refused by the TLS handshake, before any HTTP status
        assert "Unauthorized" in done.stderr
    assert WRONG_TOKEN not in "".join(api.log)
    assert pods_revision(api, certs, tmp_path / "cache") == before
    done = kubectl(api, tmp_path / "cache", "get", "pod", f"refused-{case}",
                   kubeconfig=certs / "admin.kubeconfig")
    assert "NotFound" in done.stderr


def test_kubectl_with_a_token_from_the_token_file(api: ApiServer, certs: Path,
                                                   tmp_path: Path) -> None:
    config = anonymous_kubeconfig(certs, tmp_path / "config.json", {"token": TOKEN})
    done = kubectl(api, tmp_path, "get", "pods", kubeconfig=config)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def core(api: ApiServer, certs: Path) -> Iterator[Any]:
    import kubernetes

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(certs / "admin.kubeconfig"),
                                       client_configuration=configuration)
    configuration.host = api.url
    with kubernetes.client.ApiClient(configuration) as client:
        yield kubernetes.client.CoreV1Api(client), kubernetes.client.VersionApi(client)


def test_the_python_client_works_with_the_admin_kubeconfig(core: Any) -> None:
    from kubernetes import client, watch

    v1, version = core
    assert version.get_code().major == "1"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py", labels={"app": "py"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
    created = v1.create_namespaced_pod("default", pod)
    assert created.metadata.uid
    listed = v1.list_namespaced_pod("default", label_selector="app=py")
    assert [p.metadata.name for p in listed.items] == ["py"]
    patched = v1.patch_namespaced_pod("py", "default", {"metadata": {"labels": {"tier": "x"}}})
    assert patched.metadata.labels == {"app": "py", "tier": "x"}
    stream = watch.Watch()
    events = []
    for event in stream.stream(v1.list_namespaced_pod, "default", label_selector="app=py",
                               resource_version=listed.metadata.resource_version,
                               timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            stream.stop()
        elif event["type"] == "MODIFIED" and len(events) == 1:
            v1.delete_namespaced_pod("py", "default")
    assert events[0] == ("MODIFIED", "py")
    assert events[-1] == ("DELETED", "py")
    assert v1.list_namespaced_pod("default", label_selector="app=py").items == []


def test_a_portable_build_leaves_cryptography_out_and_certs_says_so(
        tmp_path: Path, cache_env: dict[str, str]) -> None:
    import sys
    import zipfile

    from servers.certs.app import NO_CRYPTOGRAPHY
    from tests.e2e.conftest import build

    portable = build(tmp_path / "portable", "--portable") / "km.pyz"
    with zipfile.ZipFile(portable) as outer:
        inner = zipfile.ZipFile(outer.open("site-packages.zip"))
        assert not any(n.startswith("cryptography/") for n in inner.namelist())
    # -S: not even the running Python's own site-packages may lend it cryptography.
    done = subprocess.run([sys.executable, "-S", str(portable), "certs", "--dir",
                           str(tmp_path / "pki")], env=cache_env, capture_output=True,
                          text=True, timeout=KUBECTL_TIMEOUT)
    assert done.returncode == 1
    assert done.stderr.strip() == f"km certs: error: {NO_CRYPTOGRAPHY}"
    assert not (tmp_path / "pki").exists()
