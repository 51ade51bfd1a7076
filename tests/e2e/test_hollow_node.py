"""km.pyz hollow-node with the real kubectl: Ready nodes, a pod Running, one-line bad flags."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Result, run
from tests.e2e.test_kubectl import Kubectl
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import make_certs
from tests.support.wait import until

WAIT = 30.0
POLL = 0.2  # how often the tests' waits (tests.support.wait) look


@pytest.fixture(scope="module")
def api(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    with start_apiserver(tmp_path_factory.mktemp("data"), km=km, env=env) as server:
        yield server


def kubectl(api: ApiServer, tmp: Path, *args: str, input: str | None = None) -> str:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH")
    done = subprocess.run(["kubectl", "--server", api.url, "--cache-dir", str(tmp / "kc"),
                           *args], capture_output=True, text=True, timeout=30, input=input)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_three_ready_nodes_and_a_running_pod(km: Path, api: ApiServer, tmp_path: Path,
                                             env: dict[str, str]) -> None:
    proc = subprocess.Popen([str(km), "hollow-node", "--master", api.url, "--nodes", "3",
                             "--delete-nodes-on-exit"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        def three_ready() -> bool:
            out = kubectl(api, tmp_path, "get", "nodes", "--no-headers")
            rows = [line.split() for line in out.splitlines()]
            return len(rows) == 3 and all(r[1] == "Ready" for r in rows)

        until(three_ready, "3 Ready nodes in kubectl get nodes", WAIT, POLL)
        wide = kubectl(api, tmp_path, "get", "nodes", "-o", "wide")
        assert "hollow-2" in wide and "100.64.0.3" in wide and "v1.32.0-km-hollow" in wide
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": {"nodeName": "hollow-1", "containers": [{"name": "c", "image": "nginx"}]}}
        kubectl(api, tmp_path, "apply", "-f", "-", input=json.dumps(pod))

        def running() -> bool:
            row = kubectl(api, tmp_path, "get", "pod", "web", "-o", "wide",
                          "--no-headers").split()
            return row[1:3] == ["1/1", "Running"] and row[5] == "100.65.1.1"

        until(running, "the pod Running 1/1 on 100.65.1.1", WAIT, POLL)
        kubectl(api, tmp_path, "delete", "pod", "web", "--timeout=20s")
        assert "web" not in kubectl(api, tmp_path, "get", "pods", "--no-headers")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert "registered 3 nodes (0 adopted)" in err
    assert "Traceback" not in err
    assert kubectl(api, tmp_path, "get", "nodes", "--no-headers").strip() == ""


@pytest.mark.parametrize(("args", "code", "text"), [
    (["--nodes", "0"], 2, "km hollow-node: error: argument --nodes: must be at least 1"),
    (["--nodes", "2", "--cpu", "x"], 2, "argument --cpu: quantities must match"),
    (["--nodes", "2", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["--nodes", "2", "--node-prefix", "UPPER", "--master", "http://127.0.0.1:9"], 1,
     'km hollow-node: error: --node-prefix "UPPER" does not make valid node names'),
    (["--nodes", "2"], 1, "km hollow-node: error: no --kubeconfig or --master given"),
])
def test_bad_flags_are_one_line(km: Path, env: dict[str, str], args: list[str], code: int,
                                text: str) -> None:
    result: Result = run([km, "hollow-node", *args], env)
    assert result.code == code
    assert text in result.err
    assert "Traceback" not in result.err
    assert len([line for line in result.err.splitlines() if "error" in line]) == 1


def test_over_https_with_a_kubeconfig_under_rbac(km: Path, tmp_path: Path,
                                                 tmp_path_factory: pytest.TempPathFactory,
                                                 env: dict[str, str]) -> None:
    """The locked door: km certs' admin kubeconfig (client certificate, system:masters)."""
    certs = make_certs(tmp_path_factory.mktemp("pki"), km=km)
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC"]
    with start_apiserver(tmp_path / "data", km=km, env=env, secure=True,
                         extra_args=args) as api:
        api.kubeconfig = certs / "admin.kubeconfig"
        kubectl = Kubectl(api, tmp_path / "kc")
        proc = subprocess.Popen([str(km), "hollow-node", "--kubeconfig", str(api.kubeconfig),
                                 "--master", api.url, "--nodes", "2", "--node-prefix", "tls"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        try:
            def two_ready() -> bool:
                rows = [line.split() for line in
                        kubectl("get", "nodes", "--no-headers").stdout.splitlines()]
                return len(rows) == 2 and all(r[1] == "Ready" for r in rows)

            until(two_ready, "2 Ready nodes over HTTPS", WAIT, POLL)

            def leases() -> list[str]:  # (a node's first Lease may follow its Ready status)
                out = kubectl("get", "leases", "-n", "kube-node-lease", "--no-headers").stdout
                return sorted(line.split()[0] for line in out.splitlines())

            until(lambda: leases() == ["tls-0", "tls-1"], "the 2 nodes' Leases", WAIT, POLL)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
        # without --delete-nodes-on-exit the nodes stay registered, as after a kubelet stops
        assert len(kubectl("get", "nodes", "--no-headers").stdout.splitlines()) == 2
