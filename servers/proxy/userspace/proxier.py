"""The userspace proxier: listeners on clusterIP:port and NodePorts that relay to endpoints.

    proxier = UserspaceProxier(nodeport_hosts=["127.0.0.1"], udp_timeout=0.25)
    await proxier.sync(ports)          # listeners follow the service ports
    await proxier.close()

kube-proxy's original design (``pkg/proxy/userspace/proxier.go``, ``proxysocket.go``), without
the iptables portals: the proxy listens on the clusterIP itself, which works wherever that
address is local — a loopback service range (127.96.0.0/16) on a single host without root.
A service port listens only while it has a ready endpoint, so a Service without one refuses
at once (nothing listens) rather than accepting and hanging up. TCP is relayed in both
directions until either side closes; an endpoint that refuses is skipped for the next one.
UDP keeps one connected socket per client address towards its endpoint, closed after
``udp_timeout`` of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from typing import Any

from servers.proxy.model import ServicePort
from servers.proxy.userspace.balancer import LoadBalancer

__all__ = ["UserspaceProxier"]

log = logging.getLogger(__name__)

# kube's userspace proxier tried a refusing endpoint for 250 ms, then 500 ms, ...; a loopback
# or bridge endpoint refuses at once, so one short timeout per endpoint is enough.
CONNECT_TIMEOUT = 1.0
WRITE_BUFFER = 1 << 20

Key = tuple[str, int, str]  # (address, port, protocol)


@dataclass
class _Listener:
    balancer: LoadBalancer
    server: Any  # asyncio.AbstractServer (TCP) or DatagramTransport (UDP)


class UserspaceProxier:
    """One listener per (address, port, protocol) that has ready endpoints."""

    def __init__(self, nodeport_hosts: list[str], udp_timeout: float = 0.25) -> None:
        self.nodeport_hosts = nodeport_hosts
        self.udp_timeout = udp_timeout
        self._listeners: dict[Key, _Listener] = {}
        self._failed: set[Key] = set()  # logged once
        self._relays: set[asyncio.Task[None]] = set()

    async def sync(self, ports: list[ServicePort], full: bool = False) -> None:
        """Make the listeners match ``ports``."""
        wanted: dict[Key, ServicePort] = {}
        for port in ports:
            if not port.endpoints:
                continue
            wanted[(port.cluster_ip, port.port, port.protocol)] = port
            if port.node_port:
                for host in self.nodeport_hosts:
                    wanted[(host, port.node_port, port.protocol)] = port
        for key in [k for k in self._listeners if k not in wanted]:
            self._close(self._listeners.pop(key))
        for key, port in wanted.items():
            listener = self._listeners.get(key)
            if listener is None:
                listener = await self._open(key)
                if listener is None:
                    continue
                self._listeners[key] = listener
            listener.balancer.update(port.endpoints, port.affinity_seconds)

    async def _open(self, key: Key) -> _Listener | None:
        host, port, protocol = key
        balancer = LoadBalancer()
        try:
            if protocol == "UDP":
                loop = asyncio.get_running_loop()
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpFront(balancer, self.udp_timeout), local_addr=(host, port),
                    reuse_port=False)
                server: Any = transport
            else:
                loop = asyncio.get_running_loop()
                server = await loop.create_server(
                    lambda: _Front(balancer, self._relays), host, port,
                    reuse_address=True, backlog=1024)
        except OSError as exc:
            if key not in self._failed:
                log.warning("cannot listen on %s:%d/%s: %s", host, port, protocol,
                            exc.strerror or exc)
                self._failed.add(key)
            return None
        self._failed.discard(key)
        log.debug("listening on %s:%d/%s", host, port, protocol)
        return _Listener(balancer, server)

    @staticmethod
    def _close(listener: _Listener) -> None:
        listener.server.close()

    def listening(self) -> list[Key]:
        """The (address, port, protocol) served now."""
        return sorted(self._listeners)

    async def close(self) -> None:
        for listener in self._listeners.values():
            self._close(listener)
        self._listeners.clear()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)


class _Half(asyncio.Protocol):
    """One side of a relayed TCP connection: what it reads is written to its peer.

    Protocols rather than streams: no coroutine per chunk, and flow control is the
    transports' own (a peer whose send buffer is full pauses this side's reading).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=WRITE_BUFFER)  # type: ignore[union-attr]
        transport.pause_reading()  # type: ignore[attr-defined]  # until linked to its peer

    def link(self, peer: _Half) -> None:
        """Join the two sides and let both read."""
        self.peer, peer.peer = peer, self
        for side in (self, peer):
            if side.transport is not None and not side.transport.is_closing():
                side.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        """Half-close the peer, so request-then-EOF protocols work; close when both did."""
        self.eof = True
        peer = self.peer
        if peer is None or peer.transport is None or peer.eof:
            self._close_both()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._close_both()

    def _close_both(self) -> None:
        for side in (self, self.peer):
            if side is not None and side.transport is not None:
                side.transport.close()


class _Front(_Half):
    """The client's side: reading waits until an endpoint took the connection."""

    def __init__(self, balancer: LoadBalancer, tasks: set[asyncio.Task[None]]) -> None:
        super().__init__()
        self.balancer = balancer
        self.tasks = tasks
        self.connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.connecting = asyncio.ensure_future(self._connect())
        self.tasks.add(self.connecting)
        self.connecting.add_done_callback(self.tasks.discard)

    async def _connect(self) -> None:
        assert self.transport is not None
        client_ip = (self.transport.get_extra_info("peername") or ("", 0))[0]
        loop = asyncio.get_running_loop()
        for endpoint in self.balancer.candidates(client_ip):
            try:
                _, upstream = await asyncio.wait_for(loop.create_connection(
                    _Half, endpoint.ip, endpoint.port), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                log.debug("endpoint %s: %s", endpoint, exc)
                continue
            self.balancer.connected(client_ip, endpoint)
            if self.transport.is_closing():
                upstream.transport.close()  # type: ignore[union-attr]
                return
            self.link(upstream)
            return
        self.transport.close()  # every endpoint refused

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connecting is not None and not self.connecting.done():
            self.connecting.cancel()
        super().connection_lost(exc)


class _UdpFront(asyncio.DatagramProtocol):
    """The service's UDP socket: one session (a connected socket) per client address."""

    def __init__(self, balancer: LoadBalancer, idle: float) -> None:
        self.balancer = balancer
        self.idle = idle
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[tuple[str, int], _UdpSession] = {}
        self.starting: dict[tuple[str, int], list[bytes]] = {}  # datagrams while connecting
        self._tasks: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        session = self.sessions.get(addr)
        if session is not None and not session.closed:
            session.send(data)
            return
        if addr in self.starting:
            self.starting[addr].append(data)
            return
        self.starting[addr] = [data]
        task = asyncio.ensure_future(self._start(addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            for endpoint in self.balancer.candidates(addr[0]):
                try:
                    _, session = await loop.create_datagram_endpoint(
                        lambda: _UdpSession(self, addr),
                        remote_addr=(endpoint.ip, endpoint.port), family=socket.AF_INET)
                except OSError:
                    continue
                self.balancer.connected(addr[0], endpoint)
                self.sessions[addr] = session
                for data in self.starting.get(addr, []):
                    session.send(data)
                return
        finally:
            self.starting.pop(addr, None)

    def connection_lost(self, exc: Exception | None) -> None:
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()


class _UdpSession(asyncio.DatagramProtocol):
    """One client's flow to its endpoint; replies go back through the service socket."""

    def __init__(self, front: _UdpFront, client: tuple[str, int]) -> None:
        self.front = front
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._touch()

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.sendto(data)
            self._touch()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.front.transport is not None:
            self.front.transport.sendto(data, self.client)
        self._touch()

    def error_received(self, exc: Exception) -> None:
        self.close()  # the endpoint refused: the next datagram picks another

    def _touch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.front.idle, self.close)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self.front.sessions.get(self.client) is self:
            del self.front.sessions[self.client]
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()
