"""Names outside the cluster: where they go (``--upstream``) and the forwarding itself.

    servers = upstream_servers(opts.upstream)     # [] means refuse (``--upstream none``)
    forwarder = Forwarder(servers)
    reply = await forwarder.forward(query_bytes, tcp=False)   # None: no upstream answered

``--upstream`` is ``none``, a list of ``IP[:PORT]`` (``[IPv6]:PORT``), comma or space
separated, or unset: the ``nameserver`` lines of the host's /etc/resolv.conf, as CoreDNS's
``forward . /etc/resolv.conf`` in kubeadm's Corefile. Queries are passed on as they came (the
client's ID, flags and EDNS0 untouched) to each upstream in turn until one answers within
``timeout``; a UDP query goes over UDP (a truncated answer goes back as it is, so the
client asks again over TCP), a TCP query over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct

__all__ = ["RESOLV_CONF", "Forwarder", "parse_upstream", "resolv_conf_servers",
           "upstream_servers", "without_self"]

log = logging.getLogger(__name__)

RESOLV_CONF = "/etc/resolv.conf"
DNS_PORT = 53
TIMEOUT = 2.0  # per upstream and try; glibc's resolver waits 5 s, CoreDNS's forward ~2 s
Address = tuple[str, int]


def parse_upstream(text: str) -> list[Address]:
    """``none`` → ``[]``; ``IP[:PORT]`` list → addresses; ``ValueError`` (one line) else."""
    if text.strip().lower() == "none":
        return []
    servers = [_address(item) for item in text.replace(",", " ").split()]
    if not servers:
        msg = f'invalid --upstream "{text}": want none or IP[:PORT][,IP[:PORT]...]'
        raise ValueError(msg)
    return servers


def _address(item: str) -> Address:
    host, port = item, DNS_PORT
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), item)
    elif item.count(":") == 1:
        host, text = item.split(":")
        port = _port(text, item)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        msg = f'invalid --upstream server "{item}": not an IP address'
        raise ValueError(msg) from None


def _port(text: str, item: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        msg = f'invalid --upstream server "{item}": bad port "{text}"'
        raise ValueError(msg)
    return int(text)


def resolv_conf_servers(path: str = RESOLV_CONF) -> list[Address]:
    """The ``nameserver`` addresses of a resolv.conf (unreadable or none: ``[]``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        log.warning("cannot read %s: %s; names outside the cluster are refused", path, exc)
        return []
    servers = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            with contextlib.suppress(ValueError):
                servers.append((str(ipaddress.ip_address(words[1].split("%")[0])), DNS_PORT))
    return servers


def upstream_servers(flag: str | None) -> list[Address]:
    """What ``--upstream`` says: its servers, or resolv.conf's when it is unset."""
    return resolv_conf_servers() if flag is None else parse_upstream(flag)


def without_self(servers: list[Address], bind_address: str, port: int) -> list[Address]:
    """``servers`` less those that are this server itself (a forwarding loop).

    The host's resolv.conf may name the cluster DNS server itself (``nameserver 127.0.0.1``
    on the host that runs it, port 53): CoreDNS's ``loop`` plugin stops at that; km drops
    such entries at start. Only loopback and the bound address are recognised; another
    address of this host behind ``0.0.0.0`` is not.
    """
    kept = []
    for host, server_port in servers:
        ip = ipaddress.ip_address(host)
        wildcard = bind_address in ("0.0.0.0", "::")
        itself = server_port == port and (host == bind_address or (wildcard and ip.is_loopback))
        if itself:
            log.warning("upstream %s:%d is this server itself: not used", host, server_port)
        else:
            kept.append((host, server_port))
    return kept


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, query_id: bytes) -> None:
        self.query_id = query_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if data[:2] == self.query_id and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class Forwarder:
    """Pass queries to the upstream servers in order; the first answer wins."""

    def __init__(self, servers: list[Address], *, timeout: float = TIMEOUT) -> None:
        self.servers = servers
        self.timeout = timeout

    async def forward(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The first upstream's reply to ``data``, or ``None`` when none answered."""
        for server in self.servers:
            try:
                reply = await asyncio.wait_for(self._ask(server, data, tcp), self.timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                log.debug("upstream %s:%d: %s", server[0], server[1], exc or "timed out")
                continue
            return reply
        return None

    async def _ask(self, server: Address, data: bytes, tcp: bool) -> bytes:
        return await (self._tcp(server, data) if tcp else self._udp(server, data))

    async def _udp(self, server: Address, data: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Datagram(data[:2]), remote_addr=server)
        try:
            transport.sendto(data)
            return await protocol.reply
        finally:
            transport.close()

    async def _tcp(self, server: Address, data: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*server)
        try:
            writer.write(struct.pack("!H", len(data)) + data)
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(length)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
