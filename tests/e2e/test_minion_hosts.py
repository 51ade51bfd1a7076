"""Three hosts, one cluster: each host a network namespace (tests/e2e/hosts.py), wired to a test
bridge in a fourth (172.31.250.0/24, inside the namespaces only; no route out anywhere).
Host 1 runs ``km all-in-one``, hosts 2 and 3 ``km minion --server https://HOST1:6443 --token``
(each with kube's own ports, as on separate machines); the nodes go Ready, a pod runs on each
host and ``kubectl logs`` reaches each host's kubelet over the bridge; a pod on host 2 reaches
the pods on hosts 1 and 3 by pod IP (host-gw routes, servers/minion/hostgw.py), and a Service
over all three by ClusterIP and by DNS name, as does host 1 itself. ``km cleanup`` then removes
everything on every host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.aio import POLL, Cluster
from tests.e2e.hosts import FETCH, SUBNET, approve_serving, pod_on
from tests.e2e.multihost import clean_up_every_host, three_hosts
from tests.e2e.netns import inside
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SERVICE = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 8000}]}})


def check_traffic_across_hosts(aio: Cluster, names: list[str], h1: str) -> None:
    """From a pod on host 2: host 3's and host 1's pods by IP, the Service by ClusterIP and by
    name; from host 1 itself: host 2's and host 3's pods by IP."""
    ips = {p["spec"]["nodeName"]: p["status"]["podIP"] for p in aio.json("get", "pods")["items"]}
    cluster_ip = aio.json("get", "service", "web")["spec"]["clusterIP"]
    targets = [ips[names[2]], ips[names[0]], cluster_ip, "web.default.svc.cluster.local"]
    done = aio.run("apply", "-f", "-", input=pod_on(
        names[1], "client", ["python3", "-c", FETCH, *targets]))
    assert done.returncode == 0, done.stderr
    until(lambda: aio.run("logs", "client").stdout.count("\n") >= len(targets),
          "the client's answers", 60, POLL)
    assert aio.run("logs", "client").stdout.split("\n")[:-1] == [f"ok {t}" for t in targets]
    for ip in (ips[names[1]], ips[names[2]]):
        code = f"import urllib.request; urllib.request.urlopen('http://{ip}:8000/', timeout=5)"
        assert inside(h1, "python3", "-c", code, check=False).returncode == 0, ip


def test_three_hosts_join_and_each_runs_a_pod(km: Path, tmp_path: Path) -> None:
    with three_hosts(km, tmp_path, "h", "--bind-address", "0.0.0.0") as cluster:
        aio, names = cluster.aio, cluster.names
        for name in names[1:]:
            until(lambda n=name: aio.node_ready(n), f"{name} Ready", 60, POLL)
        wide = aio.kubectl("get", "nodes", "-o", "wide")
        for i in (1, 2, 3):
            assert f"{SUBNET}.{i}" in wide
        for name in names:
            done = aio.run("apply", "-f", "-", input=pod_on(name))
            assert done.returncode == 0, done.stderr

        def logs_reach_every_host() -> bool:
            approve_serving(aio)  # the minions ask once they joined: approve as they come
            return all(aio.run("logs", f"on-{n}").stdout == f"hello from {n}\n" for n in names)

        until(logs_reach_every_host, "every host's pod logging through its kubelet", 60, POLL)
        pods = aio.json("get", "pods")["items"]
        assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(names)
        assert all(p["status"]["phase"] == "Running" for p in pods)
        assert aio.run("apply", "-f", "-", input=SERVICE).returncode == 0
        check_traffic_across_hosts(aio, names, cluster.namespaces[0])
        clean_up_every_host(cluster)
