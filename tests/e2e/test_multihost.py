"""Three hosts, one cluster, and the faults a node survives or the cluster heals around.

Each host is a network namespace on a test bridge (tests/e2e/hosts.py's
``hosts``: 172.31.250.0/24 inside the namespaces only, no route out). Host 1 runs ``km
all-in-one`` with kube's node-health timings shortened (--node-monitor-grace-period 20s, kube's
default 50s; --node-monitor-period 1s), hosts 2 and 3 ``km minion --server --token``. Then:

- a Deployment with a topology spread constraint (one pod per hostname, DoNotSchedule, tainted
  nodes not counted) puts one pod on each host, and a pod on host 3 reaches the other two by
  pod IP (host-gw routes), the Service by ClusterIP (each host's nftables) and by DNS name
  (host 3's km dns);
- the kubelet child of host 2's minion killed with SIGKILL: the minion starts another, the pod
  on host 2 keeps its container (same id, no restart) and answers all along, and the new
  kubelet serves its logs;
- host 3 taken away (its link down: its processes run on, unheard): its node's
  Ready goes Unknown, the unreachable NoExecute taint evicts its pod after the pod's own
  tolerationSeconds (2 s, instead of the 300 s DefaultTolerationSeconds gives), the Deployment
  runs its three pods on hosts 1 and 2, and the ClusterIP reaches only live pods;
- host 3 back (link up): its node Ready and untainted within a heartbeat (its kubelet posts
  its status once it sees the controller's Unknown), its evicted pod removed by its kubelet.

``km cleanup`` on every host removes everything, even on failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.aio import POLL, Cluster, apply
from tests.e2e.hosts import FETCH, approve_serving, children, pod_on
from tests.e2e.multihost import clean_up_every_host, three_hosts
from tests.e2e.netns import inside
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]  # ~80 s on a quiet machine

GRACE = "20s"  # --node-monitor-grace-period: twice the kubelet's 10 s Lease renewal
TOLERATION = 2  # seconds a pod stays on an unreachable node
SHORT_TIMINGS = ["--kube-controller-manager-arg", f"node-monitor-grace-period={GRACE}",
                 "--kube-controller-manager-arg", "node-monitor-period=1s"]


def spread_web(replicas: int) -> str:
    """A Deployment of http.server pods, at most one more on any host than on another (hosts
    with a taint the pod does not tolerate not counted), gone from an unreachable host after
    ``TOLERATION`` seconds."""
    labels = {"app": "web"}
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": TOLERATION}
                   for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "tolerations": tolerations,
                     "topologySpreadConstraints": [{
                         "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                         "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor",
                         "labelSelector": {"matchLabels": labels}}],
                     "containers": [{"name": "web", "image": "python",
                                     "command": ["python3", "-m", "http.server", "8000"]}]}}}})


SERVICE = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 8000}]}})


def web_pods(aio: Cluster) -> list[dict[str, Any]]:
    """The running web pods that are not terminating."""
    return [p for p in (aio.json("get", "pods", "-l", "app=web") or {}).get("items") or []
            if p["status"].get("phase") == "Running" and p["status"].get("podIP")
            and not p["metadata"].get("deletionTimestamp")]


def one_per_node(aio: Cluster) -> dict[str, dict[str, Any]]:
    """Three running web pods by node, once each is on a node of its own."""
    pods = web_pods(aio)
    by_node = {p["spec"]["nodeName"]: p for p in pods}
    return by_node if len(by_node) == len(pods) == 3 else {}


def untainted(aio: Cluster, names: list[str]) -> bool:
    """Every node Ready and without taints (the controller lifts not-ready's once Ready)."""
    nodes = {n["metadata"]["name"]: n for n in aio.json("get", "nodes")["items"]}
    return all(aio.node_ready(n) and not (nodes[n].get("spec") or {}).get("taints")
               for n in names)


def answers(ns: str, target: str, times: int = 1) -> bool:
    """``http://TARGET:8000/`` answers ``times`` times in a row, asked from host ``ns``."""
    code = ("import urllib.request\n"
            f"for _ in range({times}):\n"
            f"    urllib.request.urlopen('http://{target}:8000/', timeout=3).read()\n")
    return inside(ns, "python3", "-c", code, check=False, timeout=30).returncode == 0


def check_spread_and_traffic(aio: Cluster, names: list[str]) -> dict[str, dict[str, Any]]:
    """One web pod per host; a pod on host 3 reaches hosts 1's and 2's by IP, the Service by
    ClusterIP and by name."""
    apply(aio, spread_web(3))
    apply(aio, SERVICE)
    pods = until(lambda: one_per_node(aio), "one web pod Running on each host", 60, POLL)
    assert sorted(pods) == sorted(names)
    cluster_ip = aio.json("get", "service", "web")["spec"]["clusterIP"]
    targets = [pods[names[0]]["status"]["podIP"], pods[names[1]]["status"]["podIP"],
               cluster_ip, "web.default.svc.cluster.local"]
    apply(aio, pod_on(names[2], "client", ["python3", "-c", FETCH, *targets]))
    until(lambda: logs(aio, "client").count("\n") >= len(targets), "the client's answers", 60, POLL)
    assert aio.run("logs", "client").stdout.split("\n")[:-1] == [f"ok {t}" for t in targets]
    aio.kubectl("delete", "pod", "client", "--wait=false")
    return pods


def heartbeat(aio: Cluster, node: str) -> str:
    """The Ready condition's lastHeartbeatTime (a kubelet posts it when it registers)."""
    conditions = aio.json("get", "node", node)["status"]["conditions"]
    return next(c["lastHeartbeatTime"] for c in conditions if c["type"] == "Ready")


def container_of(aio: Cluster, pod: str) -> tuple[str, int, str]:
    """The pod's container id, restart count and start time."""
    status = aio.json("get", "pod", pod)["status"]["containerStatuses"][0]
    return status["containerID"], status["restartCount"], status["state"]["running"]["startedAt"]


def logs(aio: Cluster, pod: str) -> str:
    """The pod's log through its kubelet, approving the nodes' serving certificates first
    (the minions ask once they joined, as kube's kubelets do)."""
    approve_serving(aio)
    return aio.run("logs", pod).stdout


def serving_kubelet(minion: int) -> int:
    """The pid of the minion's kubelet child once it runs with a serving certificate."""
    pid = children(minion).get("kubelet")
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes() if pid else b""
    except FileNotFoundError:
        return 0
    return pid if pid and b"--tls-cert-file" in argv else 0


def check_kubelet_killed(aio: Cluster, minion: subprocess.Popen[bytes], node: str,
                         pod: dict[str, Any], h1: str) -> None:
    """SIGKILL the minion's kubelet: another starts, the pod's container runs on untouched."""
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    # the minion restarts its kubelet once the serving certificate is signed: kill that one
    kubelet = until(lambda: serving_kubelet(minion.pid),
                    "the kubelet with its serving "
                    "certificate", 20, POLL)
    before, beat = container_of(aio, name), heartbeat(aio, node)
    os.kill(kubelet, signal.SIGKILL)
    assert answers(h1, ip), "the pod answers while its kubelet is down"
    until(lambda: children(minion.pid).get("kubelet", kubelet) != kubelet,
          "the minion's new kubelet", 20, POLL)
    until(lambda: heartbeat(aio, node) != beat, "the new kubelet registered", 20, POLL)
    assert answers(h1, ip, times=3)
    assert aio.node_ready(node)
    # the new kubelet serves the running container's log (http.server logs each request)
    until(lambda: "GET / HTTP" in logs(aio, name), "the pod's log via the new kubelet", 20, POLL)
    assert container_of(aio, name) == before


def ready_status(aio: Cluster, node: str) -> str:
    conditions = aio.json("get", "node", node)["status"]["conditions"]
    return next(c["status"] for c in conditions if c["type"] == "Ready")


def evicted(aio: Cluster, pod: str) -> bool:
    """The pod is being deleted, or is gone."""
    found = aio.json("get", "pod", pod)
    return found is None or bool(found["metadata"].get("deletionTimestamp"))


def slice_ready_ips(aio: Cluster, service: str) -> set[str]:
    """The ready endpoints' addresses in the Service's EndpointSlices (what a proxy routes to)."""
    found = aio.json("get", "endpointslices", "-l", f"kubernetes.io/service-name={service}")
    return {address for item in (found or {}).get("items") or ()
            for endpoint in item.get("endpoints") or ()
            if (endpoint.get("conditions") or {}).get("ready", True)
            for address in endpoint.get("addresses") or ()}


def check_host_taken_away(aio: Cluster, h3: str, names: list[str], h1: str,
                          gone: dict[str, Any]) -> None:
    """Host 3's link down: its node goes Unknown and its pod is replaced on hosts 1 and 2."""
    inside(h3, "ip", "link", "set", "eth0", "down")
    until(lambda: ready_status(aio, names[2]) == "Unknown", "host 3's node NotReady", 45, POLL)

    def unreachable() -> bool:  # (the taint is a later write than the status: may lag it)
        taints = aio.json("get", "node", names[2])["spec"].get("taints") or []
        return {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"} in [
            {"key": t["key"], "effect": t["effect"]} for t in taints]

    until(unreachable, "host 3's node tainted unreachable NoExecute", 20, POLL)
    until(lambda: evicted(aio, gone["metadata"]["name"]),
          f"host 3's pod evicted after {TOLERATION} s", 20, POLL)
    pods = until(lambda: (found := web_pods(aio)) and len(found) == 3 and found,
                 "three web pods running again", 30, POLL)
    assert sorted({p["spec"]["nodeName"] for p in pods}) == sorted(names[:2])
    replicas = until(lambda: (dep := aio.json("get", "deployment", "web"))
                     and dep["status"].get("availableReplicas") == 3 and dep,
                     "three available web pods again", 30, POLL)
    assert replicas["status"]["availableReplicas"] == 3
    cluster_ip = aio.json("get", "service", "web")["spec"]["clusterIP"]
    until(lambda: gone["status"]["podIP"] not in aio.kubectl(
        "get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}"),
        "the evicted pod out of the endpoints", 20, POLL)
    # The proxy follows the EndpointSlices (another controller than the Endpoints'), then
    # programs its rules: once the slices drop the pod, host 1's proxy soon routes around
    # it. 16 answers in a row from 3 endpoints, one dead, would pass by chance 1 in 650.
    until(lambda: gone["status"]["podIP"] not in slice_ready_ips(aio, "web"),
          "the evicted pod out of the EndpointSlices", 20, POLL)
    until(lambda: answers(h1, cluster_ip, times=16),
          "every ClusterIP answer from a live pod", 15, POLL)


def check_host_back(aio: Cluster, h3: str, node: str, gone: dict[str, Any]) -> None:
    """Host 3's link up again: its node Ready and untainted, its evicted pod removed by its
    own kubelet."""
    inside(h3, "ip", "link", "set", "eth0", "up")
    until(lambda: untainted(aio, [node]), "host 3's node Ready again, its taints lifted", 60, POLL)
    until(lambda: aio.json("get", "pod", gone["metadata"]["name"]) is None,
          "host 3's evicted pod removed by its kubelet", 30, POLL)


def test_three_hosts_spread_and_heal(km: Path, tmp_path: Path) -> None:
    with three_hosts(km, tmp_path, "m", *SHORT_TIMINGS) as cluster:
        aio, names, (h1, _, h3) = cluster.aio, cluster.names, cluster.namespaces
        until(lambda: untainted(aio, names), "three nodes Ready and untainted", 60, POLL)
        pods = check_spread_and_traffic(aio, names)
        check_kubelet_killed(aio, cluster.minions[0], names[1], pods[names[1]], h1)
        check_host_taken_away(aio, h3, names, h1, pods[names[2]])
        check_host_back(aio, h3, names[2], pods[names[2]])
        clean_up_every_host(cluster)
