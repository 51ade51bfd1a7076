"""km.pyz all-in-one: the whole cluster in one process, driven by the real kubectl.

--isolation none runs on the host, bound to 127.0.0.1 (pods on loopback addresses, the
userspace proxy on a loopback service range). --isolation namespaces runs, as root, inside a
fresh network namespace this module makes (nsenter), with only loopback up and no route out:
the node bridge, veths, 10.244.x addresses and nftables rules exist only in there, and the
module removes its pods, the runtime's leftovers and the namespace itself.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperkube import messages as msg
from servers.kubelet.runtime import names
from tests.e2e.aio import (
    POLL,
    QUIET,
    REPO,
    WAIT,
    Cluster,
    apply,
    deployment,
    remove_namespaced_pods,
    remove_process_pods,
)
from tests.e2e.netns import enter, network_namespace
from tests.support.etcd import EtcdServer
from tests.support.ports import free_port
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WEB = ("exec python3 -u -m http.server 8000 --bind ${POD_IP}")


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status) == 200
    except OSError:
        return False


def test_a_bad_passed_flag_is_one_line_and_exit_1(km: Path, tmp_path: Path) -> None:
    cluster = Cluster(km, tmp_path / "data", "--isolation", "none", "--secure-port", "0",
                      "--kubelet-arg", "max-pods=many")
    done = subprocess.run(cluster.cmd, capture_output=True, text=True, timeout=60,
                          env=cluster.env)
    assert done.returncode == 1
    assert done.stderr == msg.SERVER_ERROR.format(
        prog="km", server="all-in-one", error=msg.GROUP_BAD_FLAGS.format(
            server="kubelet", error='argument --max-pods: invalid number "many"')) + "\n"


def test_none_mode_runs_a_deployment_and_survives_kill_9(km: Path, tmp_path: Path) -> None:
    node = "aio-none"
    cluster = Cluster(km, tmp_path / "data", "--isolation", "none", "--node-name", node,
                      "--secure-port", str(free_port()), *QUIET)
    cluster.start()
    try:
        until(lambda: cluster.node_ready(node), "the node to be Ready", WAIT, POLL)
        assert cluster.kubectl("get", "pods", "-A") is not None
        pki = {p.name: p.read_bytes() for p in (cluster.data / "pki").iterdir()}
        token = (cluster.data / "node-token").read_text()
        assert token.startswith("K10") and "::" in token
        apply(cluster, deployment("web", 2, WEB))
        pods = until(lambda: cluster.running("app=web", 2), "2 web pods Running", WAIT, POLL)
        uids = sorted(p["metadata"]["uid"] for p in pods)
        until(lambda: "Serving HTTP on" in cluster.kubectl("logs", pods[0]["metadata"]["name"]),
              "the pod's log through the apiserver and the kubelet", WAIT, POLL)

        cluster.kubectl("expose", "deployment", "web", "--port", "80", "--target-port", "8000")
        cluster_ip = cluster.json("get", "service", "web")["spec"]["clusterIP"]
        assert cluster_ip.startswith("127."), "a loopback service range in none mode"
        until(lambda: _get(f"http://{cluster_ip}/"),
              "the Service through the userspace proxy", WAIT, POLL)

        cluster.kill()  # kill -9: the pods are conmon's children, not the cluster's
        cluster.start()
        until(lambda: cluster.node_ready(node) and cluster.running("app=web", 2),
              "the node Ready again with the same pods", WAIT, POLL)
        again = cluster.running("app=web", 2)
        assert sorted(p["metadata"]["uid"] for p in again) == uids
        assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in again)
        assert {p.name: p.read_bytes() for p in (cluster.data / "pki").iterdir()} == pki
        assert (cluster.data / "node-token").read_text() == token
        assert "reusing the cluster's PKI" in cluster.log.read_text()
        until(lambda: _get(f"http://{cluster_ip}/"), "the Service again", WAIT, POLL)

        cluster.kubectl("delete", "deployment", "web")
        until(lambda: not (cluster.json("get", "pods") or {"items": [1]})["items"],
              "the pods to go", WAIT, POLL)
        assert cluster.stop() == 0
    finally:
        cluster.stop()
        remove_process_pods(cluster.data / "kubelet", node)
    text = cluster.log.read_text()
    assert "Traceback" not in text
    assert "isolation none: " in text


def test_etcd_backend(km: Path, tmp_path: Path) -> None:
    node = "aio-etcd"
    with EtcdServer() as etcd:
        cluster = Cluster(km, tmp_path / "data", "--isolation", "none", "--node-name", node,
                          "--secure-port", "0", "--storage-backend", "etcd",
                          "--etcd-servers", etcd.endpoint, *QUIET)
        cluster.start()
        try:
            until(lambda: cluster.node_ready(node), "the node to be Ready", WAIT, POLL)
            assert cluster.stop() == 0
        finally:
            cluster.stop()
            remove_process_pods(cluster.data / "kubelet", node)
    text = cluster.log.read_text()
    assert "(storage: etcd)" in text
    assert not (cluster.data / "db").exists(), "no SQLite store beside etcd"


# -- namespaces, inside a network namespace of the test's own ---------------------------------

@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("km-aio") as name:
        yield name


def _answers(netns: str, ip: str, path: str = "/", starts: str = "") -> bool:
    """Whether http://IP:8000/PATH answers 200 (with a body starting with ``starts``)."""
    fetch = ("import urllib.request; "
             f"a = urllib.request.urlopen('http://{ip}:8000{path}', timeout=2); "
             "print(a.status, a.read().decode(errors='replace'))")
    done = subprocess.run([*enter(netns), "python3", "-c", fetch], capture_output=True,
                          text=True, timeout=10)
    return done.stdout.startswith(f"200 {starts}")


def test_namespaces_mode_pod_answers_at_its_pod_ip(km: Path, tmp_path: Path,
                                                   netns: str) -> None:
    node = f"aio-{secrets.token_hex(2)}"
    cluster = Cluster(km, tmp_path / "data", "--isolation", "namespaces", "--node-name", node,
                      "--node-ip", "127.0.0.1", prefix=tuple(enter(netns)))
    cluster.start()
    pod_cidr = ""
    try:
        until(lambda: cluster.node_ready(node), "the node to be Ready", WAIT, POLL)
        pod_cidr = cluster.json("get", "node", node)["spec"]["podCIDR"]
        apply(cluster, deployment("web", 1, "exec python3 -u -m http.server 8000"))
        pods = until(lambda: cluster.running("app=web", 1), "the web pod Running", WAIT, POLL)
        ip = pods[0]["status"]["podIP"]
        assert ip in cluster.kubectl("get", "pods", "-o", "wide")
        until(lambda: _answers(netns, ip), "the pod at its IP", WAIT, POLL)
        # http.server serves the pod's / : its service account token volume is mounted
        mount = "/var/run/secrets/kubernetes.io/serviceaccount"
        assert _answers(netns, ip, f"{mount}/namespace", "default")
        assert _answers(netns, ip, f"{mount}/token", "eyJ")
        spec = pods[0]["spec"]
        assert spec.get("dnsPolicy", "ClusterFirst") == "ClusterFirst"
        gateway = pod_cidr.rsplit(".", 1)[0] + ".1"
        assert f"cluster DNS on {gateway}" in cluster.log.read_text()
        confs = [p.read_text() for p in (cluster.data / "kubelet").rglob("resolv.conf")]
        assert confs and all(f"nameserver {gateway}" in c for c in confs), confs
        ask = ("import dns.message, dns.query; q = dns.message.make_query("
               "'kubernetes.default.svc.cluster.local', 'A'); "
               f"print(dns.query.udp(q, '{gateway}', timeout=2).answer[0][0].address)")
        until(lambda: subprocess.run([*enter(netns), str(REPO / ".venv/bin/python"), "-c",
                                      ask], capture_output=True, text=True, timeout=10
                                     ).stdout.strip() == "10.96.0.1",
              "km dns on the bridge to answer kubernetes.default", WAIT, POLL)
        cluster.kill()  # kill -9: the sandboxed pod keeps running, the restart adopts it
        assert _answers(netns, ip)
        cluster.start()
        until(lambda: cluster.running("app=web", 1),
              "the pod Running after the restart", WAIT, POLL)
        assert cluster.running("app=web", 1)[0]["metadata"]["uid"] == pods[0]["metadata"]["uid"]
        cluster.kubectl("delete", "deployment", "web")
        until(lambda: not (cluster.json("get", "pods") or {"items": [1]})["items"],
              "the pod to go", WAIT, POLL)
        assert cluster.stop() == 0
    finally:
        if cluster.proc is not None and cluster.proc.poll() is None:  # a failure above
            cluster.kubectl("delete", "deployment", "web", "--ignore-not-found", "--wait",
                            "--timeout=20s", check=False)
        cluster.stop()
        if pod_cidr:
            remove_namespaced_pods(netns, cluster.data / "kubelet", node, pod_cidr)
    assert "Traceback" not in cluster.log.read_text()
    found = [n for n in os.listdir("/run/netns") if n.startswith(names.for_node(node).netns_prefix)]
    assert found == [], "pod network namespaces left behind"
