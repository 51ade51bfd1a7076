"""pods/log over HTTP: the apiserver checks the request, finds the pod's kubelet and streams
its answer back (servers/apiserver/podlogs.py).

The kubelet is a stand-in: a small aiohttp HTTPS server on 127.0.0.2 with a certificate from
``servers.certs.pki``, serving ``/containerLogs/NS/POD/CONTAINER`` and recording each request.
Most tests run the apiserver's app in-process (so its kubelet client can be configured per
test); the last ones run ``km apiserver`` itself with the ``--kubelet-*`` flags.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from servers.apiserver import app as apiserver
from servers.apiserver import podlogs
from servers.apiserver.podlogs import KubeletClientConfig
from servers.apiserver.registry import Registry
from servers.apiserver.storage import open_storage
from servers.certs import pki
from tests.integration.apiserver.conftest import PODS, Client
from tests.integration.apiserver.test_rbac import (  # noqa: F401  (rbac_api is a fixture)
    PODS_RW,
    allowed,
    binding,
    rbac_api,
    role,
)
from tests.integration.apiserver.test_rbac import POLL as RBAC_POLL
from tests.integration.apiserver.test_rbac import WAIT as RBAC_WAIT
from tests.integration.apiserver.test_rbac import call as rbac_call
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.ports import free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.timeout(60)

NODE_IP = "127.0.0.2"
WAIT = 10.0  # the longest any step of these tests waits
WAITING = 'container "broken" in pod "web" is waiting to start: ContainerCreating'


# -- the PKI: the cluster's CA, a kubelet serving cert, the apiserver's kubelet-client cert ----

@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certs:
    ca: Path
    kubelet: Pair  # serving, for 127.0.0.2, signed by ca
    client: Pair  # the apiserver's client certificate towards kubelets, signed by ca
    foreign_ca: Path
    foreign_kubelet: Pair  # serving, for 127.0.0.2, signed by foreign_ca


def _write(folder: Path, name: str, key: pki.Key, cert: pki.Certificate) -> Pair:
    pair = Pair(folder / f"{name}.crt", folder / f"{name}.key")
    pair.cert.write_bytes(pki.cert_pem(cert))
    pair.key.write_bytes(pki.key_pem(key))
    return pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("kubelet-pki")
    ca_key, ca = pki.make_ca("km-ca", 30)
    other_key, other = pki.make_ca("someone-else", 30)
    (folder / "ca.crt").write_bytes(pki.cert_pem(ca))
    (folder / "foreign-ca.crt").write_bytes(pki.cert_pem(other))
    return Certs(
        ca=folder / "ca.crt",
        kubelet=_write(folder, "kubelet", *pki.sign(ca, ca_key, "kubelet-n1", (), 30,
                                                    sans=[NODE_IP])),
        client=_write(folder, "apiserver-kubelet-client",
                      *pki.sign(ca, ca_key, "kube-apiserver-kubelet-client",
                                ("system:masters",), 30)),
        foreign_ca=folder / "foreign-ca.crt",
        foreign_kubelet=_write(folder, "foreign-kubelet",
                               *pki.sign(other, other_key, "impostor", (), 30, sans=[NODE_IP])))


# -- the stand-in kubelet ---------------------------------------------------------------------

@dataclass
class Seen:
    path: str
    query: dict[str, str]
    client_cn: str | None


@dataclass
class StandIn:
    """A kubelet's /containerLogs: fixed lines (container "slow": once ``release`` is set), or
    (follow=true) one line now and one after ``release`` is set; ``gone`` is set when the
    apiserver hangs up a followed request."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        self.seen.append(Seen(request.path, dict(request.query), _common_name(peer)))
        if request.match_info["container"] == "broken":
            return web.Response(status=400, text=WAITING)
        if request.match_info["container"] == "slow":  # answers once released
            await asyncio.wait_for(self.release.wait(), WAIT)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        if request.query.get("follow") != "true":
            await resp.write(b"hello from c\nsecond line\n")
            await resp.write_eof()
            return resp
        await resp.write(b"line 1\n")
        released = asyncio.ensure_future(self.release.wait())
        while not released.done():  # bounded: the test releases, or the apiserver hangs up
            if request.transport is None or request.transport.is_closing():
                self.gone.set()
                released.cancel()
                return resp
            await asyncio.wait({released}, timeout=0.05)
        await resp.write(b"line 2, written after the client read line 1\n")
        await resp.write_eof()
        return resp


def _common_name(peer: Any) -> str | None:
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


@pytest.fixture
async def kubelet(certs: Certs) -> AsyncIterator[StandIn]:
    async with _StandInServer(certs.kubelet, certs.ca) as standin:
        yield standin


@pytest.fixture
async def impostor(certs: Certs) -> AsyncIterator[StandIn]:
    """A kubelet whose serving certificate comes from a CA the apiserver does not trust."""
    async with _StandInServer(certs.foreign_kubelet, certs.ca) as standin:
        yield standin


class _StandInServer:
    def __init__(self, serving: Pair, client_ca: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(serving.cert, serving.key)
        self.context.load_verify_locations(cafile=client_ca)
        self.context.verify_mode = ssl.CERT_OPTIONAL  # record a client cert, if presented
        self.standin = StandIn()
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}",
                           self.standin.container_logs)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)

    async def __aenter__(self) -> StandIn:
        await self.runner.setup()
        site = web.TCPSite(self.runner, NODE_IP, 0, ssl_context=self.context)
        await site.start()
        self.standin.port = self.runner.addresses[0][1]
        return self.standin

    async def __aexit__(self, *exc: object) -> None:
        self.standin.release.set()
        # A handshake the apiserver refused (wrong CA) is closed by its alert; let that alert
        # reach this loop, or the half-open socket outlives the test (ResourceWarning).
        await asyncio.sleep(0.2)
        await asyncio.wait_for(self.runner.cleanup(), WAIT)
        await asyncio.sleep(0.2)  # the closed connections' sockets close on the next turns


# -- the apiserver, in-process ---------------------------------------------------------------

MakeApi = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_api(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
                   ) -> AsyncIterator[MakeApi]:
    """Build the apiserver app with a given kubelet client configuration (one per test)."""
    storage = await open_storage("sqlite", data_dir=str(tmp_path / "data"), etcd_servers=[])
    registry = Registry(storage)
    await apiserver.create_default_namespaces(registry)

    async def make(kubelet: KubeletClientConfig | None = None) -> Client:
        return await aiohttp_client(apiserver.make_app(registry, kubelet=kubelet))

    try:
        yield make
    finally:
        await registry.close()
        await storage.close()


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def call(api: Client, method: str, path: str, body: Any = None, expect: int = 0) -> Any:
    resp = await api.request(method, path, data=None if body is None else json.dumps(body),
                             headers={"Content-Type": "application/json"})
    text = await resp.text()
    if expect:
        assert resp.status == expect, text
    return json.loads(text) if resp.content_type == "application/json" else text


def node(name: str = "n1", port: int | None = 10250,
         addresses: list[dict[str, str]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"addresses": addresses if addresses is not None else [
        {"type": "Hostname", "address": "localhost"}, {"type": "InternalIP", "address": NODE_IP}]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": status}


def pod(name: str = "web", containers: tuple[str, ...] = ("c",),
        node_name: str | None = "n1") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def register(api: Client, the_node: dict[str, Any], *pods: dict[str, Any]) -> None:
    created = await call(api, "POST", "/api/v1/nodes", the_node, expect=201)
    if created.get("status") != the_node["status"]:  # status is written through /status
        created["status"] = the_node["status"]
        await call(api, "PUT", f"/api/v1/nodes/{the_node['metadata']['name']}/status",
                   created, expect=200)
    for one in pods:
        await call(api, "POST", PODS, one, expect=201)


def assert_status(status: Any, code: int, reason: str, message: str) -> None:
    assert isinstance(status, dict) and status["kind"] == "Status", status
    assert (status["code"], status["reason"], status["message"]) == (code, reason, message)


# -- the log arrives ---------------------------------------------------------------------------

async def test_the_kubelets_log_is_streamed_back_as_text(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod())
    resp = await api.get(f"{PODS}/web/log")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    assert await resp.text() == "hello from c\nsecond line\n"
    assert [s.path for s in kubelet.seen] == ["/containerLogs/default/web/c"]
    assert kubelet.seen[0].query == {}


async def test_log_options_are_passed_to_the_kubelet(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod(containers=("a", "b")))
    resp = await api.get(f"{PODS}/web/log", params={
        "container": "b", "previous": "1", "timestamps": "true", "tailLines": "10",
        "limitBytes": "500", "sinceTime": "2026-01-02T03:04:05+01:00"})
    assert resp.status == 200, await resp.text()
    await resp.read()
    assert kubelet.seen[0].path == "/containerLogs/default/web/b"
    assert kubelet.seen[0].query == {"previous": "true", "timestamps": "true",
                                     "tailLines": "10", "limitBytes": "500",
                                     "sinceTime": "2026-01-02T02:04:05Z"}
    resp = await api.get(f"{PODS}/web/log?container=a&sinceSeconds=30")
    await resp.read()
    assert kubelet.seen[1].query == {"sinceSeconds": "30"}


async def test_follow_streams_lines_written_after_the_request_began(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod())
    resp = await api.get(f"{PODS}/web/log?follow=true")
    assert resp.status == 200
    assert await asyncio.wait_for(resp.content.readline(), WAIT) == b"line 1\n"
    assert not kubelet.release.is_set()  # the second line does not exist yet
    kubelet.release.set()
    assert await asyncio.wait_for(resp.content.readline(), WAIT) == (
        b"line 2, written after the client read line 1\n")
    assert await asyncio.wait_for(resp.content.read(), WAIT) == b""  # the kubelet ended it
    assert kubelet.seen[0].query == {"follow": "true"}


async def test_a_client_that_leaves_closes_the_kubelet_request(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod())
    resp = await api.get(f"{PODS}/web/log?follow=true")
    assert await asyncio.wait_for(resp.content.readline(), WAIT) == b"line 1\n"
    resp.close()
    await asyncio.wait_for(kubelet.gone.wait(), WAIT)


async def test_a_stopping_apiserver_ends_followed_logs(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod())
    resp = await api.get(f"{PODS}/web/log?follow=true")
    assert await asyncio.wait_for(resp.content.readline(), WAIT) == b"line 1\n"
    await api.server.app.shutdown()  # what AppRunner.cleanup does before it waits for handlers
    assert await asyncio.wait_for(resp.content.read(), WAIT) == b""
    await asyncio.wait_for(kubelet.gone.wait(), WAIT)


# -- TLS between apiserver and kubelet ---------------------------------------------------------

async def test_the_client_certificate_is_presented_when_configured(
        make_api: MakeApi, kubelet: StandIn, certs: Certs) -> None:
    api = await make_api(KubeletClientConfig(certificate=str(certs.client.cert),
                                             key=str(certs.client.key),
                                             certificate_authority=str(certs.ca)))
    await register(api, node(port=kubelet.port), pod())
    assert await call(api, "GET", f"{PODS}/web/log", expect=200) == (
        "hello from c\nsecond line\n")
    assert kubelet.seen[0].client_cn == "kube-apiserver-kubelet-client"


async def test_without_a_client_certificate_none_is_presented(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod())
    await call(api, "GET", f"{PODS}/web/log", expect=200)
    assert kubelet.seen[0].client_cn is None


async def test_a_kubelet_certificate_from_another_ca_is_refused(
        make_api: MakeApi, impostor: StandIn, certs: Certs) -> None:
    api = await make_api(KubeletClientConfig(certificate_authority=str(certs.ca)))
    await register(api, node(port=impostor.port), pod())
    status = await call(api, "GET", f"{PODS}/web/log", expect=503)
    assert status["reason"] == "ServiceUnavailable"
    assert status["message"].startswith(
        f'cannot reach the kubelet of node "n1" at https://{NODE_IP}:{impostor.port}: TLS: ')
    assert "certificate verify failed" in status["message"]
    assert impostor.seen == []
    # kubectl logs --insecure-skip-tls-verify-backend: the one way past the check.
    resp = await api.get(f"{PODS}/web/log?insecureSkipTLSVerifyBackend=true")
    assert (resp.status, await resp.text()) == (200, "hello from c\nsecond line\n")


async def test_without_a_ca_the_kubelet_is_not_verified_and_that_is_logged(
        make_api: MakeApi, impostor: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    api = await make_api()
    await register(api, node(port=impostor.port), pod())
    await call(api, "GET", f"{PODS}/web/log", expect=200)
    said = [r.getMessage() for r in caplog.records if r.name == podlogs.__name__]
    assert said.count(podlogs.NOT_VERIFIED) == 1


# -- every refusal, with kube-apiserver's code and words ---------------------------------------

async def test_pod_and_container_checks(make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod(), pod("two", ("a", "b")),
                   pod("pending", node_name=None))
    assert_status(await call(api, "GET", f"{PODS}/nope/log", expect=404),
                  404, "NotFound", 'pods "nope" not found')
    assert_status(await call(api, "GET", f"{PODS}/two/log", expect=400), 400, "BadRequest",
                  "a container name must be specified for pod two, choose one of: [a b]")
    assert_status(await call(api, "GET", f"{PODS}/web/log?container=x", expect=400),
                  400, "BadRequest", "container x is not valid for pod web")
    assert_status(await call(api, "GET", f"{PODS}/pending/log", expect=400),
                  400, "BadRequest", "pod pending does not have a host assigned")
    assert kubelet.seen == []


async def test_node_checks(make_api: MakeApi) -> None:
    api = await make_api()
    await register(api, node("noport", port=None), pod("a", node_name="noport"))
    await register(api, node("external", addresses=[{"type": "ExternalDNS",
                                                     "address": "n.example"}]),
                   pod("b", node_name="external"))
    await call(api, "POST", PODS, pod("c", node_name="gone"), expect=201)
    assert_status(await call(api, "GET", f"{PODS}/c/log", expect=404),
                  404, "NotFound", 'nodes "gone" not found')
    assert_status(await call(api, "GET", f"{PODS}/a/log", expect=503), 503, "ServiceUnavailable",
                  'node "noport" has no kubelet endpoint '
                  "(status.daemonEndpoints.kubeletEndpoint.Port)")
    assert_status(await call(api, "GET", f"{PODS}/b/log", expect=503), 503, "ServiceUnavailable",
                  'node "external" has no address of the types InternalIP,Hostname,ExternalIP '
                  "to reach its kubelet at (its addresses: [ExternalDNS=n.example])")


async def test_the_preferred_address_types_pick_the_address(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api(KubeletClientConfig(preferred_address_types=("Hostname",)))
    addresses = [{"type": "InternalIP", "address": "127.0.0.9"},
                 {"type": "Hostname", "address": NODE_IP}]
    await register(api, node(port=kubelet.port, addresses=addresses), pod())
    await call(api, "GET", f"{PODS}/web/log", expect=200)
    assert len(kubelet.seen) == 1


async def test_an_unreachable_kubelet_is_a_clear_503(make_api: MakeApi) -> None:
    api = await make_api()
    with_nothing = free_port(NODE_IP)
    await register(api, node(port=with_nothing), pod())
    status = await call(api, "GET", f"{PODS}/web/log", expect=503)
    assert status["reason"] == "ServiceUnavailable"
    assert status["message"].startswith(
        f'cannot reach the kubelet of node "n1" at https://{NODE_IP}:{with_nothing}: ')
    assert "Connect call failed" in status["message"]  # the reason ...
    assert "SSLContext" not in status["message"]  # ... not the client's objects


async def test_the_kubelets_own_refusal_is_passed_on(
        make_api: MakeApi, kubelet: StandIn) -> None:
    api = await make_api()
    await register(api, node(port=kubelet.port), pod(containers=("broken",)))
    assert_status(await call(api, "GET", f"{PODS}/web/log", expect=400),
                  400, "BadRequest", WAITING)


@pytest.mark.parametrize(("query", "message"), [
    ("follow=maybe", 'invalid value for follow: "maybe" is not a boolean'),
    ("previous=2", 'invalid value for previous: "2" is not a boolean'),
    ("timestamps=yes!", 'invalid value for timestamps: "yes!" is not a boolean'),
    ("tailLines=ten", 'invalid value for tailLines: "ten" is not an integer'),
    ("limitBytes=1e3", 'invalid value for limitBytes: "1e3" is not an integer'),
    ("sinceSeconds=1.5", 'invalid value for sinceSeconds: "1.5" is not an integer'),
    ("sinceTime=yesterday", 'invalid value for sinceTime: "yesterday" is not an RFC 3339 time'),
    ("tailLines=99999999999999999999",
     'invalid value for tailLines: "99999999999999999999" is out of range'),
])
async def test_malformed_options_are_400(make_api: MakeApi, query: str, message: str) -> None:
    api = await make_api()
    await call(api, "POST", PODS, pod(), expect=201)
    assert_status(await call(api, "GET", f"{PODS}/web/log?{query}", expect=400),
                  400, "BadRequest", message)


@pytest.mark.parametrize(("query", "message"), [
    ("tailLines=-1", "tailLines: Invalid value: -1: must be greater than or equal to 0"),
    ("limitBytes=0", "limitBytes: Invalid value: 0: must be greater than 0"),
    ("sinceSeconds=0", "sinceSeconds: Invalid value: 0: must be greater than 0"),
    ("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z",
     ": Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"),
])
async def test_option_values_kube_refuses_are_422(
        make_api: MakeApi, query: str, message: str) -> None:
    api = await make_api()
    await call(api, "POST", PODS, pod(), expect=201)
    status = await call(api, "GET", f"{PODS}/web/log?{query}", expect=422)
    assert_status(status, 422, "Invalid", f'PodLogOptions "web" is invalid: {message}')
    assert status["details"]["kind"] == "PodLogOptions"


async def test_only_get_is_served(make_api: MakeApi) -> None:
    api = await make_api()
    await call(api, "POST", PODS, pod(), expect=201)
    status = await call(api, "DELETE", f"{PODS}/web/log", expect=405)
    assert status["reason"] == "MethodNotAllowed"


async def test_rbac_asks_for_get_on_pods_log(rbac_api: Client) -> None:  # noqa: F811
    await rbac_call(rbac_api, "POST", PODS, pod(node_name=None), expect=201)
    await rbac_call(rbac_api, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/"
                    "roles", role("pods", PODS_RW), expect=201)
    await rbac_call(rbac_api, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/"
                    "rolebindings", binding("pods", "Role", "pods"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", f"{PODS}/web"), "alice may get the pod",
                     RBAC_WAIT, RBAC_POLL)
    denied = await rbac_call(rbac_api, "GET", f"{PODS}/web/log", user="alice", expect=403)
    assert denied["message"] == (
        'pods "web" is forbidden: User "alice" cannot get resource "pods/log" in API group "" '
        'in the namespace "default"')
    logs = [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
    await rbac_call(rbac_api, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/"
                    "roles", role("logs", logs), expect=201)
    await rbac_call(rbac_api, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/"
                    "rolebindings", binding("logs", "Role", "logs"), expect=201)
    await eventually(lambda: allowed(rbac_api, "GET", f"{PODS}/web/log"),
                     "alice may get its log", RBAC_WAIT, RBAC_POLL)
    past_authz = await rbac_call(rbac_api, "GET", f"{PODS}/web/log", user="alice", expect=400)
    assert past_authz["message"] == "pod web does not have a host assigned"


# -- km apiserver itself, with its --kubelet-* flags -------------------------------------------

@pytest.fixture
def flagged_apiserver(tmp_path: Path, certs: Certs) -> Iterator[ApiServer]:
    args = ["--compaction-interval", "0",
            "--kubelet-client-certificate", str(certs.client.cert),
            "--kubelet-client-key", str(certs.client.key),
            "--kubelet-certificate-authority", str(certs.ca),
            "--kubelet-preferred-address-types", "InternalIP"]
    with start_apiserver(tmp_path / "data", extra_args=args) as api:
        yield api


@pytest.fixture
def plain_apiserver(tmp_path: Path) -> Iterator[ApiServer]:
    with start_apiserver(tmp_path / "data", extra_args=["--compaction-interval", "0"]) as api:
        yield api


async def _http(url: str, method: str, path: str, body: Any = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.request(
            method, url + path, json=body, timeout=aiohttp.ClientTimeout(total=WAIT)) as resp:
        return resp.status, await resp.text()


async def _register_over_http(url: str, port: int, containers: tuple[str, ...] = ("c",)
                              ) -> None:
    the_node = node(port=port)
    status, text = await _http(url, "POST", "/api/v1/nodes", the_node)
    assert status == 201, text
    created = json.loads(text)
    if created.get("status") != the_node["status"]:
        created["status"] = the_node["status"]
        status, text = await _http(url, "PUT", "/api/v1/nodes/n1/status", created)
        assert status == 200, text
    status, text = await _http(url, "POST", PODS, pod(containers=containers))
    assert status == 201, text


async def test_km_apiserver_flags_present_the_client_cert_and_verify_the_kubelet(
        flagged_apiserver: ApiServer, kubelet: StandIn, impostor: StandIn) -> None:
    url = flagged_apiserver.url
    await _register_over_http(url, kubelet.port)
    assert await _http(url, "GET", f"{PODS}/web/log") == (200, "hello from c\nsecond line\n")
    assert kubelet.seen[0].client_cn == "kube-apiserver-kubelet-client"
    the_node = json.loads((await _http(url, "GET", "/api/v1/nodes/n1"))[1])
    the_node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = impostor.port
    assert (await _http(url, "PUT", "/api/v1/nodes/n1/status", the_node))[0] == 200
    status, text = await _http(url, "GET", f"{PODS}/web/log")
    assert status == 503 and "certificate verify failed" in json.loads(text)["message"]
    log = "".join(flagged_apiserver.log)
    assert "Traceback" not in log and podlogs.NOT_VERIFIED not in log


async def test_a_client_that_leaves_before_the_kubelet_answers_is_no_error(
        plain_apiserver: ApiServer, kubelet: StandIn) -> None:
    # km's own apiserver: the in-process test server cancels the handler of a client that
    # leaves (handler_cancellation), km's does not, so only it shows what happens next
    url = plain_apiserver.url
    await _register_over_http(url, kubelet.port, containers=("slow",))
    _, writer = await asyncio.open_connection("127.0.0.1", plain_apiserver.port)
    writer.write(f"GET {PODS}/web/log HTTP/1.1\r\nHost: api\r\n\r\n".encode())
    for _ in range(int(WAIT / 0.01)):  # bounded: until the kubelet has the request
        if kubelet.seen:
            break
        await asyncio.sleep(0.01)
    writer.close()  # the client leaves while the apiserver waits for the kubelet
    await writer.wait_closed()
    kubelet.release.set()
    # a whole second request the same way: by its end the first one's answer has long
    # reached the apiserver, which found no client to pass it to
    assert await _http(url, "GET", f"{PODS}/web/log") == (200, "hello from c\nsecond line\n")
    assert len(kubelet.seen) == 2
    log = "".join(plain_apiserver.log)
    assert "Traceback" not in log and " 500 " not in log and "rror" not in log, log


async def test_km_apiserver_without_flags_logs_once_that_kubelets_are_not_verified(
        plain_apiserver: ApiServer) -> None:
    url = plain_apiserver.url
    await _register_over_http(url, free_port(NODE_IP))
    status, text = await _http(url, "GET", f"{PODS}/web/log")
    assert status == 503 and 'kubelet of node "n1"' in json.loads(text)["message"]
    log = "".join(plain_apiserver.log)
    assert log.count(podlogs.NOT_VERIFIED) == 1 and "Traceback" not in log
