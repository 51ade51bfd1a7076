"""The scheduler's lean HTTP/1.1 transport: the response parser on cut-up bytes, and the
pool and ``LeanClient`` against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from servers.apimachinery.errors import Conflict, NotFound
from servers.client.errors import ApiUnavailable
from servers.client.kubeconfig import Config
from servers.client.resources import PODS
from servers.scheduler.transport import LeanClient, _ProtocolError, _Response

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _feed_bytewise(raw: bytes) -> tuple[_Response, list[bool]]:
    response = _Response()
    return response, [response.feed(raw[i:i + 1]) for i in range(len(raw))]


def test_content_length_response_completes_on_its_last_byte() -> None:
    raw = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"
    response, done = _feed_bytewise(raw)
    assert done == [False] * (len(raw) - 1) + [True]
    assert (response.status, bytes(response.body), response.keep_alive) == (201, b"hello", True)


def test_chunked_response_with_extensions_and_trailers() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n")
    response, done = _feed_bytewise(raw)
    assert done[-1] and not any(done[:-1])
    assert bytes(response.body) == b"abc0123456789"


def test_interim_response_is_skipped_and_connection_close_honoured() -> None:
    response = _Response()
    assert response.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
                         b"Connection: close\r\nContent-Length: 0\r\n\r\n")
    assert (response.status, response.keep_alive) == (404, False)


def test_body_until_eof_when_no_length() -> None:
    response = _Response()
    assert not response.feed(b"HTTP/1.0 200 OK\r\n\r\nsome")
    assert not response.feed(b" more")
    assert response.until_eof and not response.keep_alive
    assert bytes(response.body) == b"some more"


@pytest.mark.parametrize("raw", [
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ntoo long",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_malformed_responses_raise(raw: bytes) -> None:
    with pytest.raises(_ProtocolError):
        _Response().feed(raw)


# -- against a server ---------------------------------------------------------------------

@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []
    peers: set[object] = set()

    async def binding(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        name = request.match_info["name"]
        if name == "gone":
            return web.json_response({"kind": "Status", "status": "Failure", "code": 404,
                                      "reason": "NotFound", "message": "pods \"gone\" not found"},
                                     status=404)
        if name == "taken":
            return web.json_response({"kind": "Status", "status": "Failure", "code": 409,
                                      "reason": "Conflict", "message": "taken"}, status=409)
        return web.json_response({"kind": "Status", "status": "Success", "code": 201},
                                 status=201)

    async def chunked(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"kind": "PodList", ')
        await response.write(b'"items": []}')
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/{ns}/pods/{name}/binding", binding)
    app.router.add_get("/api/v1/pods", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen, bodies
    finally:
        await runner.cleanup()
    assert len(peers) <= 2  # the connection was reused


def _binding(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": "ns"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}


async def test_lean_client_sends_what_aiohttp_sent_and_reuses_connections(
        server: tuple[str, list[web.Request], list[bytes]]) -> None:
    url, seen, bodies = server
    config = Config.for_server(url, token="s3cret")
    async with LeanClient(config, user_agent="km-scheduler", connection_limit=2) as client:
        answers = await asyncio.gather(*(client.create(PODS, _binding(f"p{i}"), "ns",
                                                       subresource="binding")
                                         for i in range(10)))
        listed = await client.list(PODS, field_selector="status.phase!=Failed,a in (x, y)")
        with pytest.raises(NotFound, match='pods "gone" not found'):
            await client.create(PODS, _binding("gone"), "ns", subresource="binding")
        with pytest.raises(Conflict):
            await client.create(PODS, _binding("taken"), "ns", subresource="binding")
    assert all(a["status"] == "Success" for a in answers)
    assert listed == {"kind": "PodList", "items": []}
    first = seen[0]
    assert first.headers["User-Agent"] == "km-scheduler"
    assert first.headers["Accept"] == "application/json"
    assert first.headers["Authorization"] == "Bearer s3cret"
    assert first.headers["Content-Type"] == "application/json"
    assert b'"target":{"apiVersion":"v1","kind":"Node","name":"n1"}' in bodies[0]
    assert seen[10].query["fieldSelector"] == "status.phase!=Failed,a in (x, y)"


async def test_unreachable_apiserver_is_api_unavailable() -> None:
    async with LeanClient("http://127.0.0.1:9", user_agent="t") as client:
        with pytest.raises(ApiUnavailable, match=r"POST .*: apiserver unavailable"):
            await client.create(PODS, _binding("p"), "ns", subresource="binding")
