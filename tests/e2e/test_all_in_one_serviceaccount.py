"""km.pyz all-in-one --isolation none with ServiceAccount tokens, as in namespaces mode.

The signer is on in both modes: ``kubectl create token default`` gives a token the apiserver
takes (``kubectl auth whoami`` with only it), and a pod, a plain process, finds its projected
token, ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount (the kubelet
mounts the volume there in a mount namespace of the container's own,
servers/kubelet/runtime/mountns.py) and with them reaches the API as an in-cluster client
does: through the ``kubernetes`` Service's ClusterIP (a loopback one, the userspace proxy),
verifying the serving certificate with the published ca.crt.

The cluster runs as root inside a network namespace of the test's own (lo only), so its
loopback Service addresses and ports cannot meet another test's none-mode cluster on the host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.aio import POLL, QUIET, WAIT, Cluster, api_client_pod, remove_process_pods
from tests.e2e.netns import enter, network_namespace
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NODE = "aio-none-sa"
# before its API call, the reader shows its namespace file and the start of its ca.crt
SHOW_FILES = "cat $D/namespace; echo; head -c 27 $D/ca.crt; echo; "


def test_none_mode_signs_tokens_and_a_pod_reads_its_own(km: Path, tmp_path: Path) -> None:
    with network_namespace("km-aio-sa") as ns:
        cluster = Cluster(km, tmp_path / "data", "--isolation", "none", "--node-name", NODE,
                          "--secure-port", "6443", *QUIET, prefix=tuple(enter(ns)))
        cluster.start()
        try:
            until(lambda: cluster.node_ready(NODE), "the node to be Ready", WAIT, POLL)
            until(lambda: cluster.run("get", "sa", "default").returncode == 0,
                  "the default ServiceAccount", WAIT, POLL)
            token = cluster.kubectl("create", "token", "default").strip()
            assert token.count(".") == 2, token
            whoami = subprocess.run(
                [*enter(ns), "kubectl", "--kubeconfig", "/dev/null", "--server",
                 "https://127.0.0.1:6443", "--certificate-authority",
                 str(cluster.data / "pki" / "ca.crt"), "--token", token, "auth", "whoami",
                 "-o", "jsonpath={.status.userInfo.username}"],
                capture_output=True, text=True, timeout=30)
            assert whoami.stdout == "system:serviceaccount:default:default", whoami.stderr

            cluster.kubectl("create", "rolebinding", "reader", "--clusterrole", "view",
                            "--serviceaccount", "default:default")
            until(lambda: cluster.run("get", "cm", "kube-root-ca.crt").returncode == 0,
                  "kube-root-ca.crt", WAIT, POLL)
            done = cluster.run("apply", "-f", "-", input=api_client_pod("reader", first=SHOW_FILES))
            assert done.returncode == 0, done.stderr
            until(lambda: _phase(cluster) in ("Succeeded", "Failed"),
                  "the reader to end", WAIT, POLL)
            out = cluster.kubectl("logs", "reader").splitlines()
            assert out == ["default", "-----BEGIN CERTIFICATE-----", "200"], out
            assert _phase(cluster) == "Succeeded"
            volumes = cluster.json("get", "pod", "reader")["spec"]["volumes"]
            assert [v["name"][:16] for v in volumes] == ["kube-api-access-"]
            cluster.kubectl("delete", "pod", "reader", "--wait=true", "--timeout=20s")
            assert cluster.stop() == 0
        finally:
            cluster.stop()
            remove_process_pods(cluster.data / "kubelet", NODE)
    assert "Traceback" not in cluster.log.read_text()


def _phase(cluster: Cluster) -> str:
    pod = cluster.json("get", "pod", "reader") or {}
    return str((pod.get("status") or {}).get("phase") or "")
