"""kubectl port-forward and the Python client's portforward, through km.pyz end to end.

The real kubectl (v1.32: SPDY/3.1 tunnelled in a WebSocket, ``SPDY/3.1+portforward.k8s.io``)
and the official Python client (the channel WebSocket with ``?ports=``) talk to a km.pyz
apiserver, which relays pods/portforward to a km.pyz kubelet (test_kubelet.py's fixtures:
``--isolation none``, each pod on a loopback address of its own; the pod is Python's
http.server and everything stays on the host's loopback), and once more with a kubelet of
``--isolation namespaces`` where apiserver, kubelet, kubectl and its clients all run in a
network namespace of the test's own (tests/e2e/netns.py), so the kubelet's dial into the
pod's namespace is what kubectl reaches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.netns import enter, inside, network_namespace
from tests.e2e.test_kubectl import Kubectl
from tests.e2e.test_kubelet import NODE, POLL, Kubelet, api, certs, kubectl, node
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.wait import until

__all__ = ["api", "certs", "kubectl", "node"]  # fixtures used here

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WAIT = 30.0
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")
BIG = 4 << 20  # a file big enough to need many SPDY windows


@pytest.fixture(scope="module")
def web(node: object, api: ApiServer, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Path]:
    """Pod "web" (label app=web): http.server on 8000 and 8001 at its pod IP, serving a
    folder with a small and a big file; Service "web" port 80 -> 8000."""
    folder = tmp_path_factory.mktemp("site")
    (folder / "hello.txt").write_text("hello from the pod\n")
    (folder / "big.bin").write_bytes(os.urandom(BIG))
    serve = (f"{sys.executable} -m http.server 8001 --bind $POD_IP & "
             f"exec {sys.executable} -m http.server 8000 --bind $POD_IP")
    client = Kubectl(api, tmp_path_factory.mktemp("kube-cache"))
    for item in (
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
         "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [
             {"name": "c", "image": "python", "command": ["sh", "-c", serve],
              "workingDir": str(folder),
              "readinessProbe": {"tcpSocket": {"port": 8001}, "periodSeconds": 1}}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8000}]}}):
        client("apply", "-f", "-", input=json.dumps(item))
    until(lambda: "true" in client("get", "pod", "web", "-o",
                                   "jsonpath={.status.containerStatuses[0].ready}",
                                   check=False).stdout, "pod web ready", WAIT, POLL)
    yield folder
    client("delete", "pod,service", "web", "--wait=false", check=False)


class Forward:
    """A running ``kubectl port-forward``: the local ports it printed, its output so far."""

    def __init__(self, kubectl: Kubectl, *args: str) -> None:
        self.proc = kubectl.popen("port-forward", *args)
        self.ports: dict[int, int] = {}  # remote -> local
        self.out: list[str] = []
        self.err: list[str] = []
        self.drains = [threading.Thread(target=self._drain, args=(self.proc.stderr, self.err),
                                        daemon=True)]
        self.drains[0].start()
        wanted = sum(1 for a in args if ":" in a)
        assert self.proc.stdout is not None
        while len(self.ports) < wanted:
            line = self.proc.stdout.readline()
            assert line, f"kubectl port-forward ended: {''.join(self.err)}"
            self.out.append(line)
            if found := FORWARDING.search(line):
                self.ports[int(found[2])] = int(found[1])
        self.drains.append(threading.Thread(target=self._drain, args=(self.proc.stdout,
                                                                      self.out), daemon=True))
        self.drains[1].start()

    @staticmethod
    def _drain(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def get(self, remote: int, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.ports[remote]}/{path}"
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            data: bytes = response.read()
            return data

    def printed(self, text: str) -> None:
        """Wait (bounded) until kubectl's output holds ``text`` (read by another thread)."""
        deadline = time.monotonic() + WAIT
        while not any(text in line for line in self.out):
            assert time.monotonic() < deadline, f"kubectl never printed {text!r}: {self.out}"
            time.sleep(0.02)

    def wait(self) -> None:
        """Until kubectl has ended and all its output is read."""
        self.proc.wait(timeout=WAIT)
        for drain in self.drains:
            drain.join(WAIT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def forwards() -> Iterator[list[Forward]]:
    made: list[Forward] = []
    yield made
    for forward in made:
        forward.stop()


def test_port_forward_pod_carries_http(web: Path, kubectl: Kubectl,
                                       forwards: list[Forward]) -> None:
    forward = Forward(kubectl, "pod/web", "0:8000")
    forwards.append(forward)
    assert forward.get(8000, "hello.txt") == b"hello from the pod\n"
    big = forward.get(8000, "big.bin")
    assert hashlib.sha256(big).digest() == hashlib.sha256((web / "big.bin").read_bytes()).digest()
    forward.printed("Handling connection for")


def test_port_forward_service_picks_its_pod_and_target_port(web: Path, kubectl: Kubectl,
                                                            forwards: list[Forward]) -> None:
    forward = Forward(kubectl, "svc/web", "0:80")
    forwards.append(forward)
    assert list(forward.ports) == [8000]  # kubectl forwards to the Service's targetPort
    assert forward.get(8000, "hello.txt") == b"hello from the pod\n"


def test_several_ports_and_concurrent_connections(web: Path, kubectl: Kubectl,
                                                  forwards: list[Forward]) -> None:
    forward = Forward(kubectl, "pod/web", "0:8000", "0:8001")
    forwards.append(forward)
    assert set(forward.ports) == {8000, 8001}
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda i: forward.get(8000 + i % 2, "hello.txt"), range(24)))
    assert got == [b"hello from the pod\n"] * 24


def test_a_closed_pod_port_is_reported_as_kube_does(web: Path, kubectl: Kubectl,
                                                    forwards: list[Forward]) -> None:
    forward = Forward(kubectl, "pod/web", "0:9")
    forwards.append(forward)
    with pytest.raises(OSError):
        forward.get(9, "")
    forward.wait()  # kubectl 1.32 ends the forwarding on an error
    err = "".join(forward.err)
    assert forward.proc.returncode == 1
    assert "error forwarding port 9 to pod " in err
    assert "failed to connect to localhost:9 inside namespace " in err
    assert "connect: connection refused" in err
    assert "error: lost connection to pod" in err


def test_python_client_portforward_carries_http(web: Path, api: ApiServer, certs: Path
                                                ) -> None:
    import kubernetes
    from kubernetes.stream import portforward

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(certs / "admin.kubeconfig"),
                                       client_configuration=configuration)
    configuration.host = api.url
    with kubernetes.client.ApiClient(configuration) as client:
        v1 = kubernetes.client.CoreV1Api(client)
        forward = portforward(v1.connect_get_namespaced_pod_portforward, "web", "default",
                              ports="8000")
        sock = forward.socket(8000)
        sock.settimeout(WAIT)
        sock.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        sock.close()
        until(lambda: not forward.connected, "the client closing its WebSocket", WAIT, POLL)
        forward.websocket.shutdown()  # its proxy thread leaves the socket open when the
        # server closed first (kubernetes.stream.ws_client.PortForward._proxy)
        assert reply.startswith(b"HTTP/1.0 200 ")
        assert reply.endswith(b"\r\n\r\nhello from the pod\n")
        assert forward.error(8000) is None


def test_python_client_sees_a_closed_port_as_an_error(web: Path, api: ApiServer, certs: Path
                                                      ) -> None:
    import kubernetes
    from kubernetes.stream import portforward

    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(certs / "admin.kubeconfig"),
                                       client_configuration=configuration)
    configuration.host = api.url
    with kubernetes.client.ApiClient(configuration) as client:
        v1 = kubernetes.client.CoreV1Api(client)
        forward = portforward(v1.connect_get_namespaced_pod_portforward, "web", "default",
                              ports="9")
        sock = forward.socket(9)
        sock.settimeout(WAIT)
        try:
            assert sock.recv(10) == b""  # the forward closes the socket on the error
        finally:
            sock.close()
        until(lambda: not forward.connected, "the client closing its WebSocket", WAIT, POLL)
        forward.websocket.shutdown()  # its proxy thread leaves the socket open when the
        # server closed first (kubernetes.stream.ws_client.PortForward._proxy)
        assert forward.error(9).startswith("error forwarding port 9 to pod ")
        assert "connection refused" in forward.error(9)


# -- --isolation namespaces: the kubelet dials into the pod's own network namespace ---------

SANDBOX_NODE = "pf1"  # apart from the other suites' "n1": netns names and cgroups are global
SANDBOX_CIDR = "10.244.231.0/24"  # inside the test's namespace only


def _remove_sandboxes(netns: str, root: Path) -> None:
    script = ("import asyncio\n"
              "from servers.kubelet.runtime.oci import NamespacesRuntime\n"
              f"rt = NamespacesRuntime({str(root)!r}, {SANDBOX_NODE!r}, {SANDBOX_CIDR!r}, "
              "'10.244.0.0/16', '10.96.0.0/12')\n"
              "asyncio.run(rt.remove_all())\n")
    done = inside(netns, sys.executable, "-c", script, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def sandboxed(km: Path, certs: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Kubectl, str]]:
    """apiserver, a kubelet of --isolation namespaces and kubectl, all in a fresh network
    namespace (tests/e2e/netns.py), with pod "boxed" serving http on 8000 in its sandbox."""
    with network_namespace("km-pf") as netns:
        wrapper = tmp_path_factory.mktemp("bin") / "km"
        wrapper.write_text(f'#!/bin/sh\nexec {" ".join(enter(netns))} {km} "$@"\n')
        wrapper.chmod(0o755)
        args = ["--tls-cert-file", str(certs / "apiserver.crt"),
                "--tls-private-key-file", str(certs / "apiserver.key"),
                "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "RBAC",
                "--kubelet-client-certificate", str(certs / "admin.crt"),
                "--kubelet-client-key", str(certs / "admin.key")]
        env = {**os.environ, "KM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
        with start_apiserver(tmp_path_factory.mktemp("data"), km=wrapper, env=env,
                             secure=True, extra_args=args) as server:
            server.kubeconfig = certs / "admin.kubeconfig"
            root = tmp_path_factory.mktemp("kubelet") / "root"
            kubelet = Kubelet(wrapper, server, certs, root, SANDBOX_NODE)
            kubelet.cmd[kubelet.cmd.index("--isolation") + 1] = "namespaces"
            kubelet.cmd += ["--pod-cidr", SANDBOX_CIDR]
            kubelet.start()
            client = Kubectl(server, tmp_path_factory.mktemp("kube-cache"))
            client.base = [*enter(netns), *client.base]
            try:
                client("apply", "-f", "-", input=json.dumps({
                    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "boxed"},
                    "spec": {"nodeName": SANDBOX_NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "c", "image": "python", "command": [
                                 "sh", "-c", "hostname > /tmp/who && cd /tmp && "
                                 "exec python3 -m http.server 8000"],  # /tmp: the pod's own
                                 "readinessProbe": {"tcpSocket": {"port": 8000},
                                                    "periodSeconds": 1}}]}}))
                until(lambda: "true" in client(
                    "get", "pod", "boxed", "-o",
                    "jsonpath={.status.containerStatuses[0].ready}", check=False).stdout,
                    "pod boxed ready", WAIT, POLL)
                yield client, netns
            finally:
                client("delete", "pod", "boxed", "--wait=false", check=False)
                kubelet.stop()
                _remove_sandboxes(netns, root)
                assert "Traceback" not in kubelet.log.read_text()


def test_port_forward_into_a_sandboxed_pod(sandboxed: tuple[Kubectl, str],
                                           forwards: list[Forward]) -> None:
    kubectl, netns = sandboxed
    # http.server binds 0.0.0.0 in its own namespace: kube's kubelet dials 127.0.0.1 there
    forward = Forward(kubectl, "pod/boxed", "0:8000", "0:9")
    forwards.append(forward)
    code = ("import urllib.request\n"
            f"print(urllib.request.urlopen('http://127.0.0.1:{forward.ports[8000]}/who',"
            " timeout=20).read().decode())")
    done = inside(netns, sys.executable, "-c", code, check=False)  # kubectl listens in there
    assert (done.returncode, done.stdout.strip()) == (0, "boxed"), done.stderr
    inside(netns, sys.executable, "-c", "import socket; socket.create_connection(("
           f"'127.0.0.1', {forward.ports[9]})).recv(1)", check=False)
    forward.wait()
    err = "".join(forward.err)
    # klog quotes the error as a Go string: its own quotes come escaped
    assert 'port forward into network namespace \\"/run/netns/km-pf1-' in err
    assert "failed to connect to localhost:9 inside namespace " in err
    assert "dial tcp 127.0.0.1:9: connect: connection refused" in err
