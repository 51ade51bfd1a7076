"""Client against a real (fake) aiohttp apiserver on loopback: URLs, bodies, errors, watch."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from servers.apimachinery import errors
from servers.client.errors import ApiUnavailable, BadResponse, ClientError
from servers.client.kubeconfig import Config
from servers.client.resources import NODES, PODS
from servers.client.rest import Client
from tests.support.ports import free_port
from tests.unit.client.fakeapi import FakeApi, pod
from tests.unit.client.pki import Pki, make_pki

pytestmark = pytest.mark.timeout(20)


async def test_create_get_and_typed_body(api: FakeApi, client: Client) -> None:
    created = await client.create(PODS, {"metadata": {"name": "web"}}, "default")
    assert created["metadata"]["resourceVersion"] == "101"
    sent = api.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/namespaces/default/pods")
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": "web"}}
    assert await client.get(PODS, "web", "default") == created


async def test_namespace_comes_from_the_object_when_not_given(api: FakeApi,
                                                            client: Client) -> None:
    await client.create(PODS, pod("a", "team"))
    assert api.requests[-1].path == "/api/v1/namespaces/team/pods"
    with pytest.raises(ValueError, match="namespaced"):
        await client.create(PODS, {"metadata": {"name": "b"}})


async def test_requests_carry_accept_user_agent_and_token(api: FakeApi) -> None:
    async with Client(Config.for_server(api.url, token="tok")) as client:
        await client.list(NODES)
    headers = api.requests[-1].headers
    assert headers["Authorization"] == "Bearer tok"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("km-client/")


async def test_list_parameters_are_kubernetes_spelled(api: FakeApi, client: Client) -> None:
    await client.list(PODS, label_selector="app=web,tier!=db", field_selector="spec.nodeName=",
                      limit=2, continue_="0", resource_version="0")
    sent = api.requests[-1]
    assert sent.path == "/api/v1/pods"
    assert sent.query == {"labelSelector": "app=web,tier!=db", "fieldSelector": "spec.nodeName=",
                          "limit": "2", "continue": "0", "resourceVersion": "0"}


async def test_list_all_follows_continue_tokens_from_one_snapshot(api: FakeApi,
                                                                 client: Client) -> None:
    for i in range(5):
        api.put("pods", pod(f"p{i}"))
    listing = await client.list_all(PODS, "default", page_size=2)
    assert [item["metadata"]["name"] for item in listing["items"]] == [f"p{i}" for i in range(5)]
    assert listing["metadata"] == {"resourceVersion": "105"}
    assert [r.query.get("continue") for r in api.requests] == [None, "2", "4"]


async def test_list_all_reads_again_whole_when_the_token_expires(api: FakeApi,
                                                                client: Client) -> None:
    for i in range(3):
        api.put("pods", pod(f"p{i}"))
    status = errors.Gone(errors.CONTINUE_EXPIRED).to_status()
    api.canned[("GET", "/api/v1/namespaces/default/pods")] = (410, json.dumps(status).encode(),
                                                              "application/json")
    with pytest.raises(errors.Gone):  # the first page itself is refused: nothing to fall back to
        await client.list_all(PODS, "default", page_size=2)
    del api.canned[("GET", "/api/v1/namespaces/default/pods")]
    api.objects["pods"].pop("default/p2")  # the token "2" now points past the end: expired
    listing = await client.list_all(PODS, "default", page_size=1)
    assert len(listing["items"]) == 2


async def test_update_with_stale_resource_version_is_conflict(api: FakeApi,
                                                             client: Client) -> None:
    created = await client.create(PODS, pod("web"))
    updated = await client.update(PODS, {**created, "spec": {"x": 1}})
    assert api.requests[-1].method == "PUT"
    assert api.requests[-1].path == "/api/v1/namespaces/default/pods/web"
    with pytest.raises(errors.Conflict) as caught:
        await client.update(PODS, created)
    assert caught.value.code == 409 and caught.value.name == "web"
    status = await client.update(PODS, updated, "status")
    assert api.requests[-1].path == "/api/v1/namespaces/default/pods/web/status"
    assert status["metadata"]["name"] == "web"


@pytest.mark.parametrize(("patch_type", "content_type"), [
    ("merge", "application/merge-patch+json"),
    ("json", "application/json-patch+json"),
    ("strategic", "application/strategic-merge-patch+json"),
    ("apply", "application/apply-patch+yaml"),
])
async def test_patch_content_types(api: FakeApi, client: Client, patch_type: str,
                                   content_type: str) -> None:
    api.put("pods", pod("web"))
    await client.patch(PODS, "web", {"metadata": {"labels": {"a": "b"}}}, patch_type=patch_type,
                       namespace="default", field_manager="km-test", force=True)
    sent = api.requests[-1]
    assert (sent.method, sent.path) == ("PATCH", "/api/v1/namespaces/default/pods/web")
    assert sent.headers["Content-Type"] == content_type
    assert sent.query == {"fieldManager": "km-test", "force": "true"}


async def test_patch_arguments_are_checked(client: Client) -> None:
    with pytest.raises(ValueError, match="unknown patch type 'yaml'"):
        await client.patch(PODS, "web", {}, patch_type="yaml", namespace="default")
    with pytest.raises(ValueError, match="needs a field_manager"):
        await client.patch(PODS, "web", {}, patch_type="apply", namespace="default")


async def test_delete_sends_delete_options(api: FakeApi, client: Client) -> None:
    api.put("pods", pod("web"))
    api.put("pods", pod("db"))
    gone = await client.delete(PODS, "web", "default", grace_period_seconds=0,
                               resource_version="101", propagation_policy="Background")
    assert gone["metadata"]["name"] == "web"
    assert json.loads(api.requests[-1].body) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
        "preconditions": {"resourceVersion": "101"}, "propagationPolicy": "Background"}
    await client.delete(PODS, "db", "default")
    assert api.requests[-1].body == b""
    with pytest.raises(errors.NotFound, match='pods "web" not found'):
        await client.delete(PODS, "web", "default")


async def test_binding_is_posted_to_the_pod_subresource(api: FakeApi, client: Client) -> None:
    binding = {"kind": "Binding", "apiVersion": "v1", "metadata": {"name": "web"},
               "target": {"kind": "Node", "name": "n1"}}
    await client.create(PODS, binding, "default", subresource="binding")
    sent = api.requests[-1]
    assert sent.path == "/api/v1/namespaces/default/pods/web/binding"
    assert json.loads(sent.body) == binding


async def test_logs_are_text(api: FakeApi, client: Client) -> None:
    text = await client.logs("web", "default", container="c", tail_lines=2)
    assert text == "line 1\nline 2\n"
    assert api.requests[-1].query == {"container": "c", "tailLines": "2"}


async def test_cluster_scoped_resources_have_no_namespace(api: FakeApi, client: Client) -> None:
    await client.create(NODES, {"metadata": {"name": "n1"}})
    assert api.requests[-1].path == "/api/v1/nodes"
    assert (await client.get(NODES, "n1"))["kind"] == "Node"
    with pytest.raises(ValueError, match="cluster-scoped"):
        await client.get(NODES, "n1", "default")


@pytest.mark.parametrize(("code", "body", "cls"), [
    (500, b"oops", errors.InternalError),
    (403, json.dumps(errors.Forbidden("pods", "web", "no").to_status()).encode(),
     errors.Forbidden),
    (422, json.dumps(errors.Invalid("Pod", "web", []).to_status()).encode(), errors.Invalid),
])
async def test_error_answers_raise_status_errors(api: FakeApi, client: Client, code: int,
                                                 body: bytes, cls: type[Exception]) -> None:
    api.canned[("GET", "/api/v1/namespaces/default/pods/web")] = (code, body, "application/json")
    with pytest.raises(cls):
        await client.get(PODS, "web", "default")


async def test_a_2xx_body_that_is_not_json_is_bad_response(api: FakeApi, client: Client) -> None:
    api.canned[("GET", "/api/v1/nodes/n1")] = (200, b"<html>", "text/html")
    with pytest.raises(BadResponse):
        await client.get(NODES, "n1")


async def test_unreachable_apiserver_is_api_unavailable() -> None:
    async with Client(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ApiUnavailable, match="GET /api/v1/nodes: apiserver unavailable"):
            await client.list(NODES)
        with pytest.raises(ApiUnavailable):
            await anext(aiter(client.watch(NODES)))


async def test_a_silent_apiserver_times_out_as_api_unavailable() -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    app = web.Application()
    app.router.add_get("/api/v1/nodes", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with Client(f"http://127.0.0.1:{runner.addresses[0][1]}",
                          request_timeout=0.3) as client:
            with pytest.raises(ApiUnavailable):
                await client.list(NODES)
    finally:
        await runner.cleanup()


async def test_a_closed_client_refuses_requests(api: FakeApi) -> None:
    client = Client(api.url)
    with pytest.raises(ClientError, match="not open"):
        await client.list(NODES)
    async with client:
        pass
    with pytest.raises(ClientError, match="not open"):
        await client.list(NODES)


# -- watch ------------------------------------------------------------------------------------


async def collect(client: Client, count: int, **kwargs: object) -> list[tuple[str, str]]:
    got = []
    async with client.watch(PODS, "default", **kwargs) as watch:  # type: ignore[arg-type]
        async for kind, obj in watch:
            got.append((kind, obj["metadata"].get("name", obj["metadata"]["resourceVersion"])))
            if len(got) == count:
                break
    return got


async def test_watch_from_a_resource_version_sees_later_changes(api: FakeApi,
                                                               client: Client) -> None:
    api.put("pods", pod("old"))
    since = str(api.revision)
    api.put("pods", pod("a"))
    api.put("pods", {**pod("a"), "spec": {}})
    api.bookmark("pods")
    api.remove("pods", "a", "default")
    got = await collect(client, 4, resource_version=since, timeout_seconds=5)
    assert got == [("ADDED", "a"), ("MODIFIED", "a"), ("BOOKMARK", "104"), ("DELETED", "a")]
    query = api.requests[-1].query
    assert query == {"watch": "true", "resourceVersion": since, "timeoutSeconds": "5",
                     "allowWatchBookmarks": "true"}


async def test_watch_without_resource_version_starts_with_current_objects(
        api: FakeApi, client: Client) -> None:
    api.put("pods", pod("a"))

    async def later() -> None:
        await asyncio.sleep(0.1)
        api.put("pods", pod("b"))

    task = asyncio.ensure_future(later())
    assert await collect(client, 2) == [("ADDED", "a"), ("ADDED", "b")]
    await task


async def test_watch_error_410_raises_gone(api: FakeApi, client: Client) -> None:
    api.put("pods", pod("a"))
    api.compact()
    with pytest.raises(errors.Gone, match="too old"):
        await collect(client, 1, resource_version="50")


async def test_watch_refused_up_front_raises_its_status(api: FakeApi, client: Client) -> None:
    body = json.dumps(errors.BadRequest("bad selector").to_status()).encode()
    api.canned[("GET", "/api/v1/namespaces/default/pods")] = (400, body, "application/json")
    with pytest.raises(errors.BadRequest, match="bad selector"):
        await collect(client, 1)


async def test_a_stream_the_server_closes_ends_the_iteration(api: FakeApi,
                                                            client: Client) -> None:
    api.put("pods", pod("a"))
    got = [kind async for kind, _ in client.watch(PODS, "default", timeout_seconds=0)]
    assert got == ["ADDED"]


async def test_a_garbled_stream_is_bad_response(api: FakeApi, client: Client) -> None:
    api.canned[("GET", "/api/v1/namespaces/default/pods")] = (200, b'{"type":"ADDED"}\n',
                                                              "application/json")
    with pytest.raises(BadResponse):
        await collect(client, 1)


async def test_stopping_the_server_ends_open_watches(api: FakeApi, client: Client) -> None:
    watch = client.watch(PODS, "default", resource_version=str(api.revision))
    api.put("pods", pod("a"))
    assert (await asyncio.wait_for(anext(watch), 5))[0] == "ADDED"  # the stream is open
    second = asyncio.ensure_future(anext(watch))
    await api.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(second, 5)


async def test_closing_the_client_closes_open_watches(api: FakeApi) -> None:
    client = Client(api.url)
    async with client:
        watch = client.watch(PODS, "default")
        api.put("pods", pod("a"))
        assert (await anext(watch))[0] == "ADDED"
    assert [event async for event in watch] == []


async def test_closing_the_client_mid_read_ends_the_watch(api: FakeApi) -> None:
    async with Client(api.url) as client:
        watch = client.watch(PODS, "default", resource_version=str(api.revision))
        api.put("pods", pod("a"))
        assert (await asyncio.wait_for(anext(watch), 5))[0] == "ADDED"  # the stream is open
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0)  # the read has begun
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 5)


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_api(pki: Pki) -> AsyncIterator[str]:
    """A TLS endpoint that demands a client certificate signed by the test CA."""
    async def whoami(request: web.Request) -> web.Response:
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport else None
        subject = dict(pair[0] for pair in cert["subject"]) if cert else {}
        return web.json_response({"kind": "NodeList", "items": [], "metadata": subject})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.verify_mode = ssl.CERT_REQUIRED
    app = web.Application()
    app.router.add_get("/api/v1/nodes", whoami)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_client_certificate_data_authenticates_over_tls(tls_api: str, pki: Pki) -> None:
    config = Config(tls_api, ca_data=pki.ca.read_text(), cert_data=pki.client_cert.read_bytes(),
                    key_data=pki.client_key.read_bytes())
    async with Client(config) as client:
        listing = await client.list(NODES)
    assert listing["metadata"]["commonName"] == "admin"


async def test_an_unknown_server_certificate_is_api_unavailable(tls_api: str, pki: Pki,
                                                                tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    config = Config(tls_api, ca_file=str(other.ca), cert_file=str(pki.client_cert),
                    key_file=str(pki.client_key))
    async with Client(config) as client:
        with pytest.raises(ApiUnavailable, match="apiserver unavailable"):
            await client.list(NODES)
