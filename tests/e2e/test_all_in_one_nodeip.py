"""km.pyz all-in-one picks its node IP as k3s does, and pods reach the API at it.

A network namespace of the test's own gets an "uplink": one end of a veth pair holding
192.0.2.10/24 (TEST-NET-1) and the default route through it, its other end in the same
namespace with no address (what is sent there goes nowhere: nothing leaves the namespace),
while the host name resolves to loopback (this machine's /etc/hosts, or it does not resolve).
All-in-one, without --node-ip and on every address (as ``make run``), must take 192.0.2.10: the
Node's InternalIP, the kubernetes Service's endpoint, and so what a pod's in-cluster client
reaches through the Service's ClusterIP, with its ServiceAccount token (a node on 127.0.0.1
would leave the pod dialling its own loopback).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from servers.kubelet.runtime import names
from tests.e2e.aio import POLL, QUIET, WAIT, Cluster, api_client_pod, remove_namespaced_pods
from tests.e2e.netns import enter, inside, network_namespace
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NODE = "aio-nodeip"
ADDRESS = "192.0.2.10"


def test_the_default_route_s_address_is_the_node_ip_pods_reach(km: Path,
                                                              tmp_path: Path) -> None:
    with network_namespace("km-nodeip") as ns:
        inside(ns, "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1")
        inside(ns, "ip", "addr", "add", f"{ADDRESS}/24", "dev", "uplink0")
        inside(ns, "ip", "link", "set", "uplink1", "up")
        inside(ns, "ip", "link", "set", "uplink0", "up")
        inside(ns, "ip", "route", "add", "default", "via", "192.0.2.1", "dev", "uplink0")
        cluster = Cluster(km, tmp_path / "data", "--isolation", "namespaces", "--node-name",
                          NODE, "--bind-address", "0.0.0.0", *QUIET, prefix=tuple(enter(ns)))
        cluster.start()
        pod_cidr = ""
        try:
            until(lambda: cluster.node_ready(NODE), "the node to be Ready", WAIT, POLL)
            node = cluster.json("get", "node", NODE)
            pod_cidr = node["spec"]["podCIDR"]
            assert {"type": "InternalIP", "address": ADDRESS} in node["status"]["addresses"]
            endpoints = cluster.json("get", "endpoints", "kubernetes")
            assert endpoints["subsets"][0]["addresses"] == [{"ip": ADDRESS}]
            cluster.kubectl("create", "rolebinding", "client", "--clusterrole", "view",
                            "--serviceaccount", "default:default")
            until(lambda: cluster.run("get", "sa", "default").returncode == 0,
                  "the default ServiceAccount", WAIT, POLL)
            done = cluster.run("apply", "-f", "-", input=api_client_pod("client"))
            assert done.returncode == 0, done.stderr
            until(lambda: _phase(cluster) in ("Succeeded", "Failed"), "the client to end", 60, POLL)
            assert cluster.kubectl("logs", "client").strip() == "200"
            cluster.kubectl("delete", "pod", "client", "--wait=true", "--timeout=20s")
            assert cluster.stop() == 0
        finally:
            if cluster.running_now():  # a failure above: no sandboxed pod outlives the test
                cluster.run("delete", "pod", "--all", "--wait", "--timeout=20s")
            cluster.stop()
            if pod_cidr:
                remove_namespaced_pods(ns, cluster.data / "kubelet", NODE, pod_cidr)
    text = cluster.log.read_text()
    assert "Traceback" not in text
    assert f"node IP {ADDRESS}: the default route's interface uplink0" in text
    prefix = names.for_node(NODE).netns_prefix
    assert not [n for n in os.listdir("/run/netns") if n.startswith(prefix)], \
        "pod network namespaces left behind"


def _phase(cluster: Cluster) -> str:
    pod = cluster.json("get", "pod", "client") or {}
    return str((pod.get("status") or {}).get("phase") or "")
