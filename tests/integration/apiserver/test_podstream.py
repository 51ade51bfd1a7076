"""pods/exec, pods/attach, pods/portforward through a real ``km apiserver`` (HTTPS, RBAC,
--token-auth-file, the --kubelet-* flags) to a stand-in kubelet (servers/apiserver/podstream.py).

The kubelet is a small aiohttp WebSocket server on 127.0.0.2 with a serving certificate from
the cluster CA (``km certs``'s): it records what it was asked and echoes each message back
on the subprotocol it picked, so the tests see both directions, the negotiation and the close
codes of the relay. The apiserver is one per module; each test points node n1 at its own
stand-in kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from servers.apiserver import podstream
from servers.certs import pki
from tests.support.apiserver import ApiServer, start_apiserver
from tests.support.pki import make_certs

pytestmark = pytest.mark.timeout(60)

NODE_IP = "127.0.0.2"
WAIT = 10.0
PODS = "/api/v1/namespaces/default/pods"
ADMIN, ALICE, BOB, CAROL = "admin-tok-51c2", "alice-tok-8d0e", "bob-tok-27fa", "carol-tok-91b3"
DAVE = "dave-tok-4e6f"
V5, V4, V1 = "v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"
TUNNEL = "SPDY/3.1+portforward.k8s.io"
RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"


@dataclass(frozen=True)
class Cluster:
    api: ApiServer
    certs: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    certs = make_certs(tmp_path_factory.mktemp("pki"))
    ca = pki.load_cert((certs / "ca.crt").read_bytes())
    ca_key = pki.load_key((certs / "ca.key").read_bytes())
    for name, key_cert in (
            ("kubelet", pki.sign(ca, ca_key, "kubelet-n1", (), 30, sans=[NODE_IP])),
            ("kubelet-client", pki.sign(ca, ca_key, "kube-apiserver-kubelet-client",
                                        ("system:masters",), 30))):
        (certs / f"{name}.crt").write_bytes(pki.cert_pem(key_cert[1]))
        (certs / f"{name}.key").write_bytes(pki.key_pem(key_cert[0]))
    tokens = certs / "tokens.csv"
    tokens.write_text(f'{ADMIN},admin,uid-admin,"system:masters"\n{ALICE},alice,uid-alice\n'
                      f"{BOB},bob,uid-bob\n{CAROL},carol,uid-carol\n{DAVE},dave,uid-dave\n")
    args = ["--tls-cert-file", str(certs / "apiserver.crt"),
            "--tls-private-key-file", str(certs / "apiserver.key"),
            "--client-ca-file", str(certs / "ca.crt"), "--authorization-mode", "RBAC",
            "--token-auth-file", str(tokens), "--compaction-interval", "0",
            "--kubelet-client-certificate", str(certs / "kubelet-client.crt"),
            "--kubelet-client-key", str(certs / "kubelet-client.key"),
            "--kubelet-certificate-authority", str(certs / "ca.crt"),
            "--kubelet-preferred-address-types", "InternalIP"]
    with start_apiserver(tmp_path_factory.mktemp("data"), secure=True,
                         extra_args=args) as api:
        yield Cluster(api, certs)


# -- the stand-in kubelet ---------------------------------------------------------------------

@dataclass
class Seen:
    path: str
    query: list[tuple[str, str]]
    offered: str
    client_cn: str | None
    closed_with: int | None = None
    closed_reason: str = ""


@dataclass
class Kubelet:
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    active: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)  # pod "slow" waits for it

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.active += 1
        try:
            return await self._stream(request)
        finally:
            self.active -= 1

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        seen = Seen(request.path, list(request.query.items()),
                    request.headers.get("Sec-WebSocket-Protocol", ""), _common_name(peer))
        self.seen.append(seen)
        if request.match_info.get("pod") == "ghost":
            return web.Response(status=404, text='pod "ghost" not found on this node')
        if request.match_info.get("pod") == "slow":  # answers the handshake once released
            await asyncio.wait_for(self.release.wait(), WAIT)
        kind = request.path.split("/")[1]
        protocols = {"exec": (V5, V4), "attach": (V4,), "portForward": (TUNNEL, V4)}[kind]
        ws = web.WebSocketResponse(protocols=protocols, autoclose=False, max_msg_size=0)
        await ws.prepare(request)
        while True:  # not ``async for``: it hides the CLOSE message and its code
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT and msg.data.startswith("close "):
                code = int(msg.data.split()[1])
                await ws.close(code=code, message=b"bye from the kubelet")
                break
            if msg.type is WSMsgType.TEXT:
                await ws.send_str("echo " + msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(b"\x01" + msg.data)  # back on stdout
            elif msg.type is WSMsgType.CLOSE:
                seen.closed_with, seen.closed_reason = msg.data, msg.extra or ""
                await ws.close()
                break
            else:
                break
        self.done.set()
        return ws


def _common_name(peer: Any) -> str | None:
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


@pytest.fixture
async def kubelet(cluster: Cluster) -> AsyncIterator[Kubelet]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cluster.certs / "kubelet.crt", cluster.certs / "kubelet.key")
    context.load_verify_locations(cafile=cluster.certs / "ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL  # record the client certificate
    standin = Kubelet()
    app = web.Application()
    app.router.add_get("/exec/{ns}/{pod}/{container}", standin.stream)
    app.router.add_get("/attach/{ns}/{pod}/{container}", standin.stream)
    app.router.add_get("/portForward/{ns}/{pod}", standin.stream)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, NODE_IP, 0, ssl_context=context)
    await site.start()
    standin.port = runner.addresses[0][1]
    await _point_node_at(cluster, standin.port)
    try:
        yield standin
    finally:
        for _ in range(int(WAIT / 0.01)):  # the relay's last close may still be under way
            if not standin.active:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(runner.cleanup(), WAIT)
        await asyncio.sleep(0.1)  # closed TLS transports finish closing on the next turns


# -- talking to the apiserver -----------------------------------------------------------------

@pytest.fixture
async def session(cluster: Cluster) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=str(cluster.certs / "ca.crt"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                     timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        yield session


async def _call(cluster: Cluster, method: str, path: str, body: Any = None,
                token: str = ADMIN, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(cluster.certs / "ca.crt"))
    async with aiohttp.ClientSession() as s, s.request(
            method, cluster.api.url + path, json=body, ssl=context,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=WAIT)) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def _point_node_at(cluster: Cluster, port: int) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    status, got = await _call(cluster, "POST", "/api/v1/nodes", node)
    if status == 409:
        status, got = await _call(cluster, "GET", "/api/v1/nodes/n1")
    assert status in (200, 201), got
    got["status"] = {"addresses": [{"type": "InternalIP", "address": NODE_IP}],
                     "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
    status, got = await _call(cluster, "PUT", "/api/v1/nodes/n1/status", got)
    assert status == 200, got


async def _pod(cluster: Cluster, name: str, containers: tuple[str, ...] = ("c",),
               node: str | None = "n1") -> None:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "x"} for c in containers]}
    if node:
        spec["nodeName"] = node
    status, got = await _call(cluster, "POST", PODS, {"apiVersion": "v1", "kind": "Pod",
                                                      "metadata": {"name": name}, "spec": spec})
    assert status in (201, 409), got


@pytest.fixture(scope="module")
def grants(cluster: Cluster) -> None:
    """alice: get and create on pods/exec, attach, portforward; bob: get only; carol: none."""
    async def grant() -> None:
        for user, verbs in (("alice", ["get", "create"]), ("bob", ["get"])):
            role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": f"{user}-streams"},
                    "rules": [{"apiGroups": [""], "verbs": verbs, "resources": [
                        "pods/exec", "pods/attach", "pods/portforward"]}]}
            binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                       "metadata": {"name": f"{user}-streams"},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                   "name": f"{user}-streams"},
                       "subjects": [{"kind": "User", "name": user,
                                     "apiGroup": "rbac.authorization.k8s.io"}]}
            for kind, obj in (("roles", role), ("rolebindings", binding)):
                status, body = await _call(cluster, "POST", f"{RBAC}/{kind}", obj)
                assert status == 201, body
    asyncio.run(grant())


def _ws(cluster: Cluster, path: str) -> str:
    return cluster.api.url.replace("https://", "wss://") + path


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _handshake(session: aiohttp.ClientSession, cluster: Cluster, path: str,
                     token: str, method: str = "GET", upgrade: str = "websocket",
                     extra: dict[str, str] | None = None) -> tuple[int, Any]:
    """An upgrade request by hand, to read the body of a refused one."""
    headers = {**_bearer(token), "Connection": "Upgrade", "Upgrade": upgrade,
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Protocol": V5, **(extra or {})}
    async with session.request(method, cluster.api.url + path, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text.startswith("{") else text


EXEC = f"{PODS}/web/exec?command=sh&command=-c&command=echo+hi&stdin=true&stdout=true" \
    "&stderr=true"


# -- the relay ---------------------------------------------------------------------------------

async def test_exec_offers_the_clients_protocols_and_relays_both_ways(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web")
    async with session.ws_connect(_ws(cluster, EXEC), protocols=(V5, V4, V1),
                                  headers=_bearer(ALICE)) as ws:
        assert ws.protocol == V5  # the kubelet's pick, passed on
        await ws.send_bytes(b"\x00hello")
        assert (await ws.receive_bytes(timeout=WAIT)) == b"\x01\x00hello"
        await ws.send_str("a text frame")
        assert (await ws.receive_str(timeout=WAIT)) == "echo a text frame"
        big = bytes(range(256)) * 4096  # 1 MiB in one message: not split, not merged
        await ws.send_bytes(big)
        assert (await ws.receive_bytes(timeout=WAIT)) == b"\x01" + big
        await ws.send_str("close 4001")
        msg = await ws.receive(timeout=WAIT)
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 4001, "bye from the kubelet")
    seen = kubelet.seen[0]
    assert seen.path == "/exec/default/web/c"
    assert seen.query == [("command", "sh"), ("command", "-c"), ("command", "echo hi"),
                          ("error", "1"), ("input", "1"), ("output", "1")]
    assert seen.offered == f"{V5},{V4},{V1}"
    assert seen.client_cn == "kube-apiserver-kubelet-client"


async def test_the_clients_close_code_reaches_the_kubelet(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web")
    async with session.ws_connect(_ws(cluster, EXEC), protocols=(V4,),
                                  headers=_bearer(ALICE)) as ws:
        assert ws.protocol == V4
        await ws.close(code=4002, message=b"the client is done")
    await asyncio.wait_for(kubelet.done.wait(), WAIT)
    assert (kubelet.seen[0].closed_with, kubelet.seen[0].closed_reason) == (
        4002, "the client is done")


async def test_attach_takes_the_kubelets_narrower_choice_and_tty(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web")
    path = f"{PODS}/web/attach?container=c&stdin=true&stdout=true&tty=true"
    async with session.ws_connect(_ws(cluster, path), protocols=(V5, V4),
                                  headers=_bearer(ALICE)) as ws:
        assert ws.protocol == V4
        await ws.send_bytes(b"\x04{}")
        assert (await ws.receive_bytes(timeout=WAIT)) == b"\x01\x04{}"
    seen = kubelet.seen[0]
    assert (seen.path, seen.query) == ("/attach/default/web/c", [
        ("input", "1"), ("output", "1"), ("tty", "1")])


async def test_portforward_tunnels_spdy_and_passes_the_ports(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web", ("a", "b"))  # no container is chosen for a port-forward
    async with session.ws_connect(_ws(cluster, f"{PODS}/web/portforward"), protocols=(TUNNEL,),
                                  headers=_bearer(ALICE)) as ws:
        assert ws.protocol == TUNNEL
        frame = b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"  # a SPDY PING, as bytes
        await ws.send_bytes(frame)
        assert (await ws.receive_bytes(timeout=WAIT)) == b"\x01" + frame
    async with session.ws_connect(_ws(cluster, f"{PODS}/web/portforward?ports=80,8080"),
                                  protocols=(V4,), headers=_bearer(ALICE)) as ws:
        assert ws.protocol == V4
    assert [(s.path, s.query) for s in kubelet.seen] == [
        ("/portForward/default/web", []),
        ("/portForward/default/web", [("port", "80,8080")])]


# -- refused before anything is dialled ----------------------------------------------------------

async def test_rbac_needs_create_for_the_upgrade_and_nothing_is_dialled(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web")
    status, body = await _handshake(session, cluster, EXEC, CAROL)  # no get
    assert status == 403 and body["message"] == (
        'pods "web" is forbidden: User "carol" cannot get resource "pods/exec" in API group "" '
        'in the namespace "default"')
    status, body = await _handshake(session, cluster, EXEC, BOB)  # get, no create
    assert status == 403 and body["reason"] == "Forbidden" and body["message"] == (
        'pods "web" is forbidden: User "bob" cannot create resource "pods/exec" in API group '
        '"" in the namespace "default"')
    status, body = await _handshake(session, cluster, EXEC, BOB, "POST", "SPDY/3.1")
    assert status == 403 and "cannot create resource" in body["message"]
    status, body = await _handshake(session, cluster, EXEC, ADMIN, extra={
        "Impersonate-User": "bob"})  # kubectl exec --as bob: bob's rights, not the admin's
    assert status == 403 and 'User "bob" cannot create resource' in body["message"]
    assert kubelet.seen == []


@pytest.mark.parametrize(("user", "verb", "allowed"), [
    (ALICE, "create", True), (BOB, "create", False), (BOB, "get", True), (CAROL, "get", False)])
async def test_access_reviews_answer_for_pods_exec(
        cluster: Cluster, grants: None, user: str, verb: str, allowed: bool) -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": "default", "verb": verb,
                                              "resource": "pods", "subresource": "exec"}}}
    status, body = await _call(cluster, "POST",
                               "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                               review, token=user)
    assert status == 201 and body["status"]["allowed"] is allowed, body


@pytest.mark.parametrize(("path", "code", "message"), [
    (f"{PODS}/web/exec?command=ls", 400, podstream.NO_STREAMS),
    (f"{PODS}/web/attach?stdin=false&stdout=0", 400, podstream.NO_STREAMS),
    (f"{PODS}/two/exec?command=ls&stdout=true", 400,
     "a container name must be specified for pod two, choose one of: [a b]"),
    (f"{PODS}/web/exec?command=ls&stdout=true&container=nope", 400,
     "container nope is not valid for pod web"),
    (f"{PODS}/pending/exec?command=ls&stdout=true", 400,
     "pod pending does not have a host assigned"),
    (f"{PODS}/pending/portforward", 400, "pod pending does not have a host assigned"),
    (f"{PODS}/web/portforward?ports=80,http", 400,
     'cannot convert to []int32: strconv.ParseUint: parsing "http": invalid syntax'),
    (f"{PODS}/web/portforward?ports=70000", 400,
     'cannot convert to []int32: strconv.ParseUint: parsing "70000": value out of range'),
    (f"{PODS}/nosuch/exec?command=ls&stdout=true", 404, 'pods "nosuch" not found'),
])
async def test_bad_requests_are_kubes_statuses(
        cluster: Cluster, grants: None, kubelet: Kubelet, session: aiohttp.ClientSession,
        path: str, code: int, message: str) -> None:
    await _pod(cluster, "web")
    await _pod(cluster, "two", ("a", "b"))
    await _pod(cluster, "pending", node=None)
    status, body = await _handshake(session, cluster, path, ALICE)
    assert (status, body["code"], body["message"]) == (code, code, message), body
    assert kubelet.seen == []


async def test_not_an_upgrade_and_other_methods(
        cluster: Cluster, grants: None, kubelet: Kubelet) -> None:
    await _pod(cluster, "web")
    status, body = await _call(cluster, "GET", EXEC, token=ALICE)
    assert (status, body["message"]) == (400, podstream.UPGRADE_REQUIRED)
    status, body = await _call(cluster, "PUT", EXEC, {}, token=ADMIN)
    assert status == 405, body
    assert kubelet.seen == []


# -- the kubelet's answers -------------------------------------------------------------------------

async def test_a_kubelet_refusal_is_relayed_with_its_code_and_the_spdy_fallback_repeats_it(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "ghost")
    path = f"{PODS}/ghost/exec?command=ls&stdout=true"
    status, body = await _handshake(session, cluster, path, ALICE)
    assert (status, body["reason"], body["message"]) == (
        404, "NotFound", 'pod "ghost" not found on this node')
    status, body = await _handshake(session, cluster, path, ALICE, "POST", "SPDY/3.1")
    assert (status, body["message"]) == (404, 'pod "ghost" not found on this node')
    status, body = await _handshake(session, cluster, path, ALICE, "POST", "SPDY/3.1")
    assert (status, body["message"]) == (400, podstream.NO_SPDY.format(sub="exec"))
    assert [s.path for s in kubelet.seen] == ["/exec/default/ghost/c"]  # POSTs dial nothing


async def test_an_unreachable_kubelet_is_a_503(
        cluster: Cluster, grants: None, session: aiohttp.ClientSession) -> None:
    server = await asyncio.start_server(lambda r, w: None, NODE_IP, 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    await _point_node_at(cluster, port)
    await _pod(cluster, "web")
    status, body = await _handshake(session, cluster, EXEC, ALICE)
    assert status == 503 and body["message"].startswith(
        f'cannot reach the kubelet of node "n1" at https://{NODE_IP}:{port}'), body
    assert "Traceback" not in "".join(cluster.api.log)


async def test_a_stopping_apiserver_closes_both_sides_with_going_away(
        cluster: Cluster, kubelet: Kubelet, tmp_path: Path) -> None:
    """Its own apiserver (plain HTTP, AlwaysAllow), stopped while a relay is open."""
    flags = ["--compaction-interval", "0",
             "--kubelet-client-certificate", str(cluster.certs / "kubelet-client.crt"),
             "--kubelet-client-key", str(cluster.certs / "kubelet-client.key"),
             "--kubelet-certificate-authority", str(cluster.certs / "ca.crt")]
    with start_apiserver(tmp_path / "data", extra_args=flags) as api:
        async with aiohttp.ClientSession() as plain:
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                    "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}],
                               "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}
            for path, obj in (("/api/v1/nodes", node), (PODS, {
                    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}})):
                async with plain.post(api.url + path, json=obj) as resp:
                    assert resp.status == 201, await resp.text()
            async with plain.get(f"{api.url}/api/v1/nodes/n1") as resp:
                stored = await resp.json()
            stored["status"] = node["status"]
            async with plain.put(f"{api.url}/api/v1/nodes/n1/status", json=stored) as resp:
                assert resp.status == 200, await resp.text()
            async with plain.ws_connect(api.url.replace("http://", "ws://") + EXEC,
                                        protocols=(V5,)) as ws:
                await ws.send_bytes(b"\x00ping")
                assert (await ws.receive_bytes(timeout=WAIT)) == b"\x01\x00ping"
                stopping = asyncio.get_running_loop().run_in_executor(None, api.stop)
                msg = await ws.receive(timeout=WAIT)
                assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
                assert await asyncio.wait_for(stopping, WAIT) == 0
    await asyncio.wait_for(kubelet.done.wait(), WAIT)
    assert kubelet.seen[0].closed_with == 1001
    assert "Traceback" not in "".join(api.log)


# -- kubectl's plain SPDY fallback for port-forward: a byte relay --------------------------------

@dataclass
class SpdyKubelet:
    """A kubelet's POST /portForward upgrade, by hand: 101, then every byte echoed back."""

    port: int = 0
    heads: list[str] = field(default_factory=list)
    echoed: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # pod "slow" waits for it

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.heads.append(head)
            if "/ghost" in head.split("\r\n")[0]:
                body = b'pod does not exist'
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
                return
            if "/slow" in head.split("\r\n")[0]:  # answers once released
                await asyncio.wait_for(self.release.wait(), WAIT)
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io"
                         b"\r\n\r\n")
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
                self.echoed += len(chunk)
        finally:
            self.ended.set()
            writer.close()


@pytest.fixture
async def spdy_kubelet(cluster: Cluster) -> AsyncIterator[SpdyKubelet]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cluster.certs / "kubelet.crt", cluster.certs / "kubelet.key")
    standin = SpdyKubelet()
    server = await asyncio.start_server(standin.serve, NODE_IP, 0, ssl=context)
    standin.port = int(server.sockets[0].getsockname()[1])
    await _point_node_at(cluster, standin.port)
    try:
        yield standin
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.1)


SPDY_HEADERS = ("Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: "
                "portforward.k8s.io\r\nContent-Length: 0\r\n")


async def _send(cluster: Cluster, request_line: str, token: str, headers: str
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An upgrade request by hand over TLS; the answer is left to the caller."""
    context = ssl.create_default_context(cafile=str(cluster.certs / "ca.crt"))
    reader, writer = await asyncio.open_connection("127.0.0.1", cluster.api.port, ssl=context)
    writer.write((f"{request_line}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
                  f"\r\n{headers}\r\n").encode())
    return reader, writer


async def _spdy_post(cluster: Cluster, path: str, token: str
                     ) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await _send(cluster, f"POST {path} HTTP/1.1", token, SPDY_HEADERS)
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)).decode("latin-1")
    return head, reader, writer


async def test_a_plain_spdy_port_forward_is_relayed_as_bytes(
        cluster: Cluster, grants: None, spdy_kubelet: SpdyKubelet) -> None:
    await _pod(cluster, "web")
    head, reader, writer = await _spdy_post(cluster, f"{PODS}/web/portforward", ALICE)
    try:
        assert head.startswith("HTTP/1.1 101 "), head
        assert "X-Stream-Protocol-Version: portforward.k8s.io" in head
        writer.write(b"\x80\x03\x00\x06")  # bytes, whatever they are
        assert await asyncio.wait_for(reader.readexactly(4), WAIT) == b"\x80\x03\x00\x06"
        big = bytes(range(256)) * 8192  # 2 MiB: more than any socket buffer holds
        writer.write(big)
        assert await asyncio.wait_for(reader.readexactly(len(big)), WAIT) == big
    finally:
        writer.close()
    await asyncio.wait_for(spdy_kubelet.ended.wait(), WAIT)  # the client's close reached it
    request_line, *headers = spdy_kubelet.heads[0].split("\r\n")
    assert request_line == "POST /portForward/default/web HTTP/1.1"
    assert "X-Stream-Protocol-Version: portforward.k8s.io" in headers
    assert not any(h.lower().startswith("authorization") for h in headers)


async def test_a_plain_spdy_refusal_and_exec_over_spdy(
        cluster: Cluster, grants: None, spdy_kubelet: SpdyKubelet) -> None:
    await _pod(cluster, "ghost")
    for path, code, message in (
            (f"{PODS}/ghost/portforward", 404, "pod does not exist"),  # the kubelet's words
            (f"{PODS}/ghost/exec?command=ls&stdout=1", 400,  # exec: WebSocket only
             podstream.NO_SPDY.format(sub="exec"))):
        head, reader, writer = await _spdy_post(cluster, path, ALICE)
        try:
            length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
            status = json.loads(await asyncio.wait_for(reader.readexactly(length), WAIT))
        finally:
            writer.close()
        assert head.startswith(f"HTTP/1.1 {code} "), head
        assert (status["code"], status["message"]) == (code, message)
    assert len(spdy_kubelet.heads) == 1


async def test_kubes_edit_role_may_exec_and_view_may_not(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web")
    for user, role in (("carol", "view"), ("dave", "edit")):
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": f"{user}-{role}"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": role},
                   "subjects": [{"kind": "User", "name": user,
                                 "apiGroup": "rbac.authorization.k8s.io"}]}
        status, body = await _call(cluster, "POST", f"{RBAC}/rolebindings", binding)
        assert status in (201, 409), body
    status, body = await _handshake(session, cluster, EXEC, CAROL)
    assert status == 403 and 'cannot get resource "pods/exec"' in body["message"], body
    async with session.ws_connect(_ws(cluster, EXEC), protocols=(V5,),
                                  headers=_bearer(DAVE)) as ws:
        assert ws.protocol == V5
    assert [s.path for s in kubelet.seen] == ["/exec/default/web/c"]


async def test_exec_is_counted_as_a_long_running_connect(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "web")
    async with session.ws_connect(_ws(cluster, EXEC), protocols=(V5,),
                                  headers=_bearer(ALICE)) as ws:
        status, text = await _call(cluster, "GET", "/metrics")
        assert status == 200
        assert ('apiserver_longrunning_requests{component="apiserver",group="",resource="pods",'
                'scope="resource",subresource="exec",verb="CONNECT",version="v1"} 1.0') in text
        await ws.close()
    await asyncio.wait_for(kubelet.done.wait(), WAIT)
    status, text = await _call(cluster, "GET", "/metrics")
    assert 'subresource="exec",verb="GET"' not in text  # no session in the latency histogram
    assert 'code="101",component="apiserver",dry_run="",group="",resource="pods",' \
        'scope="resource",subresource="exec",verb="CONNECT"' in text


# -- a client that hangs up mid-handshake is no error ------------------------------------------

async def _leave_while_the_kubelet_answers(cluster: Cluster, request_line: str, headers: str,
                                           asked: Any, release: asyncio.Event) -> None:
    """Send an upgrade for pod "slow", hang up once the kubelet has it, then let it answer."""
    _, writer = await _send(cluster, request_line, ALICE, headers)
    for _ in range(int(WAIT / 0.01)):  # bounded: until the kubelet has the request
        if asked():
            break
        await asyncio.sleep(0.01)
    assert asked(), "the kubelet was not asked"
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()
    release.set()


def _errors_in(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("E", "W")) or "Traceback" in line]


async def test_a_client_that_leaves_mid_websocket_handshake_is_no_error(
        cluster: Cluster, grants: None, kubelet: Kubelet,
        session: aiohttp.ClientSession) -> None:
    await _pod(cluster, "slow")
    await _pod(cluster, "web")
    before = len(cluster.api.log)
    ws_headers = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {V5}"
                  "\r\n")
    await _leave_while_the_kubelet_answers(
        cluster, f"GET {EXEC.replace('/web/', '/slow/')} HTTP/1.1", ws_headers,
        lambda: kubelet.seen, kubelet.release)
    await asyncio.wait_for(kubelet.done.wait(), WAIT)  # the apiserver closed its side too
    async with session.ws_connect(_ws(cluster, EXEC), protocols=(V5,),
                                  headers=_bearer(ALICE)) as ws:  # and serves on
        await ws.send_bytes(b"\x00hello")
        assert (await ws.receive_bytes(timeout=WAIT)) == b"\x01\x00hello"
    assert not _errors_in(cluster.api.log[before:]), cluster.api.log[before:]


async def test_a_client_that_leaves_mid_spdy_handshake_is_no_error(
        cluster: Cluster, grants: None, spdy_kubelet: SpdyKubelet) -> None:
    await _pod(cluster, "slow")
    await _pod(cluster, "web")
    before = len(cluster.api.log)
    await _leave_while_the_kubelet_answers(
        cluster, f"POST {PODS}/slow/portforward HTTP/1.1", SPDY_HEADERS,
        lambda: spdy_kubelet.heads, spdy_kubelet.release)
    await asyncio.wait_for(spdy_kubelet.ended.wait(), WAIT)  # the apiserver hung up on it
    head, reader, writer = await _spdy_post(cluster, f"{PODS}/web/portforward", ALICE)
    try:
        assert head.startswith("HTTP/1.1 101 "), head
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), WAIT) == b"ping"
    finally:
        writer.close()
    assert not _errors_in(cluster.api.log[before:]), cluster.api.log[before:]
