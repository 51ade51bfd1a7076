"""RBAC as kubectl users meet it: the built km.pyz serving HTTPS under ``--authorization-mode
RBAC``, certificates and kubeconfigs from ``km certs``, and a static token for alice.

alice starts with no binding (Forbidden, ``can-i`` says no); a Role and RoleBinding created by
the admin from a manifest let her read pods in default only. The scheduler's and a node's
kubeconfigs get exactly what the bootstrap roles grant them.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_kubectl import KUBECTL_TIMEOUT, MANIFESTS
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import TOKEN, make_certs, token_file

FORBIDDEN = ('Error from server (Forbidden): pods is forbidden: User "alice" cannot list '
             'resource "pods" in API group "" in the namespace "default"')


@pytest.fixture(scope="module")
def certs(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("pki"), km=km)


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiServer]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"),
            "--token-auth-file", str(token_file(certs)), "--authorization-mode", "RBAC"]
    with start_apiserver(tmp_path_factory.mktemp("data"), km=km, env=env, secure=True,
                         extra_args=args) as server:
        yield server


def kubectl(api: ApiServer, certs: Path, who: str, *args: str
            ) -> subprocess.CompletedProcess[str]:
    """kubectl as ``who``: a ``km certs`` identity (admin, scheduler, node-n1) or alice."""
    if who == "alice":
        auth = ["--certificate-authority", str(certs / "ca.crt"), "--token", TOKEN]
    else:
        auth = ["--kubeconfig", str(certs / f"{who}.kubeconfig")]
    cmd = ["kubectl", *auth, "--server", api.url, "--cache-dir", str(certs / f"cache-{who}"),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT)


def can_i(api: ApiServer, certs: Path, who: str, *what: str) -> str:
    return kubectl(api, certs, who, "auth", "can-i", *what).stdout.strip()


def test_alice_is_forbidden_until_a_role_binds_her(api: ApiServer, certs: Path) -> None:
    denied = kubectl(api, certs, "alice", "get", "pods")
    assert denied.returncode == 1
    assert denied.stderr.strip() == FORBIDDEN
    assert can_i(api, certs, "alice", "list", "pods") == "no"
    created = kubectl(api, certs, "admin", "create", "-f", str(MANIFESTS / "rbac.yaml"))
    assert created.returncode == 0, created.stderr
    deadline = time.monotonic() + 10
    while can_i(api, certs, "alice", "list", "pods") != "yes":
        assert time.monotonic() < deadline, "the RoleBinding never took effect"
        time.sleep(0.1)
    listed = kubectl(api, certs, "alice", "get", "pods")
    assert listed.returncode == 0, listed.stderr
    assert can_i(api, certs, "alice", "list", "pods", "-n", "kube-system") == "no"
    assert can_i(api, certs, "alice", "delete", "pods") == "no"
    other = kubectl(api, certs, "alice", "get", "pods", "-n", "kube-system")
    assert "Forbidden" in other.stderr
    kubectl(api, certs, "admin", "delete", "-f", str(MANIFESTS / "rbac.yaml"))


def test_the_scheduler_may_bind_pods_but_not_delete_nodes(api: ApiServer, certs: Path) -> None:
    assert can_i(api, certs, "scheduler", "create", "pods", "--subresource", "binding") == "yes"
    assert can_i(api, certs, "scheduler", "watch", "pods", "--all-namespaces") == "yes"
    assert can_i(api, certs, "scheduler", "delete", "nodes") == "no"
    denied = kubectl(api, certs, "scheduler", "delete", "node", "n1")
    assert 'User "system:kube-scheduler" cannot delete resource "nodes"' in denied.stderr


def test_a_node_updates_pod_status_but_reads_no_roles(api: ApiServer, certs: Path) -> None:
    assert can_i(api, certs, "node-n1", "update", "pods", "--subresource", "status") == "yes"
    assert can_i(api, certs, "node-n1", "create", "nodes") == "yes"
    assert can_i(api, certs, "node-n1", "list", "roles") == "no"
    assert can_i(api, certs, "proxy", "watch", "endpoints") == "yes"
    assert can_i(api, certs, "proxy", "list", "pods") == "no"
