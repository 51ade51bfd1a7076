"""``--upstream`` parsing, resolv.conf, and forwarding to a test DNS server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from servers.dns.upstream import (
    Forwarder,
    parse_upstream,
    resolv_conf_servers,
    without_self,
)


@pytest.mark.parametrize(("text", "servers"), [
    ("none", []),
    ("NONE", []),
    ("127.0.0.2", [("127.0.0.2", 53)]),
    ("127.0.0.2:5353, 127.0.0.3", [("127.0.0.2", 5353), ("127.0.0.3", 53)]),
    ("[::1]:5353 ::1", [("::1", 5353), ("::1", 53)]),
])
def test_parse_upstream(text: str, servers: list[tuple[str, int]]) -> None:
    assert parse_upstream(text) == servers


@pytest.mark.parametrize("text", ["", "dns.example", "127.0.0.1:0", "127.0.0.1:x",
                                  "127.0.0.1:70000"])
def test_parse_upstream_rejects_in_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="--upstream") as info:
        parse_upstream(text)
    assert "\n" not in str(info.value)


def test_resolv_conf_nameservers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n"
                    "nameserver bogus\noptions ndots:5\n")
    assert resolv_conf_servers(str(conf)) == [("127.0.0.53", 53), ("fe80::1", 53)]
    assert resolv_conf_servers(str(tmp_path / "missing")) == []


class _Echo(asyncio.DatagramProtocol):
    """A test upstream: answers every query with NXDOMAIN, RA set."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = dns.message.make_response(dns.message.from_wire(data))
        reply.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(reply.to_wire(), addr)  # type: ignore[attr-defined]


async def test_forwarder_tries_the_next_upstream() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                    local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        dead = silent.get_extra_info("sockname")[1]
        forwarder = Forwarder([("127.0.0.1", dead), ("127.0.0.1", port)], timeout=0.3)
        query = dns.message.make_query("example.org", "A")
        reply = await forwarder.forward(query.to_wire(), tcp=False)
        assert reply is not None
        assert dns.message.from_wire(reply).rcode() == dns.rcode.NXDOMAIN
        assert await Forwarder([("127.0.0.1", dead)], timeout=0.2).forward(
            query.to_wire(), tcp=False) is None
    finally:
        transport.close()
        silent.close()



def test_this_server_itself_is_no_upstream() -> None:
    servers = [("127.0.0.1", 53), ("127.0.0.53", 53), ("127.0.0.2", 5353), ("10.0.0.10", 53)]
    assert without_self(servers, "0.0.0.0", 53) == [("127.0.0.2", 5353), ("10.0.0.10", 53)]
    assert without_self(servers, "127.0.0.2", 5353) == [
        ("127.0.0.1", 53), ("127.0.0.53", 53), ("10.0.0.10", 53)]
    assert without_self(servers, "127.0.0.1", 0) == servers
