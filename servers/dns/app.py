"""``km dns``: the cluster DNS server (kube-dns's and CoreDNS's role).

The steps of ``run``:

1. read ``--upstream`` (unset: /etc/resolv.conf's nameservers; ``none``: refuse);
2. connect to the apiserver and wait for it;
3. start the informers of Services, EndpointSlices and Endpoints (all namespaces), whose
   events update the ``Zone`` index one Service at a time, and wait for their first lists;
4. serve DNS over UDP and TCP on ``--bind-address:--port`` (port 0: one free port for
   both), and /healthz, /ready and /metrics over plain HTTP on ``--metrics-port``;
5. on stop, close the listeners, cancel forwards in flight and end the informers.

A query is answered in ``datagram_received`` itself from the index and the reply cache (no
await, no apiserver call); only names outside the zone become a task (the forward).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

import dns.rcode
from prometheus_client import CollectorRegistry

from servers.client.informer import SharedInformerFactory
from servers.client.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from servers.component.connect import client_from_options, wait_for_apiserver
from servers.dns.metrics import Metrics
from servers.dns.upstream import Forwarder, upstream_servers, without_self
from servers.dns.wire import Reply, Responder
from servers.dns.zone import Obj, Zone

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from aiohttp import web

log = logging.getLogger(__name__)

USER_AGENT = "km-dns"
MAX_FORWARDS = 1000  # forwards in flight; beyond, a query gets SERVFAIL at once
TCP_IDLE = 10.0  # seconds a TCP connection may wait for its next query (CoreDNS: 10 s)
BIND_TRIES = 20  # port 0: tries to find one port free for both UDP and TCP


class DNSServer:
    """Answers queries from a ``Responder``; forwards the rest through a ``Forwarder``."""

    def __init__(self, responder: Responder, forwarder: Forwarder,
                 metrics: Metrics | None) -> None:
        self.responder = responder
        self.forwarder = forwarder
        self.metrics = metrics
        self.forwards: set[asyncio.Task[None]] = set()

    def answer(self, data: bytes, proto: str, family: int,
               send: Any) -> None:
        """Answer ``data`` through ``send(bytes)`` now, or in a forwarding task."""
        start = time.perf_counter()
        reply = self.responder.respond(data, udp=proto == "udp")
        if reply.data is None:
            self._forward(data, proto, family, send, reply, start)
            return
        if reply.data:
            send(reply.data)
        if self.metrics is not None:
            self.metrics.observe(proto, family, reply.qtype, reply.rcode, "kubernetes",
                                 time.perf_counter() - start)

    def _forward(self, data: bytes, proto: str, family: int, send: Any, reply: Reply,
                 start: float) -> None:
        if len(self.forwards) >= MAX_FORWARDS:
            send(_servfail(data))
            return
        task = asyncio.ensure_future(
            self._forwarded(data, proto, family, send, reply, start))
        self.forwards.add(task)
        task.add_done_callback(self.forwards.discard)

    async def _forwarded(self, data: bytes, proto: str, family: int, send: Any, reply: Reply,
                         start: float) -> None:
        tcp = proto == "tcp"
        if reply.chase:  # an ExternalName: its CNAME, then upstream's records of the target
            upstream = await self.forwarder.forward(
                self.responder.chase_query(reply.chase, reply.qtype), tcp=tcp)
            answer = self.responder.chased(data, upstream, udp=not tcp).data
        else:
            answer = await self.forwarder.forward(data, tcp=tcp)
        if answer is None:
            answer = _servfail(data)
        send(answer)
        if self.metrics is not None:
            rcode = answer[3] & 0x0F if len(answer) >= 4 else dns.rcode.SERVFAIL
            self.metrics.observe(proto, family, reply.qtype, rcode, "forward",
                                 time.perf_counter() - start)

    async def close(self) -> None:
        for task in list(self.forwards):
            task.cancel()
        await asyncio.gather(*self.forwards, return_exceptions=True)


def _servfail(query: bytes) -> bytes:
    """SERVFAIL echoing the query's header and question (ID, RD and the question kept)."""
    if len(query) < 12:
        return b""
    flags = 0x8000 | (query[2] << 8 & 0x7900) | 0x0080 | dns.rcode.SERVFAIL
    return query[:2] + struct.pack("!H", flags) + query[4:6] + b"\0\0\0\0\0\0" + _question(
        query)


def _question(query: bytes) -> bytes:
    # The question section: the name's labels up to the root, then type and class.
    end = 12
    while end < len(query) and query[end] and query[end] < 64:
        end += query[end] + 1
    return query[12:end + 5] if end + 5 <= len(query) else b""


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer, family: int) -> None:
        self.server = server
        self.family = family
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        transport = self.transport
        if transport is None:
            return
        self.server.answer(data, "udp", self.family,
                           lambda reply: transport.sendto(reply, addr) if reply else None)


def _tcp_handler(server: DNSServer, family: int) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(reply: bytes) -> None:
            if reply and not writer.is_closing():
                writer.write(struct.pack("!H", len(reply)) + reply)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                data = await asyncio.wait_for(
                    reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE)
                server.answer(data, "tcp", family, send)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        finally:
            writer.close()
    return handle


async def _listen(opts: argparse.Namespace, server: DNSServer
                  ) -> tuple[asyncio.DatagramTransport, asyncio.AbstractServer, int]:
    """UDP and TCP listeners on one port (``--port 0``: the first that both can take)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in opts.bind_address else socket.AF_INET
    label = 2 if family == socket.AF_INET6 else 1
    for _ in range(BIND_TRIES if opts.port == 0 else 1):
        transport, _protocol = await loop.create_datagram_endpoint(
            lambda: _UDP(server, label), local_addr=(opts.bind_address, opts.port),
            family=family)
        port = transport.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(_tcp_handler(server, label), opts.bind_address,
                                             port, family=family, reuse_address=True)
        except OSError:
            transport.close()
            if opts.port != 0:
                raise
            continue
        return transport, tcp, port
    msg = f"no port free for both UDP and TCP on {opts.bind_address}"
    raise OSError(msg)


def _connect(factory: SharedInformerFactory, zone: Zone) -> None:
    """Informer events → the zone's index (handlers only update memory)."""
    for resource, put, delete in (
            (SERVICES, zone.set_service, zone.delete_service),
            (ENDPOINTSLICES, zone.set_slice, zone.delete_slice),
            (ENDPOINTS, zone.set_endpoints, zone.delete_endpoints)):
        factory.informer(resource).add_handler(
            on_add=put, on_update=_replacer(put), on_delete=delete)


def _replacer(put: Callable[[Obj], None]) -> Callable[[Obj, Obj], None]:
    def on_update(_old: Obj, new: Obj) -> None:
        put(new)
    return on_update


async def run(opts: argparse.Namespace, stop: asyncio.Event) -> int:
    """Serve the cluster's names until ``stop`` (see the module docstring)."""
    servers = without_self(upstream_servers(opts.upstream), opts.bind_address, opts.port)
    zone = Zone(opts.cluster_domain)
    registry = CollectorRegistry()
    async with client_from_options(opts, user_agent=USER_AGENT) as client:
        if not await wait_for_apiserver(client, stop):
            return 0
        halt = asyncio.Event()
        factory = SharedInformerFactory(client)
        _connect(factory, zone)
        factory.start(halt)
        try:
            if await _until(factory.wait_synced(), stop):
                await _serve(opts, stop, zone, servers, registry, factory)
        finally:
            halt.set()
            await factory.join()
    return 0


async def _serve(opts: argparse.Namespace, stop: asyncio.Event, zone: Zone,
                 servers: list[tuple[str, int]], registry: CollectorRegistry,
                 factory: SharedInformerFactory) -> None:
    server = DNSServer(Responder(zone, forwarding=bool(servers)), Forwarder(servers), None)
    udp, tcp, port = await _listen(opts, server)
    if opts.metrics_port:  # CoreDNS's server label: "dns://:53", with the port really bound
        server.metrics = Metrics(registry, server=f"dns://:{port}")
    runner = None
    try:
        if opts.metrics_port:
            runner = await _serve_metrics(opts, registry)
        # said once every listener is up, so the line can be taken as readiness
        upstream = ", ".join(f"{h}:{p}" for h, p in servers) or "none (refused)"
        log.info("serving DNS for %s on %s:%d (udp, tcp); upstream %s; %d names",
                 zone.origin, opts.bind_address, port, upstream, zone.size())
        await stop.wait()
    finally:
        udp.close()
        tcp.close()
        await server.close()
        if runner is not None:
            await runner.cleanup()


async def _serve_metrics(opts: argparse.Namespace, registry: CollectorRegistry
                         ) -> web.AppRunner:
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/health", healthz)  # CoreDNS's health plugin path
    app.router.add_get("/ready", healthz)  # serving means the informers have synced
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, opts.bind_address, opts.metrics_port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else opts.metrics_port
    log.info("serving /healthz and /metrics on http://%s:%d", opts.bind_address, port)
    return runner


async def _until(awaitable: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await ``awaitable`` unless ``stop`` comes first (then ``False``)."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    return True
