"""The kubelet's /portForward against both runtimes, with a real pod process serving TCP.

The kubelet API app (TLS, client-certificate authentication, the /portForward route) serves
on 127.0.0.1:0 in the test's private network namespace over a real runtime holding one pod
whose process echoes TCP on port 7000. Clients speak to the kubelet directly: km's own SPDY
session tunnelled in a WebSocket (``SPDY/3.1+portforward.k8s.io``, kubectl's wire) and the
channel WebSocket with ``?ports=`` (the Python client's wire), byte for byte as node-notes §5.3
describes them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import struct
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from servers.kubelet.options import DEFAULT_STREAM_IDLE_TIMEOUT
from servers.kubelet.portforward import httpstream
from servers.kubelet.portforward.connection import TUNNEL_PROTOCOL
from servers.kubelet.runtime.base import MonitoredRuntime
from servers.kubelet.runtime.interface import ContainerConfig
from servers.kubelet.workers import Kubelet, PodWorker
from servers.streaming import spdy
from servers.streaming.spdy.frames import REFUSED_STREAM
from tests.integration.kubelet.kubeletapi import serve
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, wait_log

WAIT = 10.0
ECHO, GREET, CLOSED = 7000, 7001, 7999  # GREET: says "hi", logs "closed" at the EOF
# The pod: echo every connection on port 7000 as it reads, close on the client's EOF. It binds
# POD_IP when the runtime gives one (--isolation none: the pod's loopback address), else all.
SERVER = r"""
import os, socket, threading
def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
def greet(conn):
    with conn:
        conn.sendall(b"hi")
        while conn.recv(65536):
            pass
        print("closed", conn.getpeername()[1], flush=True)
def listen(port, handler):
    listener = socket.create_server((os.environ.get("POD_IP") or "0.0.0.0", port))
    def loop():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
listen(7000, serve)
listen(7001, greet)
print("ready", flush=True)
threading.Event().wait()
"""


# The pod's own /tmp hides a venv there (a checkout under /tmp): the interpreter it links to
# runs the stdlib-only SERVER as well.
POD_PYTHON = os.path.realpath(sys.executable)


@dataclass
class Node:
    url: str
    client: ssl.SSLContext
    sandbox_id: str
    log: str
    runner: web.AppRunner


@pytest.fixture
async def node(runtime: MonitoredRuntime, certs: Path, tmp_path: Path,
               request: pytest.FixtureRequest) -> AsyncIterator[Node]:
    """The kubelet API over ``runtime`` with pod default/p echoing on port 7000."""
    kubelet = Kubelet(None, runtime, None, node_name="n1",  # type: ignore[arg-type]
                      node_ip="127.0.0.1", root_dir=str(tmp_path), allocatable={})
    config = pod("p")
    sid = await runtime.run_pod_sandbox(config)
    log = str(tmp_path / "c.log")
    await run_container(runtime, sid, ContainerConfig(
        name="c", command=(POD_PYTHON, "-c", SERVER), log_path=log))
    await wait_log(log, "ready")
    meta = {"name": "p", "namespace": "default", "uid": config.uid}
    kubelet.workers[config.uid] = PodWorker(uid=config.uid, pod={"metadata": meta},
                                            sandbox_id=sid)
    idle = getattr(request, "param", DEFAULT_STREAM_IDLE_TIMEOUT)  # parametrize indirectly
    runner, url, client = await serve(kubelet, certs, tmp_path, stream_idle_timeout=idle)
    try:
        yield Node(url, client, sid, log, runner)
    finally:
        if runner.server is not None:  # a test may have shut it down already
            await runner.cleanup()


@dataclass
class Tunnel:
    session: spdy.Session
    next_request: int = 0

    async def connect(self, port: int) -> tuple[spdy.Stream, spdy.Stream]:
        """What kubectl does per local connection: an error stream (closed at once: nothing
        is written on it) and a data stream, sharing a requestID."""
        headers = [("streamtype", "error"), ("port", str(port)),
                   ("requestid", str(self.next_request))]
        self.next_request += 1
        error = await self.session.open_stream(tuple(headers))
        await error.close()
        headers[0] = ("streamtype", "data")
        data = await self.session.open_stream(tuple(headers))
        await asyncio.wait_for(asyncio.gather(error.wait_reply(), data.wait_reply()), WAIT)
        return error, data


async def _tunnel(node: Node) -> AsyncGenerator[Tunnel, None]:
    async with aiohttp.ClientSession() as http, http.ws_connect(
            node.url + "/portForward/default/p", protocols=(TUNNEL_PROTOCOL,),
            ssl=node.client) as ws:
        assert ws.protocol == TUNNEL_PROTOCOL
        session = spdy.Session(ws.send_bytes, server=False)

        async def pump() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await session.feed(msg.data)
            session.connection_lost()

        pumping = asyncio.ensure_future(pump())
        try:
            yield Tunnel(session)
        finally:
            await session.goaway()
            await ws.close()
            await asyncio.wait_for(pumping, WAIT)


@pytest.fixture
async def tunnel(node: Node) -> AsyncIterator[Tunnel]:
    async for joined in _tunnel(node):
        yield joined


async def test_spdy_tunnel_carries_a_connection_and_its_half_close(tunnel: Tunnel) -> None:
    error, data = await tunnel.connect(ECHO)
    await data.write(b"hello pod")
    await data.close()  # the pod echoes, sees EOF, closes: the echo then EOF comes back
    assert await asyncio.wait_for(data.read_all(), WAIT) == b"hello pod"
    assert await asyncio.wait_for(error.read_all(), WAIT) == b""


async def test_spdy_tunnel_bulk_both_ways(tunnel: Tunnel) -> None:
    payload = os.urandom(4 << 20)
    _, data = await tunnel.connect(ECHO)

    async def send() -> None:
        await data.write(payload)
        await data.close()

    sending = asyncio.ensure_future(send())
    assert await asyncio.wait_for(data.read_all(), 30) == payload
    await sending


async def test_spdy_tunnel_several_connections_at_once(tunnel: Tunnel) -> None:
    async def one(i: int) -> bytes:
        _, data = await tunnel.connect(ECHO)
        await data.write(f"connection {i}".encode() * 1000)
        await data.close()
        return await asyncio.wait_for(data.read_all(), WAIT)

    got = await asyncio.gather(*(one(i) for i in range(8)))
    assert got == [f"connection {i}".encode() * 1000 for i in range(8)]


async def test_a_closed_port_is_reported_on_the_error_stream(tunnel: Tunnel, node: Node
                                                             ) -> None:
    error, data = await tunnel.connect(CLOSED)
    message = (await asyncio.wait_for(error.read_all(), WAIT)).decode()
    assert message.startswith(f"error forwarding port {CLOSED} to pod {node.sandbox_id}, uid : ")
    assert message.endswith("connect: connection refused")
    assert f"failed to connect to localhost:{CLOSED} inside namespace {node.sandbox_id}" in (
        message)
    assert await asyncio.wait_for(data.read_all(), WAIT) == b""


async def test_streams_without_the_headers_kube_needs_are_refused(tunnel: Tunnel) -> None:
    for headers in ((("streamtype", "data"),), (("port", "80"),),
                    (("port", "80"), ("streamtype", "nope")), (("port", "0"),
                                                               ("streamtype", "data"))):
        stream = await tunnel.session.open_stream(headers)
        with pytest.raises(spdy.StreamClosed):
            await asyncio.wait_for(stream.wait_reply(), WAIT)
        assert stream.reset_status == REFUSED_STREAM


async def _channels(node: Node, query: str, protocol: str = "v4.channel.k8s.io"
                    ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as http, http.ws_connect(
            node.url + "/portForward/default/p?" + query, protocols=(protocol,),
            ssl=node.client) as ws:
        yield ws


async def _receive(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, bytes]:
    msg = await asyncio.wait_for(ws.receive(), WAIT)
    assert msg.type == aiohttp.WSMsgType.BINARY, msg
    return msg.data[0], msg.data[1:]


async def test_channel_websocket_as_the_python_client_speaks_it(node: Node) -> None:
    async for ws in _channels(node, f"ports={ECHO},{CLOSED}"):
        assert ws.protocol == "v4.channel.k8s.io"
        first = {await _receive(ws) for _ in range(4)}  # each channel opens with its port
        assert first == {(0, struct.pack("<H", ECHO)), (1, struct.pack("<H", ECHO)),
                         (2, struct.pack("<H", CLOSED)), (3, struct.pack("<H", CLOSED))}
        await ws.send_bytes(b"\x00" + b"through channel 0")
        got: dict[int, bytes] = {0: b"", 3: b""}
        while got[0] != b"through channel 0" or not got[3]:
            ch, data = await _receive(ws)
            got[ch] += data
        assert got[3].decode().startswith(f"error forwarding port {CLOSED} to pod ")
        assert got[3].decode().endswith("connect: connection refused")


async def test_channel_websocket_takes_kubes_port_parameter_over_ports(node: Node) -> None:
    async for ws in _channels(node, f"port={ECHO}&ports={ECHO}"):  # one port, not two
        assert {await _receive(ws) for _ in range(2)} == {(0, struct.pack("<H", ECHO)),
                                                           (1, struct.pack("<H", ECHO))}
        await ws.send_bytes(b"\x00ping")
        assert await _receive(ws) == (0, b"ping")


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/portForward/default/p", 400, 'query parameter "port" is required'),
    ("/portForward/default/p?ports=abc", 400,
     'unable to parse "abc" as a port: strconv.ParseUint: parsing "abc": invalid syntax'),
    ("/portForward/default/p?ports=0", 400, 'port "0" must be > 0'),
    ("/portForward/default/nope?ports=80", 404, "pod does not exist"),
    ("/portForward/default/p/not-its-uid?ports=80", 404, "pod not found"),
])
async def test_refusals_are_kubes_plain_text(node: Node, path: str, status: int, text: str
                                             ) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as failed:
            await http.ws_connect(node.url + path, protocols=("v4.channel.k8s.io",),
                                  ssl=node.client)
        assert failed.value.status == status
        async with http.get(node.url + path, ssl=node.client) as response:
            if status == 400 and "port" in text:  # not a WebSocket at all comes first
                assert response.status == 400
            else:
                assert (response.status, await response.text()) == (status, text)


async def test_anonymous_clients_are_refused(node: Node) -> None:
    anonymous = ssl.create_default_context()
    anonymous.check_hostname = False
    anonymous.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession() as http, http.get(
            node.url + "/portForward/default/p", ssl=anonymous) as response:
        assert (response.status, await response.text()) == (401, "Unauthorized")


async def _upgrade(node: Node) -> tuple[spdy.Session, asyncio.Future[None],
                                         asyncio.StreamWriter]:
    """kubectl's fallback: POST with Upgrade: SPDY/3.1, then SPDY on the raw connection."""
    host, port = node.url.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=node.client)
    writer.write(b"POST /portForward/default/p HTTP/1.1\r\nHost: kubelet\r\n"
                 b"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                 b"X-Stream-Protocol-Version: portforward.k8s.io\r\n"
                 b"Content-Length: 0\r\n\r\n")
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)).decode()
    assert head.startswith("HTTP/1.1 101 ")
    assert "X-Stream-Protocol-Version: portforward.k8s.io" in head

    async def send(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    session = spdy.Session(send, server=False)

    async def pump() -> None:
        while data := await reader.read(65536):
            await session.feed(data)
        session.connection_lost()

    return session, asyncio.ensure_future(pump()), writer


async def test_plain_spdy_upgrade_as_kubectls_fallback(node: Node) -> None:
    session, pumping, writer = await _upgrade(node)
    try:
        error, data = await Tunnel(session).connect(ECHO)
        payload = os.urandom(1 << 20)

        async def upload() -> None:  # while reading, as kubectl's two copies run
            await data.write(payload)
            await data.close()

        uploading = asyncio.ensure_future(upload())
        assert await asyncio.wait_for(data.read_all(), WAIT) == payload
        await uploading
        assert await asyncio.wait_for(error.read_all(), WAIT) == b""
    finally:
        writer.close()
        await asyncio.wait_for(pumping, WAIT)


async def test_plain_spdy_upgrade_refuses_other_protocols(node: Node) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            node.url + "/portForward/default/p", ssl=node.client,
            headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                     "X-Stream-Protocol-Version": "other.k8s.io"}) as response:
        assert response.status == 403
        assert (await response.text()).startswith("unable to upgrade: unable to negotiate")


async def test_a_client_that_vanishes_closes_the_pods_connection(node: Node) -> None:
    async for tunnel in _tunnel(node):
        _, data = await tunnel.connect(GREET)
        assert await asyncio.wait_for(data.read(), WAIT) == b"hi"
        # the WebSocket ends with the stream still open both ways (kubectl killed)
    await wait_log(node.log, "closed")


async def test_a_stream_reset_closes_the_pods_connection(tunnel: Tunnel, node: Node) -> None:
    _, data = await tunnel.connect(GREET)
    assert await asyncio.wait_for(data.read(), WAIT) == b"hi"
    await data.reset()
    await wait_log(node.log, "closed")


async def test_channel_websocket_in_base64(node: Node) -> None:
    async for ws in _channels(node, f"ports={ECHO}", protocol="v4.base64.channel.k8s.io"):
        assert ws.protocol == "v4.base64.channel.k8s.io"
        opened = {await asyncio.wait_for(ws.receive_str(), WAIT) for _ in range(2)}
        port = base64.b64encode(struct.pack("<H", ECHO)).decode()
        assert opened == {"0" + port, "1" + port}
        await ws.send_str("0" + base64.b64encode(b"in base64").decode())
        reply = await asyncio.wait_for(ws.receive_str(), WAIT)
        assert (reply[0], base64.b64decode(reply[1:])) == ("0", b"in base64")


async def test_a_pair_missing_its_data_stream_times_out_as_kube_says(
        tunnel: Tunnel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpstream, "STREAM_CREATION_TIMEOUT", 0.2)
    error = await tunnel.session.open_stream((("streamtype", "error"), ("port", str(ECHO)),
                                              ("requestid", "41")))
    await error.close()
    message = await asyncio.wait_for(error.read_all(), WAIT)
    assert message.endswith(b"request=41) timed out waiting for streams")


async def test_a_second_stream_of_one_type_is_an_error_on_the_pair(tunnel: Tunnel) -> None:
    headers = (("streamtype", "error"), ("port", str(ECHO)), ("requestid", "42"))
    error = await tunnel.session.open_stream(headers)
    again = await tunnel.session.open_stream(headers)
    await asyncio.wait_for(again.wait_reply(), WAIT)
    await error.close()
    data = await tunnel.session.open_stream((("streamtype", "data"), *headers[1:]))
    await data.close()
    message = await asyncio.wait_for(error.read_all(), WAIT)
    assert message.startswith(b"error processing stream for request 42: error stream already "
                              b"assigned")


@pytest.mark.parametrize("mode", ["tunnel", "channels", "upgrade"])
async def test_the_kubelet_shutting_down_ends_open_forwards(node: Node, mode: str) -> None:
    # aiohttp waits a minute for open handlers before cancelling them; the kubelet hangs up
    # its port-forward connections first, so they end, and the pod's side with them
    async with aiohttp.ClientSession() as http:
        if mode == "channels":
            ws = await http.ws_connect(node.url + f"/portForward/default/p?ports={GREET}",
                                       protocols=("v4.channel.k8s.io",), ssl=node.client)
            while await _receive(ws) != (0, b"hi"):
                pass
            await asyncio.wait_for(node.runner.cleanup(), WAIT)
            await wait_log(node.log, "closed")
            await ws.close()
            return
    if mode == "upgrade":
        session, pumping, writer = await _upgrade(node)
    else:
        tunnel = _tunnel(node)
        session = (await tunnel.__anext__()).session
    _, data = await Tunnel(session).connect(GREET)
    assert await asyncio.wait_for(data.read(), WAIT) == b"hi"
    await asyncio.wait_for(node.runner.cleanup(), WAIT)
    await wait_log(node.log, "closed")
    assert await asyncio.wait_for(data.read(), WAIT) == b""  # the session ended
    if mode == "upgrade":
        writer.close()
        await asyncio.wait_for(pumping, WAIT)
    else:
        with contextlib.suppress(StopAsyncIteration):
            await tunnel.__anext__()


# A short --streaming-connection-idle-timeout; the busy test's traffic comes every 0.3 s,
# so a loaded machine may delay a message 1.2 s before the stream is (wrongly) idle.
IDLE = 1.5
Write = Callable[[bytes], Awaitable[None]]
Read = Callable[[], Awaitable[bytes]]


async def _connection(node: Node, mode: str, port: int, stack: contextlib.AsyncExitStack
                      ) -> tuple[Write, Read]:
    """One forwarded connection to ``port`` over ``mode``: (write, read); read gives b"" once
    the kubelet has ended the connection."""
    if mode == "channels":
        http = await stack.enter_async_context(aiohttp.ClientSession())
        ws = await stack.enter_async_context(http.ws_connect(
            node.url + f"/portForward/default/p?ports={port}",
            protocols=("v4.channel.k8s.io",), ssl=node.client))
        for _ in range(2):  # each channel opens with its port
            await _receive(ws)

        async def write(data: bytes) -> None:
            await ws.send_bytes(b"\x00" + data)

        async def read() -> bytes:
            msg = await asyncio.wait_for(ws.receive(), WAIT)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                assert (msg.data, msg.extra) == (1001, "stream idle timeout")
                return b""
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data[0] == 0, msg
            return bytes(msg.data[1:])

        return write, read
    if mode == "upgrade":
        session, pumping, writer = await _upgrade(node)
        stack.callback(pumping.cancel)
        stack.callback(writer.close)
    else:
        tunnel = _tunnel(node)
        stack.push_async_callback(tunnel.aclose)
        session = (await tunnel.__anext__()).session
    _, data = await Tunnel(session).connect(port)
    return data.write, lambda: asyncio.wait_for(data.read(), WAIT)


@pytest.mark.parametrize("node", [IDLE], indirect=True)
@pytest.mark.parametrize("mode", ["tunnel", "channels", "upgrade"])
async def test_an_idle_forward_is_closed_with_the_pods_connection(node: Node, mode: str
                                                                  ) -> None:
    loop = asyncio.get_running_loop()
    # Every touch of the idle timer comes after ``before``, so its close cannot come sooner
    # than a timeout after it. (Timed from the greeting's arrival instead, a loaded loop's
    # late delivery of the greeting shortened the measured silence below the timeout.)
    before = loop.time()
    async with contextlib.AsyncExitStack() as stack:
        _, read = await _connection(node, mode, GREET, stack)
        assert await read() == b"hi"
        assert await read() == b""
        assert loop.time() - before >= IDLE * 0.9
        await wait_log(node.log, "closed")


@pytest.mark.parametrize("node", [IDLE], indirect=True)
@pytest.mark.parametrize("mode", ["tunnel", "channels", "upgrade"])
async def test_a_busy_forward_outlives_the_idle_timeout(node: Node, mode: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        write, read = await _connection(node, mode, ECHO, stack)
        for i in range(11):  # a message every 0.3 s for more than twice the timeout
            await write(b"ping %d" % i)
            assert await read() == b"ping %d" % i
            await asyncio.sleep(0.3)
