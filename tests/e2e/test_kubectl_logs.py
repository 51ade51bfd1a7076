"""The real kubectl's ``logs`` against the built km.pyz: the apiserver's checks as kubectl
prints them, and a pod's log, plain and followed, proxied from the pod's kubelet.

km has no kubelet yet, so these tests stand one in: a small aiohttp HTTPS server on 127.0.0.2,
in a thread of the test process, serving ``/containerLogs/NS/POD/CONTAINER`` as a kubelet
must (servers/apiserver/podlogs.py says what). The module's apiserver runs without
``--kubelet-certificate-authority``, so like kube-apiserver it does not verify the stand-in's
self-signed certificate. When the km kubelet exists, these tests should run it instead.
"""

from __future__ import annotations

import asyncio
import queue
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from servers.certs import pki
from tests.e2e import test_kubectl as base
from tests.e2e.test_kubectl import Kubectl

certs = base.certs  # fixture: the module's PKI and kubeconfigs from km.pyz certs
api = base.api  # fixture: a km.pyz apiserver for this module (HTTPS, RBAC)
kubectl = base.kubectl  # fixture: kubectl with a fresh --cache-dir per test

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NODE_IP = "127.0.0.2"
WAIT = 30.0  # the longest any step waits for kubectl or the stand-in
LATER = "written after kubectl logs -f started"


class StandInKubelet:
    """An HTTPS /containerLogs server in its own thread and event loop.

    A plain request gets ``hello from CONTAINER`` twice; a followed one gets one line, then
    ``LATER`` once ``release`` is set, then stays open until the apiserver hangs up (``gone``)
    or WAIT passes.
    """

    def __init__(self, folder: Path) -> None:
        ca_key, ca = pki.make_ca("stand-in-kubelet-ca", 2)
        key, cert = pki.sign(ca, ca_key, "kubelet", (), 2, sans=[NODE_IP])
        (folder / "kubelet.crt").write_bytes(pki.cert_pem(cert))
        (folder / "kubelet.key").write_bytes(pki.key_pem(key))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(folder / "kubelet.crt", folder / "kubelet.key")
        self.port = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        self.gone = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner

    def __enter__(self) -> StandInKubelet:
        self._thread.start()
        assert self._ready.wait(WAIT), "the stand-in kubelet did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self._logs)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, NODE_IP, 0, ssl_context=self.context).start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        await self._runner.cleanup()
        await asyncio.sleep(0.2)  # the closed connections' sockets close on the next turns

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        container = request.match_info["container"]
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        if request.query.get("follow") != "true":
            await resp.write(f"hello from {container}\nbye from {container}\n".encode())
            await resp.write_eof()
            return resp
        await resp.write(f"hello from {container}\n".encode())
        await self._until(request, self.release.is_set)
        await resp.write(f"{LATER}\n".encode())
        await self._until(request, lambda: False)
        return resp

    async def _until(self, request: web.Request, done: Any) -> None:
        """Wait (bounded) for ``done()``; note when the apiserver hangs up meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not done() and loop.time() < deadline:
            if request.transport is None or request.transport.is_closing():
                self.gone.set()
                return
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInKubelet]:
    with StandInKubelet(tmp_path_factory.mktemp("stand-in-kubelet")) as kubelet:
        yield kubelet


def node(name: str, port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Node, and the status patch that points it at a kubelet on 127.0.0.2:port."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}, {
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


def pod(name: str, *containers: str, node_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "busybox:1"}
                                           for c in containers or ("c",)]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def create(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl("create", "-f", "-", input=yaml.safe_dump_all(objs))


@pytest.fixture
def on_standin(kubectl: Kubectl, standin: StandInKubelet) -> Iterator[str]:
    """A Node whose kubelet endpoint is the stand-in; its name."""
    obj, status = node("standin", standin.port)
    create(kubectl, obj)
    kubectl("patch", "node", "standin", "--subresource=status", "--type=merge",
            "-p", yaml.safe_dump(status))
    try:
        yield "standin"
    finally:
        kubectl("delete", "node", "standin", "--ignore-not-found")


def test_logs_of_an_unscheduled_pod_say_it_has_no_host(kubectl: Kubectl) -> None:
    create(kubectl, pod("pending"))
    try:
        done = kubectl("logs", "pending", check=False)
        assert done.returncode != 0
        assert done.stderr.strip() == (
            "Error from server (BadRequest): pod pending does not have a host assigned")
    finally:
        kubectl("delete", "pod", "pending", "--wait=false", "--ignore-not-found")


def test_logs_print_the_kubelets_lines(kubectl: Kubectl, standin: StandInKubelet,
                                       on_standin: str) -> None:
    create(kubectl, pod("web", node_name=on_standin))
    try:
        done = kubectl("logs", "web")
        assert done.stdout == "hello from c\nbye from c\n"
        assert standin.requests[-1] == ("/containerLogs/default/web/c", {})
        assert kubectl("logs", "web", "--tail=1", "--timestamps").stdout
        assert standin.requests[-1][1] == {"tailLines": "1", "timestamps": "true"}
    finally:
        kubectl("delete", "pod", "web", "--wait=false", "--ignore-not-found")


def test_logs_of_a_pod_with_two_containers_default_to_the_first(
        kubectl: Kubectl, standin: StandInKubelet, on_standin: str) -> None:
    # kubectl itself picks the first container (kubectl.kubernetes.io/default-container
    # aside) and says so; the apiserver's "choose one of" is for clients that do not.
    create(kubectl, pod("two", "a", "b", node_name=on_standin))
    try:
        done = kubectl("logs", "two")
        assert done.stdout == "hello from a\nbye from a\n"
        assert 'Defaulted container "a" out of: a, b' in done.stderr
        assert kubectl("logs", "two", "-c", "b").stdout == "hello from b\nbye from b\n"
        bad = kubectl("logs", "two", "-c", "x", check=False)
        assert bad.returncode != 0 and "container x is not valid for pod two" in bad.stderr
    finally:
        kubectl("delete", "pod", "two", "--wait=false", "--ignore-not-found")


def test_logs_follow_prints_lines_written_after_it_started(
        kubectl: Kubectl, standin: StandInKubelet, on_standin: str) -> None:
    create(kubectl, pod("follow", node_name=on_standin))
    standin.release.clear()
    standin.gone.clear()
    proc = kubectl.popen("logs", "-f", "follow")
    lines, reader = _lines(proc)
    try:
        assert lines.get(timeout=WAIT) == "hello from c\n"
        assert not standin.release.is_set()  # the next line does not exist yet
        standin.release.set()
        assert lines.get(timeout=WAIT) == f"{LATER}\n"
        assert proc.poll() is None  # still following
        assert standin.requests[-1][1] == {"follow": "true"}
    finally:
        proc.kill()  # kubectl logs -f ends only when stopped
        proc.wait(timeout=WAIT)
        reader.join(WAIT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        kubectl("delete", "pod", "follow", "--wait=false", "--ignore-not-found")
    assert standin.gone.wait(WAIT), "the apiserver kept the kubelet request open"


def _lines(proc: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """proc's stdout, line by line, read by a thread (so every wait is bounded)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader
