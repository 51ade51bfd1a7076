"""km.pyz minion --isolation namespaces beside a real all-in-one, both inside a network
namespace this module makes (no route out): the minion registers its node, learns its podCIDR,
points its kubelet's pods at its own dns on the node bridge (started once the first pod made
the bridge), and ``km cleanup`` then removes both nodes' servers, pods and network objects.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.aio import POLL, QUIET, WAIT, Cluster, remove_namespaced_pods
from tests.e2e.netns import enter, network_namespace
from tests.e2e.test_cleanup import leftovers
from tests.e2e.test_minion import CHILD_QUIET, children
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LOOKUP = ("for i in $(seq 100); do python3 -c 'import socket; "
          "print(\"resolved\", socket.gethostbyname(\"kubernetes.default.svc.cluster.local\"))'"
          " 2>/dev/null && break; sleep 0.2; done; exec sleep 600")


def pod(node: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "looker"},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                 "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "c", "image": "python",
                                 "command": ["sh", "-c", LOOKUP]}]}})


def container_log(root: Path) -> str:
    return "".join(p.read_text() for p in root.rglob("*.log") if "looker" in str(p))


def test_a_namespaces_minion_runs_pods_with_its_own_dns_and_cleans_up(
        km: Path, tmp_path: Path) -> None:
    aio_node, node = f"a-{secrets.token_hex(2)}", f"m-{secrets.token_hex(2)}"
    with network_namespace("km-mns") as ns:
        prefix = tuple(enter(ns))
        aio = Cluster(km, tmp_path / "data", "--secure-port", "0", "--isolation", "namespaces",
                      "--node-name", aio_node, *QUIET, prefix=prefix)
        root = tmp_path / "minion"
        minion_cmd = [*prefix, str(km), "minion", "--kubeconfig",
                      str(aio.data / "admin.kubeconfig"), "--node-name", node, "--node-ip",
                      "127.0.0.1", "--isolation", "namespaces", "--root-dir", str(root),
                      "--log-dir", str(root / "logs"), *CHILD_QUIET]
        cleanup = [*prefix, str(km), "cleanup", "--dir", str(root), "--dir", str(aio.data)]
        aio.start()
        minion = None
        try:
            until(lambda: aio.node_ready(aio_node), "the all-in-one's node Ready", WAIT, POLL)
            with open(tmp_path / "minion.log", "wb") as log:
                minion = subprocess.Popen(minion_cmd, stdout=log, stderr=log, env=aio.env)
            until(lambda: aio.node_ready(node), "the minion's node Ready", WAIT, POLL)
            cidr = aio.json("get", "node", node)["spec"]["podCIDR"]
            gateway = cidr.rsplit(".", 1)[0] + ".1"
            assert sorted(children(minion.pid)) == ["kubelet", "proxy"], "dns waits"
            done = aio.run("apply", "-f", "-", input=pod(node))
            assert done.returncode == 0, done.stderr
            until(lambda: "resolved" in container_log(root / "kubelet"),
                  "the pod resolving a Service name", WAIT, POLL)
            assert sorted(children(minion.pid)) == ["dns", "kubelet", "proxy"]
            service_ip = aio.json("get", "service", "kubernetes")["spec"]["clusterIP"]
            assert f"resolved {service_ip}" in container_log(root / "kubelet")
            resolv = next(root.rglob("resolv.conf")).read_text()
            assert f"nameserver {gateway}" in resolv

            done = subprocess.run(cleanup, capture_output=True, text=True, env=aio.env,
                                  timeout=90)
            assert done.returncode == 0, done.stdout + done.stderr
            assert minion.wait(10) == 0 and aio.proc is not None and aio.proc.wait(10) == 0
            assert leftovers(ns, node, root / "kubelet") == []
            assert leftovers(ns, aio_node, aio.data / "kubelet") == []
        finally:
            if minion is not None and minion.poll() is None:
                minion.kill()
                minion.wait(10)
            aio.stop()
            time.sleep(0.1)
            for name, kubelet in ((node, root / "kubelet"), (aio_node, aio.data / "kubelet")):
                if kubelet.exists() and leftovers(ns, name, kubelet):
                    remove_namespaced_pods(ns, kubelet, name, "10.244.0.0/24")
