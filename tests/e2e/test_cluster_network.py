"""The whole cluster's network, seen from a pod: the built km.pyz ``all-in-one`` (root,
``--isolation namespaces``, nftables proxy, cluster DNS) inside a network namespace this
module makes, driven by the real kubectl.

Safety (DESIGN.md "Safety"): the namespace has loopback, which also holds the node's address
(``NODE_IP``), and no route out; the node bridge, the pods' 10.244.x addresses, the
service range and every nftables table exist only in there. Checks run in pods (short-lived
``kubectl run`` pods whose log is their answer, with the project's Python for dnspython and
the kubernetes client) or in the namespace as the host. One cluster serves the module; at
the end its pods are deleted while it runs, what a failure left is removed by the runtime,
and the namespace goes. The userspace proxy is seen from a pod of an ``--isolation none``
cluster, in a namespace of its own too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.kubelet.linux.hostports import table_name as hostports_table
from servers.kubelet.runtime import names
from servers.proxy.nftables.ruleset import table_name as proxy_table
from tests.e2e.aio import (
    POLL,
    QUIET,
    REPO,
    WAIT,
    Cluster,
    apply,
    remove_namespaced_pods,
    remove_process_pods,
)
from tests.e2e.netns import enter, inside, network_namespace
from tests.support.wait import until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NODE = "cn-node"
NODE_IP = "10.250.0.10"  # inside the test's namespace only
PYTHON = str(REPO / ".venv/bin/python")  # pods run host programs: this one has dnspython
ECHO = str(REPO / "tests/integration/proxy/echo.py")
UDP_SOURCE = 40123  # the hostPort test's one UDP flow
NAMES = ["web", "web.default", "web.default.svc.cluster.local"]
WEB_SCRIPT = ('d={dir}/$NAME; mkdir -p $d; echo $NAME > $d/name; '
              'exec python3 -m http.server 8000 --bind ${{POD_IP:-0.0.0.0}} --directory $d')
SERVICES = [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-headless"},
     "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8000}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
     "spec": {"type": "ExternalName", "externalName": "www.example.org"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
     "spec": {"selector": {"app": "echo"}, "ports": [
         {"name": "tcp", "port": 7, "targetPort": 8080},
         {"name": "udp", "port": 7, "targetPort": 8080, "protocol": "UDP"}]}},
]


# Pods run the repository's programs (the venv's python, tests/integration/proxy/echo.py),
# and a pod's /tmp is its own: wherever the checkout lives (a CI clone under /tmp too),
# every pod here gets it read-only at the same path.
REPO_VOLUME = {"name": "km-repo", "hostPath": {"path": str(REPO), "type": "Directory"}}
REPO_MOUNT = {"name": "km-repo", "mountPath": str(REPO), "readOnly": True}


def with_repo(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` (a pod spec) with the repository mounted in each container."""
    spec.setdefault("volumes", []).append(REPO_VOLUME)
    for container in spec.get("containers") or ():
        container.setdefault("volumeMounts", []).append(REPO_MOUNT)
    return spec


def repo_overrides(name: str) -> list[str]:
    """kubectl run's flags that mount the repository in its pod ``name``."""
    spec = {"spec": {"volumes": [REPO_VOLUME],
                     "containers": [{"name": name, "volumeMounts": [REPO_MOUNT]}]}}
    return ["--override-type=strategic", f"--overrides={json.dumps(spec)}"]


def manifest(*objects: dict[str, Any]) -> str:
    """Objects as one stream of JSON documents, as kubectl apply -f reads them, every pod
    (and pod template) with the repository mounted."""
    for o in objects:
        if o.get("kind") == "Pod":
            with_repo(o["spec"])
        elif o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            with_repo(o["spec"]["template"]["spec"])
    return "\n".join(json.dumps(o) for o in objects)


def web(replicas: int, directory: str) -> dict[str, Any]:
    """http.server pods that serve /name: their own pod name (how a test sees the spread)."""
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{
                             "name": "web", "image": "python",
                             "command": ["sh", "-c", WEB_SCRIPT.format(dir=directory)],
                             "env": [{"name": "NAME", "valueFrom": {"fieldRef": {
                                 "fieldPath": "metadata.name"}}}]}]}}}}


def echo_pod(name: str, labels: dict[str, str], ports: list[dict[str, Any]]) -> dict[str, Any]:
    """A TCP and UDP echo (tests/integration/proxy/echo.py) on port 8080 that says NAME."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "echo", "image": "python", "ports": ports,
                "command": ["python3", ECHO, name, "0.0.0.0", "8080"]}]}}


# -- the cluster ----------------------------------------------------------------------------

class Net:
    """The module's cluster, its namespace and what tests look up in it."""

    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.cluster = cluster
        self.ns = ns
        self.gateway = ""

    def ip(self, service: str) -> str:
        return str(self.cluster.json("get", "service", service)["spec"]["clusterIP"])

    def host(self, code: str) -> str:
        """Python ``code`` run in the namespace as the node's host (the proxy tests' helpers
        importable); its output."""
        done = subprocess.run([*enter(self.ns), sys.executable, "-c", code], cwd=REPO,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def from_pod(self, name: str, code: str, timeout: float = 40) -> str:
        """Python ``code`` run in a new pod ``name`` (restartPolicy Never); its log."""
        c = self.cluster
        done = c.run("run", name, "--image=python", "--restart=Never", *repo_overrides(name),
                     "--command", "--",
                     PYTHON, "-c", code)
        assert done.returncode == 0, done.stderr
        try:
            phase = until(lambda: _phase(c, name) in ("Succeeded", "Failed") and _phase(c, name),
                          f"pod {name} to finish", timeout, POLL)
            log = c.kubectl("logs", name)
            assert phase == "Succeeded", log
            return log
        finally:
            c.run("delete", "pod", name, "--wait=false")


def _phase(cluster: Cluster, name: str) -> str:
    pod = cluster.json("get", "pod", name) or {}
    return str((pod.get("status") or {}).get("phase") or "")


@pytest.fixture(scope="module")
def net(km: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    with network_namespace("km-cn") as ns:
        # the node's address (no dummy link module on these hosts: loopback holds it)
        inside(ns, "ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo")
        data = tmp_path_factory.mktemp("cluster-network") / "data"
        # The API on every address of the namespace, so pods reach it through the kubernetes
        # Service at the node's address (the components still use 127.0.0.1).
        cluster = Cluster(km, data, "--isolation", "namespaces", "--node-name", NODE,
                          "--node-ip", NODE_IP, "--bind-address", "0.0.0.0",
                          prefix=tuple(enter(ns)))
        cluster.start()
        pod_cidr = ""
        try:
            until(lambda: cluster.node_ready(NODE), "the node to be Ready", WAIT, POLL)
            pod_cidr = cluster.json("get", "node", NODE)["spec"]["podCIDR"]
            apply(cluster, manifest(*SERVICES, web(3, "/tmp"), echo_pod("echo", {
                "app": "echo"}, [])))
            until(lambda: cluster.running("app=web", 3), "3 web pods Running", WAIT, POLL)
            until(lambda: cluster.running("app=echo", 1), "the echo pod Running", WAIT, POLL)
            found = Net(cluster, ns)
            found.gateway = pod_cidr.rsplit(".", 1)[0] + ".1"
            yield found
            cluster.kubectl("delete", "deployment,pod", "--all", "--wait", "--timeout=30s")
            until(lambda: not (cluster.json("get", "pods") or {"items": [1]})["items"],
                  "every pod to go", WAIT, POLL)
            assert cluster.stop() == 0
        finally:
            if cluster.running_now():  # a failure above: no sandboxed pod outlives the test
                cluster.run("delete", "deployment,pod", "--all", "--wait", "--timeout=20s")
            cluster.stop()
            if pod_cidr:
                remove_namespaced_pods(ns, data / "kubelet", NODE, pod_cidr)
        assert "Traceback" not in cluster.log.read_text()
        prefix = names.for_node(NODE).netns_prefix
        assert not [n for n in os.listdir("/run/netns") if n.startswith(prefix)], \
            "pod network namespaces left behind"


def web_pods(cluster: Cluster) -> list[dict[str, Any]]:
    return list(cluster.running("app=web", 3))


def ready_endpoints(cluster: Cluster, service: str, ready: bool = True) -> set[str]:
    """The ready (or with ``ready=False`` the unready) addresses of ``service``'s slices."""
    slices = cluster.json("get", "endpointslices", "-l",
                          f"kubernetes.io/service-name={service}") or {}
    return {address for s in slices.get("items") or [] for e in s.get("endpoints") or []
            if bool((e.get("conditions") or {}).get("ready")) == ready
            for address in e["addresses"]}


# -- tests ------------------------------------------------------------------------------------

RESOLVE = """\
import json, socket, urllib.request, dns.resolver
out = {"names": {n: socket.gethostbyname(n) for n in %(names)r}}
out["by_ip"] = urllib.request.urlopen("http://%(vip)s/name", timeout=5).read().decode().strip()
out["served"] = [urllib.request.urlopen("http://web/name", timeout=5).read().decode().strip()
                 for _ in range(30)]
out["headless"] = sorted({a[4][0] for a in socket.getaddrinfo("web-headless", 8000,
                                                              proto=socket.IPPROTO_TCP)})
out["ext"] = [r.target.to_text() for r in dns.resolver.resolve("ext", "CNAME", search=True)]
print(json.dumps(out))
"""


def test_a_pod_reaches_a_service_by_cluster_ip_and_names_spread_over_endpoints(
        net: Net) -> None:
    vip = net.ip("web")
    pods = web_pods(net.cluster)
    until(lambda: ready_endpoints(net.cluster, "web") == {p["status"]["podIP"] for p in pods},
          "web's endpoints", WAIT, POLL)
    names = {p["metadata"]["name"] for p in pods}
    out = json.loads(net.from_pod("resolver", RESOLVE % {"names": NAMES, "vip": vip}))
    assert out["names"] == {n: vip for n in NAMES}
    assert out["by_ip"] in names
    # random spread: one of three pods missed by 30 connections has p < 2e-5
    assert set(out["served"]) == names
    assert out["headless"] == sorted(p["status"]["podIP"] for p in pods)
    assert out["ext"] == ["www.example.org."]


HAIRPIN = """\
import socket, threading, time
server = socket.create_server(("0.0.0.0", 9000))
def serve():
    while True:
        conn, _ = server.accept()
        conn.sendall(socket.gethostname().encode())
        conn.close()
threading.Thread(target=serve, daemon=True).start()
deadline = time.monotonic() + 20
while True:  # until this pod is its Service's endpoint (it must be Ready first)
    try:
        with socket.create_connection((%(vip)r, 80), timeout=2) as conn:
            print(conn.recv(100).decode())
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
"""


def test_a_pod_reaches_itself_through_its_service(net: Net) -> None:
    apply(net.cluster, manifest({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "hairpin"},
        "spec": {"selector": {"run": "hairpin"}, "ports": [{"port": 80, "targetPort": 9000}]}}))
    assert net.from_pod("hairpin", HAIRPIN % {"vip": net.ip("hairpin")}).strip() == "hairpin"


TCP_UDP = """\
from tests.integration.proxy.lab import greet, ask_udp
import socket
def tcp(ip, port):
    try:
        return greet(ip, port)
    except OSError as exc:
        return type(exc).__name__
def udp(ip, port, source=0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", source))
        sock.settimeout(2)
        try:
            return ask_udp(sock, ip, port)
        except OSError as exc:
            return type(exc).__name__
"""
POD_GREET = """\
import socket
with socket.create_connection((%(ip)r, 18080), timeout=5) as conn:
    print(conn.recv(100).decode().strip())
"""


def test_host_ports_from_the_host_and_a_pod_and_gone_with_the_pod(net: Net) -> None:
    c = net.cluster
    # One UDP flow (a fixed source port) asks before the pod exists and keeps asking: its
    # conntrack entry, untranslated, must go when the mapping comes (else it never reaches
    # the pod), as portmap flushes it.
    asks = (f"print(tcp({NODE_IP!r}, 18080), udp({NODE_IP!r}, 18080, {UDP_SOURCE}), "
            f"tcp({NODE_IP!r}, 18081), tcp({net.gateway!r}, 18080), tcp({net.gateway!r}, 18081))")
    before = net.host(TCP_UDP + asks).split()
    assert before[0] == "ConnectionRefusedError" and before[1] in ("ConnectionRefusedError",
                                                                    "TimeoutError"), before
    apply(c, manifest(echo_pod("hp", {"app": "hp"}, [
        {"containerPort": 8080, "hostPort": 18080},
        {"containerPort": 8080, "hostPort": 18080, "protocol": "UDP"},
        {"containerPort": 8080, "hostPort": 18081, "hostIP": NODE_IP}])))
    until(lambda: c.running("app=hp", 1), "the hostPort pod Running", WAIT, POLL)
    # TCP and UDP at the node's addresses; a port with a hostIP only at that address
    answer = until(lambda: (lambda a: a if a.startswith("hp hp ") else "")(
        net.host(TCP_UDP + asks)), "the hostPorts at the node's address", WAIT, POLL)
    assert answer == "hp hp hp hp ConnectionRefusedError"
    assert net.from_pod("hp-client", POD_GREET % {"ip": NODE_IP}).strip() == "hp"
    # a second pod asking for the port is left Pending by the scheduler's NodePorts filter
    apply(c, manifest(echo_pod("hp-twin", {"app": "hp-twin"}, [
        {"containerPort": 8080, "hostPort": 18080}])))
    until(lambda: "didn't have free ports" in json.dumps(
        (c.json("get", "pod", "hp-twin") or {}).get("status") or {}),
        "hp-twin Unschedulable", WAIT, POLL)
    c.kubectl("delete", "pod", "hp-twin", "--wait", "--timeout=30s")  # gone before hp goes

    c.kubectl("delete", "pod", "hp", "--wait", "--timeout=30s")
    until(lambda: "18080" not in json.dumps(_nft(net.ns, hostports_table(NODE))),
          "the pod's hostPorts to go", WAIT, POLL)
    assert net.host(TCP_UDP + f"print(tcp({NODE_IP!r}, 18080))") == "ConnectionRefusedError"


INCLUSTER = """\
import json, os
from kubernetes import client, config
config.load_incluster_config()
api = client.CoreV1Api()
out = {"host": os.environ["KUBERNETES_SERVICE_HOST"]}
for ns in ("default", "kube-system"):
    try:
        out[ns] = sorted(p.metadata.name for p in api.list_namespaced_pod(ns).items)
    except client.ApiException as exc:
        out[ns] = exc.status
print(json.dumps(out))
"""
POD_READER = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "pod-reader"},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "default-reads-pods"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                 "name": "pod-reader"},
     "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]},
]


def test_an_in_cluster_python_client_lists_pods_as_far_as_rbac_allows(net: Net) -> None:
    before = json.loads(net.from_pod("incluster-1", INCLUSTER))
    assert before == {"host": net.ip("kubernetes"), "default": 403, "kube-system": 403}
    apply(net.cluster, manifest(*POD_READER))
    after = json.loads(net.from_pod("incluster-2", INCLUSTER))
    assert after["kube-system"] == 403
    assert "incluster-2" in after["default"]
    assert {p["metadata"]["name"] for p in web_pods(net.cluster)} <= set(after["default"])


SERVICE_KINDS = """\
import json, socket, time, urllib.request
def greet(ip, port):
    with socket.create_connection((ip, port), timeout=3) as conn:
        return conn.recv(100).decode().strip()
out = {"mix": [greet(%(mix)r, 7) for _ in range(20)],
       "nodeport": [greet(%(node)r, %(port)d) for _ in range(5)],
       "sticky": sorted({urllib.request.urlopen("http://sticky/name", timeout=5).read()
                         .decode().strip() for _ in range(15)})}
started = time.monotonic()
try:
    greet(%(nobody)r, 80)
    out["nobody"] = "answered"
except OSError as exc:
    out["nobody"] = type(exc).__name__
out["nobody_s"] = time.monotonic() - started
print(json.dumps(out))
"""


def test_ready_endpoints_only_node_port_affinity_and_no_endpoints_from_a_pod(net: Net) -> None:
    c = net.cluster
    unready = echo_pod("mix-unready", {"mix": "1"}, [])
    unready["spec"]["containers"][0]["readinessProbe"] = {
        "tcpSocket": {"port": 9999}, "periodSeconds": 1}  # nothing listens there: never ready
    apply(c, manifest(
        echo_pod("mix-ready", {"mix": "1"}, []), unready,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mix"},
         "spec": {"type": "NodePort", "selector": {"mix": "1"},
                  "ports": [{"port": 7, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sticky"},
         "spec": {"selector": {"app": "web"}, "sessionAffinity": "ClientIP",
                  "ports": [{"port": 80, "targetPort": 8000}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
         "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]}}))
    try:
        ready = until(lambda: _ip_of(c, "mix-ready"), "the ready pod's address", WAIT, POLL)
        other = until(lambda: _ip_of(c, "mix-unready"), "the unready pod's address", WAIT, POLL)
        until(lambda: ready_endpoints(c, "mix") == {ready}
              and ready_endpoints(c, "mix", ready=False) == {other},
              "mix's endpoints: one ready, one not", WAIT, POLL)
        node_port = c.json("get", "service", "mix")["spec"]["ports"][0]["nodePort"]
        out = json.loads(net.from_pod("kinds", SERVICE_KINDS % {
            "mix": net.ip("mix"), "node": NODE_IP, "port": node_port,
            "nobody": net.ip("nobody")}))
        assert out["mix"] == ["mix-ready"] * 20  # the unready endpoint gets no connection
        assert out["nodeport"] == ["mix-ready"] * 5
        assert len(out["sticky"]) == 1  # ClientIP affinity: one pod for this client
        assert out["nobody"] == "ConnectionRefusedError" and out["nobody_s"] < 1.0
        assert net.host(TCP_UDP + f"print(tcp({NODE_IP!r}, {node_port}))") == "mix-ready"
    finally:
        c.run("delete", "pod", "mix-ready", "mix-unready", "--wait=false")
        c.run("delete", "service", "mix", "sticky", "nobody")


def _ip_of(cluster: Cluster, pod: str) -> str:
    found = cluster.json("get", "pod", pod) or {}
    return str((found.get("status") or {}).get("podIP") or "")


TALKER = """\
import socket, sys, time
conn = socket.create_connection((%(vip)r, 7), timeout=5)
print("connected to", conn.recv(100).decode().strip(), flush=True)
for n in range(1, 20000):
    conn.sendall(b"ping")
    got = b""
    while len(got) < 4:
        chunk = conn.recv(100)
        if not chunk:
            print("broken", flush=True)
            sys.exit(1)
        got += chunk
    if n %% 10 == 0:
        print("echoed", n, flush=True)
    time.sleep(0.02)
"""


def _nft(ns: str, table: str) -> list[str] | None:
    """The table's objects, handles left out, sorted (None: no such table)."""
    done = inside(ns, "nft", "-j", "list", "table", "ip", table, check=False)
    if done.returncode != 0:
        return None
    items = []
    for item in json.loads(done.stdout)["nftables"]:
        for kind, value in item.items():
            if kind != "metainfo":
                items.append(json.dumps({kind: {k: v for k, v in value.items()
                                                if k != "handle"}}, sort_keys=True))
    return sorted(items)


def _echoed(cluster: Cluster, pod: str) -> int:
    """The talker's last count, from its log file (readable while the cluster is down)."""
    counts = [0]
    for log in (cluster.data / "kubelet" / "logs").glob(f"default_{pod}_*/*/*.log"):
        text = log.read_text(errors="replace")
        assert "broken" not in text, text
        counts += [int(n) for n in re.findall(r"echoed (\d+)", text)]
    return max(counts)


def test_kill_9_during_traffic_keeps_connections_and_the_rules(net: Net) -> None:
    c = net.cluster
    apply(c, manifest(echo_pod("hp2", {"app": "hp2"}, [
        {"containerPort": 8080, "hostPort": 18090}])))
    until(lambda: c.running("app=hp2", 1), "the hostPort pod Running", WAIT, POLL)
    vip = net.ip("echo")
    c.run("run", "talker", "--image=python", "--restart=Never", *repo_overrides("talker"),
          "--command", "--", PYTHON,
          "-c", TALKER % {"vip": vip})
    tables = (proxy_table(NODE), hostports_table(NODE))
    try:
        until(lambda: _echoed(c, "talker") >= 20, "the talker's echoes", WAIT, POLL)
        until(lambda: all(_nft(net.ns, t) for t in tables), "both tables", WAIT, POLL)
        before = {t: _nft(net.ns, t) for t in tables}
        taken = f"nftables table ip {tables[0]} taken over"
        counts = (c.log.read_text().count(taken), c.log.read_text().count("hostPorts: "))
        c.kill()  # kill -9: apiserver, kubelet and proxy are all in this one process
        seen = _echoed(c, "talker")
        until(lambda: _echoed(c, "talker") >= seen + 50, "echoes with the cluster down", 15, POLL)
        # new connections too: the rules stay in the kernel while nothing programs them
        assert net.host(TCP_UDP + f"print(tcp({vip!r}, 7), tcp({NODE_IP!r}, 18090))"
                        ) == "echo hp2"
        c.start()
        until(lambda: c.log.read_text().count(taken) > counts[0],
              "the proxy to take over", WAIT, POLL)
        until(lambda: c.log.read_text().count("hostPorts: ") > counts[1],
              "the kubelet to write its hostPorts", WAIT, POLL)
        assert {t: _nft(net.ns, t) for t in tables} == before  # the same, no duplicates
        seen = _echoed(c, "talker")
        until(lambda: _echoed(c, "talker") >= seen + 50, "echoes after the restart", WAIT, POLL)
        assert _phase(c, "talker") == "Running"
    finally:
        if not c.running_now():  # failed while down: the module's clean-up needs the cluster
            c.start()
            until(lambda: c.node_ready(NODE), "the node Ready again", WAIT, POLL)
        c.run("delete", "pod", "talker", "hp2", "--wait=false")


def test_udp_through_a_cluster_ip_from_a_pod(net: Net) -> None:
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.settimeout(3); s.sendto(b'hi', ({net.ip('echo')!r}, 7)); "
            "print(s.recvfrom(100)[0].decode())")
    assert net.from_pod("udp-client", code).strip() == "echo:hi"


# -- the userspace proxy, from a pod of an --isolation none cluster -------------------------------

SPREAD = """\
import time, urllib.request
seen = set()
deadline = time.monotonic() + 25  # the proxy follows the slices a moment after they change
while time.monotonic() < deadline:  # round robin: every endpoint once the proxy has them all
    try:
        seen.add(urllib.request.urlopen("http://%(vip)s/name", timeout=5).read().decode()
                 .strip())
    except OSError:
        pass  # not served yet
    if len(seen) == %(count)d:
        break
    time.sleep(0.1)
print(" ".join(sorted(seen)))
"""


def test_userspace_mode_from_a_pod(km: Path, tmp_path: Path) -> None:
    node = "cn-none"
    with network_namespace("km-cnu") as ns:
        cluster = Cluster(km, tmp_path / "data", "--isolation", "none", "--node-name", node,
                          *QUIET, prefix=tuple(enter(ns)))
        cluster.start()
        try:
            until(lambda: cluster.node_ready(node), "the node to be Ready", WAIT, POLL)
            apply(cluster, manifest(SERVICES[0], web(2, str(tmp_path / "www"))))
            pods = until(lambda: cluster.running("app=web", 2), "2 web pods Running", WAIT, POLL)
            vip = Net(cluster, ns).ip("web")
            assert vip.startswith("127."), "a loopback service range in none mode"
            until(lambda: ready_endpoints(cluster, "web") == {p["status"]["podIP"] for p in pods},
                  "web's endpoints", WAIT, POLL)
            served = Net(cluster, ns).from_pod("client", SPREAD % {"vip": vip, "count": 2}
                                               ).split()
            assert served == sorted(p["metadata"]["name"] for p in pods)
            cluster.kubectl("delete", "deployment", "web", "--wait", "--timeout=30s")
            until(lambda: not (cluster.json("get", "pods") or {"items": [1]})["items"],
                  "the pods to go", WAIT, POLL)
            assert cluster.stop() == 0
        finally:
            cluster.stop()
            remove_process_pods(cluster.data / "kubelet", node)
        assert "userspace mode" in cluster.log.read_text()
