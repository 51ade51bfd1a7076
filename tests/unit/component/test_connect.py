"""The apiserver connection from flags, and waiting for an apiserver that is not up yet."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from servers.client.errors import ConfigError
from servers.client.informer import Backoff
from servers.component.connect import (
    NO_CONNECTION,
    client_config,
    client_from_options,
    wait_for_apiserver,
)
from tests.support.ports import free_port

Answer = Callable[[], web.Response]
KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u, namespace: team}}]
clusters: [{name: k, cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: secret-token}}]
"""


def flags(**values: str | None) -> argparse.Namespace:
    return argparse.Namespace(kubeconfig=values.get("kubeconfig"), master=values.get("master"))


def test_neither_flag_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        client_config(flags())
    assert str(caught.value) == NO_CONNECTION


def test_master_alone_is_a_plain_loopback_config() -> None:
    config = client_config(flags(master="http://127.0.0.1:8080/"))
    assert config.server == "http://127.0.0.1:8080"
    assert config.token is None and not config.is_https


def test_master_overrides_the_kubeconfig_server_and_keeps_its_user(tmp_path: Path) -> None:
    path = tmp_path / "k.kubeconfig"
    path.write_text(KUBECONFIG)
    config = client_config(flags(kubeconfig=str(path), master="https://127.0.0.1:6443"))
    assert config.server == "https://127.0.0.1:6443"
    assert config.token == "secret-token" and config.insecure
    assert config.namespace == "team"


def test_kubeconfig_alone_gives_its_server(tmp_path: Path) -> None:
    path = tmp_path / "k.kubeconfig"
    path.write_text(KUBECONFIG)
    assert client_config(flags(kubeconfig=str(path))).server == "https://10.0.0.1:6443"


def test_unreadable_kubeconfig_is_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.kubeconfig"
    with pytest.raises(ConfigError) as caught:
        client_config(flags(kubeconfig=str(missing)))
    text = str(caught.value)
    assert "\n" not in text and str(missing) in text and "No such file" in text


def test_bad_master_url_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--master: .*not an http"):
        client_config(flags(master="127.0.0.1:8080"))


async def test_client_from_options_is_not_open_yet() -> None:
    client = client_from_options(flags(master="http://127.0.0.1:1"), user_agent="kube-x/1")
    assert client.user_agent == "kube-x/1"
    assert client.config.server == "http://127.0.0.1:1"
    await client.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[int, Answer], asyncio.Future[None]]]:
    runners: list[web.AppRunner] = []

    async def start(port: int, answer: Answer) -> None:
        async def version(request: web.Request) -> web.Response:
            return answer()

        app = web.Application()
        app.router.add_get("/version", version)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", port).start()

    def later(port: int, answer: Answer) -> asyncio.Future[None]:
        return asyncio.ensure_future(start(port, answer))

    yield later
    for runner in runners:
        await runner.cleanup()


async def test_wait_for_apiserver_waits_until_it_answers(
        serve: Callable[[int, Answer], asyncio.Future[None]],
        caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, "servers.component.connect")
    async with client_from_options(flags(master=f"http://127.0.0.1:{port}")) as client:
        waiter = asyncio.ensure_future(wait_for_apiserver(
            client, stop, backoff=Backoff(initial=0.02, cap=0.05)))
        await asyncio.sleep(0.3)
        assert not waiter.done()
        await serve(port, lambda: web.json_response({"major": "1", "minor": "32"}))
        assert await asyncio.wait_for(waiter, 5) is True
    waits = [r for r in caplog.records if "waiting for the apiserver" in r.getMessage()]
    assert len(waits) == 1


async def test_wait_for_apiserver_keeps_waiting_through_5xx_and_returns_false_on_stop(
        serve: Callable[[int, Answer], asyncio.Future[None]]) -> None:
    port = free_port()
    await serve(port, lambda: web.json_response({"kind": "Status", "code": 503}, status=503))
    stop = asyncio.Event()
    async with client_from_options(flags(master=f"http://127.0.0.1:{port}")) as client:
        waiter = asyncio.ensure_future(wait_for_apiserver(
            client, stop, backoff=Backoff(initial=0.02, cap=0.05)))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        stop.set()
        assert await asyncio.wait_for(waiter, 5) is False


async def test_a_request_that_hangs_does_not_hold_up_a_stop() -> None:
    hung = asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        hung.set()
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_get("/version", never)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    try:
        async with client_from_options(flags(master=f"http://127.0.0.1:{port}")) as client:
            waiter = asyncio.ensure_future(wait_for_apiserver(client, stop))
            await asyncio.wait_for(hung.wait(), 5)
            stop.set()
            assert await asyncio.wait_for(waiter, 2) is False
    finally:
        await runner.cleanup()


async def test_a_refusal_means_the_apiserver_is_there(
        serve: Callable[[int, Answer], asyncio.Future[None]]) -> None:
    port = free_port()
    await serve(port, lambda: web.json_response({"kind": "Status", "code": 401}, status=401))
    async with client_from_options(flags(master=f"http://127.0.0.1:{port}")) as client:
        assert await asyncio.wait_for(wait_for_apiserver(client, asyncio.Event()), 5) is True
