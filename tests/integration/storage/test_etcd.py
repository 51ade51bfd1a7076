"""What only the etcd backend promises: fail-over, credential-free errors, resumed watches."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

import pytest

from servers.apiserver.storage import etcd
from servers.apiserver.storage._etcd_wire import range_end, safe_endpoint
from servers.apiserver.storage.interface import Unavailable
from tests.support.etcd import EtcdNotFound, EtcdServer
from tests.support.ports import free_port

pytestmark = pytest.mark.etcd

WAIT = 10.0


async def test_unreachable_cluster_is_unavailable_without_credentials() -> None:
    port = free_port()
    with pytest.raises(Unavailable) as info:
        await etcd.open([f"http://admin:s3cret@127.0.0.1:{port}"])
    message = str(info.value)
    assert f"etcd at http://127.0.0.1:{port}: cannot connect" in message
    assert "s3cret" not in message
    assert "admin" not in message


async def test_requests_fail_over_to_the_next_endpoint(
    etcd_server: EtcdServer, prefix: str
) -> None:
    dead = f"127.0.0.1:{free_port()}"  # no scheme: http is assumed
    store = await etcd.open([dead, etcd_server.endpoint])
    try:
        rev = await store.create(prefix + "a", b"1")
        assert (await store.get(prefix + "a")).mod_revision == rev
    finally:
        await store.close()


async def test_broken_watch_stream_resumes_after_the_last_event(
    etcd_server: EtcdServer, prefix: str
) -> None:
    store = await etcd.open([etcd_server.endpoint])
    try:
        start = await store.current_revision()
        async with aclosing(store.watch(prefix, start)) as watch:
            first = await store.create(prefix + "a", b"1")
            assert (await asyncio.wait_for(anext(watch), WAIT)).kv.mod_revision == first
            for stream in list(store._streams):  # break the connection under the watch
                stream.close()
            later = [await store.create(prefix + k, b"1") for k in ("b", "c")]
            events = [await asyncio.wait_for(anext(watch), WAIT) for _ in later]
        assert [e.kv.mod_revision for e in events] == later
    finally:
        await store.close()


def test_missing_etcd_binary_is_an_error_with_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(EtcdNotFound, match="apt-get install -y etcd-server"):
        EtcdServer(binary=str(tmp_path / "etcd"))


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/registry/pods/", b"/registry/pods0"),
        ("", b"\0"),
        ("\u00ff", "\u00ff".encode()[:-1] + b"\xc0"),
    ],
)
def test_etcd_range_end(prefix: str, end: bytes) -> None:
    assert range_end(prefix) == end


def test_safe_endpoint_drops_credentials() -> None:
    assert safe_endpoint("https://user:pw@etcd.example:2379") == "https://etcd.example:2379"
    assert safe_endpoint("http://[::1]:2379") == "http://[::1]:2379"
