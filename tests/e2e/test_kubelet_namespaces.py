"""km.pyz kubelet with --isolation namespaces, inside a network namespace of the test's own.

Safety (DESIGN.md): the apiserver, the kubelet, kubectl and every probe of a pod IP run in a
fresh network namespace this module makes (entered with nsenter), with only loopback up and no route
out; the pods' bridge, veths and 10.244.x addresses exist only in there. The module removes
its pods, the runtime's leftovers, and the namespace itself.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers.kubelet.runtime import names
from tests.e2e import test_kubectl as base
from tests.e2e.netns import enter, inside, network_namespace
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import POLL, WAIT, Kubelet, pod, row, sh, status
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NODE = "n1"
POD_CIDR = f"10.244.{secrets.randbelow(200) + 20}.0/24"  # inside the test's namespace only
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with network_namespace("km-e2e") as name:
        yield name


@pytest.fixture(scope="module")
def km_in_ns(km: Path, netns: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """km.pyz, run inside the test's namespace."""
    wrapper = tmp_path_factory.mktemp("bin") / "km"
    wrapper.write_text(f'#!/bin/sh\nexec {" ".join(enter(netns))} {km} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture(scope="module")
def api(km_in_ns: Path, certs: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("apiserver-data")
    env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "Node,RBAC",
            "--kubelet-client-certificate", str(certs / "admin.crt"),
            "--kubelet-client-key", str(certs / "admin.key")]
    with start_apiserver(data, km=km_in_ns, env=env, secure=True, extra_args=args) as server:
        server.kubeconfig = certs / "admin.kubeconfig"
        yield server


@pytest.fixture
def kubectl(api: ApiServer, netns: str, tmp_path: Path) -> Kubectl:
    client = Kubectl(api, tmp_path / "kube-cache")
    client.base = [*enter(netns), *client.base]
    return client


def _remove_everything(netns: str, root: Path) -> None:
    script = ("import asyncio\n"
              "from servers.kubelet.runtime.oci import NamespacesRuntime\n"
              f"rt = NamespacesRuntime({str(root)!r}, {NODE!r}, {POD_CIDR!r}, "
              "'10.244.0.0/16', '10.96.0.0/12')\n"
              "asyncio.run(rt.remove_all())\n")
    done = subprocess.run([*enter(netns), sys.executable, "-c",
                           script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def node(km_in_ns: Path, api: ApiServer, certs: Path, netns: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubelet]:
    kubelet = Kubelet(km_in_ns, api, certs, tmp_path_factory.mktemp("kubelet") / "root", NODE)
    isolation = kubelet.cmd.index("--isolation")
    kubelet.cmd[isolation + 1] = "namespaces"
    kubelet.cmd += ["--pod-cidr", POD_CIDR]
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
        _remove_everything(netns, kubelet.root)
        assert "Traceback" not in kubelet.log.read_text()
        assert leftovers(netns, kubelet.root) == []


def leftovers(netns: str, root: Path) -> list[str]:
    """Pod namespaces, links, mounts and cgroups of this node still on the host."""
    node = names.for_node(NODE)
    found = [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith(node.netns_prefix)]
    links = inside(netns, "ip", "-o", "link").stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
              if ": lo:" not in line and node.bridge not in line]
    found += [f"mount {m}" for m in mounts(root)]
    for hierarchy in ("memory", "cpu", "pids"):
        path = Path("/sys/fs/cgroup", hierarchy, node.cgroup_root.strip("/"))
        if path.exists() and any(p.is_dir() for p in path.iterdir()):
            found.append(f"cgroup {path}")
    return found


def mounts(root: Path) -> list[str]:
    """Mounts km made for this node still there: under its root dir (volumes, the pods'
    /etc files), its ipc/uts pins under /run/km, its pods' netns under /run/netns."""
    node = names.for_node(NODE)
    ours = (str(root), node.pins_dir + "/", f"/run/netns/{node.netns_prefix}")
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p.startswith(ours)]


def sandbox_of(kubectl: Kubectl, root: Path, name: str) -> str:
    """The id of pod ``name``'s sandbox, from the kubelet's records (found by the pod's uid,
    as the kubelet finds it)."""
    uid = kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}").stdout
    assert uid
    ids = [d.name for d in (root / "sandboxes").iterdir()
           if json.loads((d / "sandbox.json").read_text())["config"]["uid"] == uid]
    assert len(ids) == 1, ids
    return ids[0]


def left_of(root: Path, sandbox: str, netns: str = "") -> list[str]:
    """What is left on the host of one sandbox: its record, netns, pins, mounts, cgroups,
    and (given the test's namespace, where the node bridge is) its veth."""
    node = names.for_node(NODE)
    found = [f"record {sandbox}"] if (root / "sandboxes" / sandbox).exists() else []
    if netns and inside(netns, "ip", "link", "show", "dev", node.veth(sandbox),
                        check=False).returncode == 0:
        found.append(f"link {node.veth(sandbox)}")
    if os.path.exists(f"/run/netns/{node.netns(sandbox)}"):
        found.append(f"netns {node.netns(sandbox)}")
    found += [f"mount {m}" for m in mounts(root) if sandbox in m or node.netns(sandbox) in m]
    if os.path.exists(os.path.join(node.pins_dir, sandbox)):
        found.append(f"pins {node.pins_dir}/{sandbox}")
    found += [f"cgroup {p}" for h in ("memory", "cpu", "pids")
              if (p := Path("/sys/fs/cgroup", h, node.cgroup(sandbox).strip("/"))).exists()]
    return found


def fetch(netns: str, url: str) -> str:
    code = (f"import urllib.request\n"
            f"print(urllib.request.urlopen({url!r}, timeout=2).read().decode())")
    done = inside(netns, "python3", "-c", code, check=False)
    return done.stdout if done.returncode == 0 else ""


def test_http_server_pod_is_reachable_at_its_own_ip(node: Kubelet, kubectl: Kubectl,
                                                   netns: str) -> None:
    web = {"name": "web", "image": "python",
           "command": ["python3", "-m", "http.server", "8080", "--directory", "/etc"]}
    kubectl("apply", "-f", "-", input=pod("web", web))
    try:
        ip = until(lambda: status(kubectl, "web").get("phase") == "Running" and
                   status(kubectl, "web").get("podIP"), "web Running with an IP", WAIT, POLL)
        assert ip.startswith(POD_CIDR.rsplit(".", 1)[0] + ".")
        listing = until(lambda: fetch(netns, f"http://{ip}:8080/"),
                        "http.server answering", WAIT, POLL)
        assert "hostname" in listing
        assert until(lambda: "GET / HTTP/1.1" in kubectl("logs", "web").stdout,
                     "its log", WAIT, POLL)
        sandbox = sandbox_of(kubectl, node.root, "web")
        held = left_of(node.root, sandbox, netns)
        node_names = names.for_node(NODE)
        assert {f"netns {node_names.netns(sandbox)}", f"link {node_names.veth(sandbox)}"} <= \
            set(held)
    finally:
        kubectl("delete", "pod", "web", "--wait=true", "--timeout=20s")
    # the kubelet sends the final DELETE once the sandbox is removed: nothing waits here
    assert left_of(node.root, sandbox, netns) == []


def test_memory_over_the_limit_is_oomkilled(node: Kubelet, kubectl: Kubectl) -> None:
    hog = {"name": "hog", "image": "python", "command": ["python3", "-c",
                                                         "b = bytearray(256 << 20)"],
           "resources": {"limits": {"memory": "32Mi"}}}
    kubectl("apply", "-f", "-", input=pod("hog", hog, restartPolicy="Never"))
    try:
        until(lambda: status(kubectl, "hog").get("phase") == "Failed", "hog Failed", WAIT, POLL)
        ended = status(kubectl, "hog")["containerStatuses"][0]["state"]["terminated"]
        assert (ended["reason"], ended["exitCode"]) == ("OOMKilled", 137)
        assert row(kubectl, "hog")[2] == "OOMKilled"
    finally:
        kubectl("delete", "pod", "hog", "--wait=true", "--timeout=20s")


def test_configmap_volume_updates_in_place_and_secret_env(node: Kubelet,
                                                          kubectl: Kubectl) -> None:
    kubectl("create", "configmap", "conf", "--from-literal=color=red")
    kubectl("create", "secret", "generic", "db", "--from-literal=password=s3cret")
    reader = sh("echo pw=$PW; while true; do cat /etc/conf/color; echo; sleep 0.3; done",
                env=[{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db",
                                                                    "key": "password"}}}],
                volumeMounts=[{"name": "conf", "mountPath": "/etc/conf", "readOnly": True}])
    kubectl("apply", "-f", "-", input=pod("reader", reader, volumes=[
        {"name": "conf", "configMap": {"name": "conf"}}]))
    try:
        until(lambda: "red" in kubectl("logs", "reader", check=False).stdout, "red", WAIT, POLL)
        assert kubectl("logs", "reader").stdout.startswith("pw=s3cret\n")
        patch = json.dumps({"data": {"color": "blue"}})
        kubectl("patch", "configmap", "conf", "-p", patch)
        until(lambda: "blue" in kubectl("logs", "reader", "--tail", "2").stdout,
              "the update inside the pod", 20, POLL)
    finally:
        kubectl("delete", "pod", "reader", "--wait=true", "--timeout=20s")
        kubectl("delete", "configmap", "conf")
        kubectl("delete", "secret", "db")


def test_kill_9_and_restart_adopts_sandboxed_pods(node: Kubelet, kubectl: Kubectl,
                                                  netns: str) -> None:
    web = {"name": "web", "image": "python",
           "command": ["python3", "-m", "http.server", "8080", "--directory", "/etc"]}
    kubectl("apply", "-f", "-", input=pod("kept", web))
    try:
        ip = until(lambda: status(kubectl, "kept").get("phase") == "Running" and
                   status(kubectl, "kept").get("podIP"), "kept Running", WAIT, POLL)
        before: dict[str, Any] = status(kubectl, "kept")["containerStatuses"][0]
        sandbox = sandbox_of(kubectl, node.root, "kept")
        assert f"link {names.for_node(NODE).veth(sandbox)}" in left_of(node.root, sandbox,
                                                                        netns)
        node.kill()
        assert until(lambda: fetch(netns, f"http://{ip}:8080/"),
                     "serving without a kubelet", WAIT, POLL)
        node.start()
        time.sleep(3)
        after = status(kubectl, "kept")
        assert after["podIP"] == ip
        assert after["containerStatuses"][0]["containerID"] == before["containerID"]
        assert after["containerStatuses"][0]["restartCount"] == 0
        assert fetch(netns, f"http://{ip}:8080/")
    finally:
        kubectl("delete", "pod", "kept", "--wait=true", "--timeout=20s")
    assert left_of(node.root, sandbox, netns) == []  # the adopted sandbox went with the pod


def test_a_pod_deleted_while_the_kubelet_is_down_loses_its_sandbox(node: Kubelet,
                                                                   kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=pod("left", sh("exec sleep 1000")))
    try:
        until(lambda: status(kubectl, "left").get("phase") == "Running", "left Running", WAIT, POLL)
        sandbox = sandbox_of(kubectl, node.root, "left")
        node.kill()
        try:
            kubectl("delete", "pod", "left", "--force", "--grace-period=0")
            assert f"record {sandbox}" in left_of(node.root, sandbox)  # no one to remove it
        finally:
            node.start()
        # the restarted kubelet's housekeeping: the pod is not bound to it any more
        assert until(lambda: left_of(node.root, sandbox) == [],
                     "the orphan sandbox removed", WAIT, POLL)
    finally:
        kubectl("delete", "pod", "left", "--ignore-not-found", "--wait=true", "--timeout=20s")


def test_secret_volume_and_a_missing_configmap_until_it_exists(node: Kubelet,
                                                               kubectl: Kubectl) -> None:
    kubectl("create", "secret", "generic", "tls-ish", "--from-literal=key=k3y")
    reader = sh("ls -lL /etc/sec/key | cut -c1-10; cat /etc/sec/key; echo; "
                "cat /etc/late/x; echo; exec sleep 1000",
                volumeMounts=[{"name": "sec", "mountPath": "/etc/sec"},
                              {"name": "late", "mountPath": "/etc/late"}])
    kubectl("apply", "-f", "-", input=pod("mounts", reader, volumes=[
        {"name": "sec", "secret": {"secretName": "tls-ish", "defaultMode": 0o400}},
        {"name": "late", "configMap": {"name": "later"}}]))
    try:
        until(lambda: "FailedMount" in kubectl("describe", "pod", "mounts").stdout,
              "the FailedMount event", WAIT, POLL)
        described = kubectl("describe", "pod", "mounts").stdout
        assert 'MountVolume.SetUp failed for volume "late" : configmap "later" not found' \
            in described
        assert row(kubectl, "mounts")[2] == "ContainerCreating"
        kubectl("create", "configmap", "later", "--from-literal=x=arrived")
        until(lambda: status(kubectl, "mounts").get("phase") == "Running",
              "mounts Running", 20, POLL)
        out = until(lambda: kubectl("logs", "mounts").stdout.count("\n") >= 3,
                    "its output", WAIT, POLL)
        assert out
        assert kubectl("logs", "mounts").stdout == "-r--------\nk3y\narrived\n"
    finally:
        kubectl("delete", "pod", "mounts", "--wait=true", "--timeout=20s")
        kubectl("delete", "secret", "tls-ish")
        kubectl("delete", "configmap", "later", check=False)


def test_host_network_pod_shares_the_hosts_network_only(node: Kubelet, kubectl: Kubectl,
                                                       netns: str) -> None:
    port = 20000 + secrets.randbelow(20000)  # any: the test's namespace has nothing else
    # $$$$: kube's $(VAR) expansion of the command turns $$ into $, the shell sees $$
    web = sh("echo pid=$$$$ host=$(cat /proc/sys/kernel/hostname); exec python3 -m http.server "
             f"{port} --bind 127.0.0.1 --directory /etc", name="web")
    kubectl("apply", "-f", "-", input=pod("hostnet", web, hostNetwork=True))
    try:
        until(lambda: status(kubectl, "hostnet").get("phase") == "Running",
              "hostnet Running", WAIT, POLL)
        assert status(kubectl, "hostnet")["podIP"] == "127.0.0.1"  # the node's IP
        # the pod listens in the host's (here: the test's) network namespace ...
        assert until(lambda: fetch(netns, f"http://127.0.0.1:{port}/"), "http.server", WAIT, POLL)
        # ... with its own pid namespace and the host's name, as kube's runtimes do
        out = until(lambda: kubectl("logs", "hostnet").stdout, "its first line", WAIT, POLL)
        assert out.splitlines()[0] == f"pid=1 host={socket.gethostname()}"
        # its sandbox made no network namespace, only its own ipc and uts (pinned)
        sandbox = sandbox_of(kubectl, node.root, "hostnet")
        pins = os.path.join(names.for_node(NODE).pins_dir, sandbox)
        held = left_of(node.root, sandbox)
        assert {f"mount {pins}/ipc", f"mount {pins}/uts"} <= set(held)
        assert not [x for x in held if x.startswith("netns") or "/run/netns/" in x]
    finally:
        kubectl("delete", "pod", "hostnet", "--wait=true", "--timeout=20s")
    assert left_of(node.root, sandbox) == []
