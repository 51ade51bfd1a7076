"""Authorization as kubectl users meet it: the built km.pyz serving HTTPS under
``--authorization-mode Node,RBAC``, certificates and kubeconfigs from ``km certs`` (nodes n1
and n2), and a static token for alice.

alice starts with no binding (Forbidden, ``can-i`` says no); a Role and RoleBinding created by
the admin from a manifest let her read pods in default only. The scheduler's kubeconfig gets
exactly what its bootstrap role grants; each node's, what the Node authorizer grants, and
NodeRestriction keeps n1 off n2's Node, pods and Lease (403, nothing changed).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_kubectl import KUBECTL_TIMEOUT, MANIFESTS
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import TOKEN, make_certs, token_file

FORBIDDEN = ('Error from server (Forbidden): pods is forbidden: User "alice" cannot list '
             'resource "pods" in API group "" in the namespace "default"')


@pytest.fixture(scope="module")
def certs(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_certs(tmp_path_factory.mktemp("pki"), km=km)  # admin, ..., node-n1
    more = subprocess.run([str(km), "certs", "--dir", str(folder), "--node", "n2"],
                          capture_output=True, text=True, timeout=120)  # keeps the rest
    assert more.returncode == 0, more.stderr
    return folder


@pytest.fixture(scope="module")
def api(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiServer]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"),
            "--token-auth-file", str(token_file(certs)), "--authorization-mode", "Node,RBAC"]
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
    assert can_i(api, certs, "node-n1", "delete", "nodes") == "no"
    assert can_i(api, certs, "node-n1", "list", "roles") == "no"
    assert can_i(api, certs, "node-n1", "get", "leases/n1", "-n", "kube-node-lease") == "yes"
    assert can_i(api, certs, "node-n1", "get", "leases/n2", "-n", "kube-node-lease").startswith(
        "no - can only access node lease with the same name as the requesting node")
    assert can_i(api, certs, "proxy", "watch", "endpoints") == "yes"
    assert can_i(api, certs, "proxy", "list", "pods") == "no"


def admin(api: ApiServer, certs: Path, *args: str) -> str:
    done = kubectl(api, certs, "admin", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def two_nodes(api: ApiServer, certs: Path) -> None:
    """Nodes n1 and n2, a pod bound to each, each node's Lease (made by the admin)."""
    for name in ("n1", "n2"):
        objs = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}},
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"on-{name}"},
                 "spec": {"nodeName": name, "containers": [{"name": "c", "image": "busybox"}]}},
                {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}}]
        path = certs / f"cluster-{name}.yaml"
        path.write_text(yaml.safe_dump_all(objs))
        admin(api, certs, "apply", "-f", str(path))


def resource_version(api: ApiServer, certs: Path, *what: str) -> str:
    return admin(api, certs, "get", *what, "-o", "jsonpath={.metadata.resourceVersion}")


def put_status(api: ApiServer, certs: Path, who: str, kind: str, name: str,
               status: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """What a kubelet does: read the object, PUT it back to ``.../status`` with a new status
    (kubectl patch --subresource=status would first GET the status, which nodes may not).
    Read as the admin: a node may not even read another node's Node or pods."""
    got = kubectl(api, certs, "admin", "get", kind, name, "-o", "json")
    assert got.returncode == 0, got.stderr
    obj = json.loads(got.stdout)
    obj["status"] = {**obj.get("status", {}), **status}
    path = certs / f"{who}-{kind}-{name}.json"
    path.write_text(json.dumps(obj))
    prefix = "/api/v1" if kind == "node" else "/api/v1/namespaces/default"
    return kubectl(api, certs, who, "replace", "--raw", f"{prefix}/{kind}s/{name}/status",
                   "-f", str(path))


READY = {"conditions": [{"type": "Ready", "status": "True"}]}


def test_each_node_writes_only_its_own(api: ApiServer, certs: Path) -> None:
    two_nodes(api, certs)
    mine = put_status(api, certs, "node-n1", "node", "n1", READY)
    assert mine.returncode == 0, mine.stderr
    pod = put_status(api, certs, "node-n1", "pod", "on-n1", {"phase": "Running"})
    assert pod.returncode == 0, pod.stderr
    assert admin(api, certs, "get", "pod", "on-n1", "-o", "jsonpath={.status.phase}") == "Running"
    renew = kubectl(api, certs, "node-n1", "patch", "lease", "n1", "-n", "kube-node-lease",
                    "--type", "merge", "-p", '{"spec":{"renewTime":"2026-11-28T12:00:00.000000Z"}}')
    assert renew.returncode == 0, renew.stderr
    refusals: list[tuple[tuple[str, ...], Callable[[], subprocess.CompletedProcess[str]], str]] = [
        (("node", "n2"), lambda: put_status(api, certs, "node-n1", "node", "n2", READY),
         'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
        (("pod", "on-n2"),
         lambda: put_status(api, certs, "node-n1", "pod", "on-n2", {"phase": "Failed"}),
         'pods "on-n2" is forbidden: node "n1" can only update pod status for pods with '
         "spec.nodeName set to itself"),
        (("pod", "on-n2"),
         lambda: kubectl(api, certs, "node-n1", "delete", "pod", "on-n2", "--wait=false"),
         'pods "on-n2" is forbidden: node "n1" can only delete pods with spec.nodeName set to '
         "itself"),
        (("lease", "n2", "-n", "kube-node-lease"),
         lambda: kubectl(api, certs, "node-n1", "patch", "lease", "n2", "-n", "kube-node-lease",
                         "--type", "merge", "-p", '{"spec":{"holderIdentity":"n1"}}'),
         "can only access node lease with the same name as the requesting node"),
    ]
    for what, attempt, message in refusals:
        before = resource_version(api, certs, *what)
        refused = attempt()
        assert refused.returncode == 1, (what, refused.stdout)
        assert "Forbidden" in refused.stderr and message in refused.stderr, refused.stderr
        assert resource_version(api, certs, *what) == before, what
