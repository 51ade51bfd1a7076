"""km.pyz minion joining by token: Kubernetes' TLS bootstrap against a real ``km all-in-one``
(the CA pinned by the token's hash, CSRs approved and signed by its controller-manager).

The fixtures and the node checks are test_minion.py's.
"""

# ruff: noqa: F811 (the tests' parameters are test_minion.py's fixtures, imported here)
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from hyperkube import messages as msg
from servers.minion import join
from tests.e2e.aio import POLL, WAIT, Cluster
from tests.e2e.test_minion import (  # noqa: F401 (fixtures)
    Minion,
    check_children_restart_and_stop,
    check_node_runs_a_pod,
    cluster,
    minions,
    server_url,
)
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_minion_joins_with_the_token_by_tls_bootstrap(km: Path, cluster: Cluster,
                                                      tmp_path: Path,
                                                      minions: list[Minion]) -> None:
    token = (cluster.data / "node-token").read_text().strip()
    minion = Minion(km, tmp_path / "m2", "m2", "--server", server_url(cluster),
                    "--token", token, "--join-timeout", "60")
    minions.append(minion)
    minion.start()
    check_node_runs_a_pod(cluster, minion)
    # The kubelet's serving certificate: asked for by the node and approved by km's approver
    # once its names are the Node's (kube leaves these to an admin; k3s signs them), then
    # used at once.
    until(lambda: [c for c in cluster.json("get", "csr")["items"]
                   if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
                   and any(k.get("reason") == "AutoApproved"
                           for k in c.get("status", {}).get("conditions") or ())
                   and c["status"].get("certificate")],
          "the kubelet-serving request approved and signed", WAIT, POLL)
    until(lambda: cluster.run("logs", "on-minion").stdout == "up\n",
          "kubectl logs through the kubelet's signed serving certificate", WAIT, POLL)
    check_children_restart_and_stop(minion)
    root = minion.root
    for key in ("kubelet-client", "proxy"):
        assert stat.S_IMODE((root / "pki" / f"{key}.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "kubelet.kubeconfig").stat().st_mode) == 0o600
    csrs = cluster.json("get", "csr")["items"]
    signers = {c["spec"]["signerName"]: c["spec"]["username"] for c in csrs
               if c["status"].get("certificate")}
    assert signers["kubernetes.io/kube-apiserver-client-kubelet"].startswith(
        "system:bootstrap:")
    assert "kubernetes.io/kube-apiserver-client" in signers
    # a restart reuses the credentials: no new request
    minion.start()
    until(lambda: "reusing" in minion.log.read_text(), "the restart", WAIT, POLL)
    assert minion.stop() == 0
    assert len(cluster.json("get", "csr")["items"]) == len(csrs)


def test_a_wrong_ca_hash_or_secret_is_one_line_and_exit_1(km: Path, cluster: Cluster,
                                                          tmp_path: Path) -> None:
    token = (cluster.data / "node-token").read_text().strip()
    url = server_url(cluster)
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path / "cache")}
    base = [str(km), "minion", "--server", url, "--isolation", "none",
            "--root-dir", str(tmp_path / "bad"), "--join-timeout", "5"]
    wrong_hash = "K10" + "0" * 64 + "::" + token.split("::")[1]
    done = subprocess.run([*base, "--token", wrong_hash], capture_output=True, text=True,
                          env=env, timeout=60)
    ca = (cluster.data / "pki" / "ca.crt").read_bytes()
    want = join.CA_MISMATCH.format(server=url, got=hashlib.sha256(ca).hexdigest(),
                                   want="0" * 64)
    assert done.returncode == msg.EXIT_FAILURE
    assert done.stderr.splitlines()[-1] == msg.SERVER_ERROR.format(
        prog="km", server="minion", error=want)
    assert "Traceback" not in done.stderr
    wrong_secret = token.split("::")[0] + "::" + token.split("::")[1].split(".")[0] + "." + (
        "x" * 16)
    done = subprocess.run([*base, "--token", wrong_secret], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == msg.EXIT_FAILURE
    last = done.stderr.splitlines()[-1]
    assert last.startswith("km minion: error: the bootstrap token was refused"), done.stderr
    assert "x" * 16 not in done.stderr and "Traceback" not in done.stderr
