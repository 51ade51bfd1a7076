"""Hosts of a multi-host e2e test and what those tests share (support, not tests): host
network namespaces on a test bridge, a ``km minion`` started on one, the pod and checks the
tests run there, approving the nodes' serving certificates, and the cleanup helpers.

    with hosts(3) as (h1, h2, h3):               # SUBNET.1..3 on one bridge, no route out
        proc = start_minion(km, h2, root, "h2", f"{SUBNET}.2", token, log, env)
        children(proc.pid)                       # {"kubelet": pid, "proxy": pid}

Used by tests/e2e/test_minion_hosts.py, test_multihost.py and test_minion.py.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.e2e.aio import Cluster, remove_namespaced_pods
from tests.e2e.netns import enter, inside, network_namespace
from tests.e2e.test_cleanup import leftovers
from tests.support import procfs

__all__ = ["FETCH", "SUBNET", "approve_serving", "children", "host_leftovers", "hosts",
           "pod_on", "remove_what_is_left", "start_minion"]

SUBNET = "172.31.250"


@contextlib.contextmanager
def hosts(count: int) -> Iterator[list[str]]:
    """``count`` host namespaces, host i at SUBNET.i on one bridge (in a namespace of its own)."""
    with contextlib.ExitStack() as stack:
        switch = stack.enter_context(network_namespace("km-sw"))
        inside(switch, "ip", "link", "add", "br0", "type", "bridge")
        inside(switch, "ip", "link", "set", "br0", "up")
        made = []
        for i in range(1, count + 1):
            host = stack.enter_context(network_namespace(f"km-h{i}"))
            inside(switch, "ip", "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0",
                   "netns", host)
            inside(switch, "ip", "link", "set", f"p{i}", "master", "br0", "up")
            inside(host, "ip", "addr", "add", f"{SUBNET}.{i}/24", "dev", "eth0")
            inside(host, "ip", "link", "set", "eth0", "up")
            made.append(host)
        yield made


FETCH = """
import sys, time, urllib.request
for target in sys.argv[1:]:
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://{target}:8000/", timeout=1).read()
            print("ok", target, flush=True)
            break
        except OSError:
            time.sleep(0.2)
    else:
        print("failed", target, flush=True)
time.sleep(600)
"""
def pod_on(node: str, name: str = "", command: list[str] | None = None) -> str:
    script = f"echo hello from {node}; exec python3 -m http.server 8000"
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name or f"on-{node}", "labels": {} if name else {"app": "web"}},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                 "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "c", "image": "python",
                                 "command": command or ["sh", "-c", script]}]}})


def approve_serving(cluster: Cluster) -> list[str]:
    """Approve the nodes' pending kubelet-serving requests, as an admin does."""
    csrs = (cluster.json("get", "csr") or {}).get("items") or []
    names = [c["metadata"]["name"] for c in csrs
             if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
             and not (c.get("status") or {}).get("conditions")]
    for name in names:
        cluster.kubectl("certificate", "approve", name)
    return names


def host_leftovers(ns: str, node: str, root: Path) -> list[str]:
    """What km left of ``node`` (the host's own eth0 is the test's)."""
    return [x for x in leftovers(ns, node, root / "kubelet") if "eth0" not in x]


def start_minion(km: Path, ns: str, root: Path, node: str, ip: str, token: str,
                 log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [*enter(ns), str(km), "minion", "--server", f"https://{SUBNET}.1:6443",
           "--token", token, "--node-name", node, "--node-ip", ip, "--isolation",
           "namespaces", "--root-dir", str(root), "--log-dir", str(root / "logs")]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=out, env=env)


def remove_what_is_left(hosts_: list[tuple[str, str, Path]]) -> None:
    for ns, name, root in hosts_:
        if (root / "kubelet").exists() and host_leftovers(ns, name, root):
            remove_namespaced_pods(ns, root / "kubelet", name, "10.244.0.0/24")


def children(ppid: int) -> dict[str, int]:
    """Live children of ``ppid``: the server each runs (the word after the archive) -> pid."""
    return {server: pid for pid, server in procfs.children(ppid).items()}
