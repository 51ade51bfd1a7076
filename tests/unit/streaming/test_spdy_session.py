"""The SPDY/3.1 session: two sessions joined in memory, as kubectl and the kubelet are."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.streaming import spdy
from servers.streaming.spdy import Session, StreamClosed, frames
from servers.streaming.spdy.codec import FrameReader, encode
from servers.streaming.spdy.headers import Compressor
from servers.streaming.spdy.stream import DATA_CHUNK


@dataclass
class Pipe:
    """One direction: what a session sends, fed to the other in order (chunks re-cut)."""

    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    sent: list[frames.Frame] = field(default_factory=list)
    reader: FrameReader = field(default_factory=FrameReader)
    cut: int = 4093  # frames arrive cut in pieces of this size (not on frame bounds)

    async def send(self, data: bytes) -> None:
        self.sent += self.reader.feed(data)  # a record of the frames, for the tests
        self.queue.put_nowait(data)

    async def pump(self, into: Session) -> None:
        while (data := await self.queue.get()) is not None:
            for start in range(0, len(data), self.cut):
                await into.feed(data[start:start + self.cut])
        into.connection_lost()


@dataclass
class Pair:
    client: Session
    server: Session
    up: Pipe  # client -> server
    down: Pipe  # server -> client


async def _pair(flow_control: bool = True) -> AsyncIterator[Pair]:
    up, down = Pipe(), Pipe()
    client, server = Session(up.send, server=False), Session(down.send, server=True)
    pumps = [asyncio.ensure_future(up.pump(server)), asyncio.ensure_future(down.pump(client))]
    if flow_control:
        await client.start()
        await server.start()
    yield Pair(client, server, up, down)
    client.connection_lost()  # ends streams, so a pump waiting on a slow reader moves on
    server.connection_lost()
    up.queue.put_nowait(None)
    down.queue.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*pumps), 5)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async for joined in _pair():
        yield joined


@pytest.fixture
async def lax_pair() -> AsyncIterator[Pair]:
    """Neither side announces windows (spdystream's way): nobody enforces them."""
    async for joined in _pair(flow_control=False):
        yield joined


async def _accept_and_reply(session: Session) -> spdy.Stream:
    stream = await asyncio.wait_for(session.accept(), 5)
    assert stream is not None
    await stream.reply()
    return stream


async def test_streams_carry_data_both_ways_and_half_close(pair: Pair) -> None:
    ours = await pair.client.open_stream((("streamtype", "data"), ("port", "80")))
    theirs = await _accept_and_reply(pair.server)
    assert theirs.header("streamType") == "data" and theirs.id == 1
    await ours.wait_reply()
    await ours.write(b"ping")
    await ours.close()
    assert await theirs.read_all() == b"ping"
    await theirs.write(b"pong")  # the server may still write after the client's FIN
    await theirs.close()
    assert await ours.read_all() == b"pong"
    assert pair.client.streams == {} and pair.server.streams == {}


@pytest.fixture(params=[True, False], ids=["windows", "no-windows"])
async def any_pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async for joined in _pair(flow_control=request.param):
        yield joined


async def test_bulk_transfers_do_not_stall(any_pair: Pair) -> None:
    joined = any_pair
    payload = os.urandom(1 << 20)
    ours = await joined.client.open_stream(())
    theirs = await _accept_and_reply(joined.server)

    async def echo() -> None:
        while chunk := await theirs.read():
            await theirs.write(chunk)
        await theirs.close()

    async def send() -> None:
        await ours.write(payload)
        await ours.close()

    task = asyncio.ensure_future(echo())
    sent = asyncio.ensure_future(send())
    assert await asyncio.wait_for(ours.read_all(), 20) == payload
    await asyncio.gather(task, sent)
    updates = [f for f in joined.up.sent if isinstance(f, frames.WindowUpdate)]
    assert updates, "the reader returns what it consumed"
    assert joined.client.flow_control is joined.server.flow_control


async def test_windows_are_kept_when_the_peer_keeps_them(pair: Pair) -> None:
    ours = await pair.client.open_stream(())
    theirs = await _accept_and_reply(pair.server)
    writer = asyncio.ensure_future(ours.write(os.urandom(3 * frames.INITIAL_WINDOW)))
    await asyncio.sleep(0.05)  # nobody reads: the writer stops at the window
    assert not writer.done()
    assert sum(len(f.data) for f in pair.up.sent if isinstance(f, frames.Data)) == (
        frames.INITIAL_WINDOW)
    received = 0
    while received < 3 * frames.INITIAL_WINDOW:
        received += len(await theirs.read())
    await asyncio.wait_for(writer, 5)


async def test_a_slow_reader_stops_the_transport_instead_of_buffering_without_end(
        lax_pair: Pair) -> None:
    ours = await lax_pair.client.open_stream(())
    theirs = await _accept_and_reply(lax_pair.server)
    await ours.write(os.urandom(8 * frames.INITIAL_WINDOW))  # no windows: all of it goes out
    await asyncio.sleep(0.05)
    assert theirs._buffered <= frames.INITIAL_WINDOW + DATA_CHUNK
    assert len(await theirs.read()) > 0


async def test_a_reset_ends_reads_and_refuses_writes(pair: Pair) -> None:
    ours = await pair.client.open_stream(())
    theirs = await _accept_and_reply(pair.server)
    await ours.reset()
    assert await asyncio.wait_for(theirs.read(), 5) == b""
    assert theirs.reset_status == frames.CANCEL
    with pytest.raises(StreamClosed):
        await theirs.write(b"late")


async def test_a_refused_stream_fails_its_wait_for_the_reply(pair: Pair) -> None:
    ours = await pair.client.open_stream(())
    theirs = await asyncio.wait_for(pair.server.accept(), 5)
    assert theirs is not None
    await theirs.reset(frames.REFUSED_STREAM)
    with pytest.raises(StreamClosed):
        await asyncio.wait_for(ours.wait_reply(), 5)


async def test_pings_are_echoed(pair: Pair) -> None:
    await asyncio.wait_for(pair.client.ping(), 5)
    await asyncio.wait_for(pair.server.ping(), 5)


async def test_goaway_stops_new_streams(pair: Pair) -> None:
    await pair.server.goaway()
    await asyncio.sleep(0.01)
    with pytest.raises(StreamClosed):
        await pair.client.open_stream(())


async def test_streams_after_our_goaway_are_refused(pair: Pair) -> None:
    pair.server.going_away = True
    ours = await pair.client.open_stream(())
    with pytest.raises(StreamClosed):
        await asyncio.wait_for(ours.wait_reply(), 5)


async def test_losing_the_transport_ends_everything(pair: Pair) -> None:
    ours = await pair.client.open_stream(())
    pair.client.connection_lost()
    assert await ours.read() == b""
    assert await pair.client.accept() is None
    with pytest.raises(StreamClosed):
        await ours.write(b"x")


async def test_garbage_is_answered_with_goaway(pair: Pair) -> None:
    with pytest.raises(spdy.ProtocolError):
        await pair.server.feed(b"\x80\x02\x00\x06\x00\x00\x00\x04abcd")
    assert pair.server.closed.is_set()
    assert any(isinstance(f, frames.GoAway) and f.status == frames.GOAWAY_PROTOCOL_ERROR
               for f in pair.down.sent)


async def test_stream_ids_of_the_wrong_parity_are_refused(pair: Pair) -> None:
    await pair.server.feed(encode(frames.SynStream(2), Compressor()))
    await asyncio.sleep(0)
    assert any(isinstance(f, frames.RstStream) and f.status == frames.PROTOCOL_ERROR
               for f in pair.down.sent)


async def _echo(stream: spdy.Stream) -> None:
    await stream.reply()
    while chunk := await stream.read():
        await stream.write(chunk)
    await stream.close()


async def _serve_echoes(server: Session, count: int) -> None:
    echoes = []
    for _ in range(count):
        stream = await server.accept()
        assert stream is not None
        echoes.append(asyncio.ensure_future(_echo(stream)))
    await asyncio.gather(*echoes)


async def _round_trip(client: Session, payload: bytes) -> bytes:
    stream = await client.open_stream((("port", "1"),))

    async def send() -> None:
        await stream.write(payload)
        await stream.close()

    sending = asyncio.ensure_future(send())
    got = await stream.read_all()
    await sending
    return got


async def _echo_scenario(payloads: list[bytes], cut: int, windows: bool) -> list[bytes]:
    up, down = Pipe(cut=cut), Pipe(cut=cut)
    client, server = Session(up.send, server=False), Session(down.send, server=True)
    pumps = [asyncio.ensure_future(up.pump(server)), asyncio.ensure_future(down.pump(client))]
    if windows:
        await client.start()
        await server.start()
    serving = asyncio.ensure_future(_serve_echoes(server, len(payloads)))
    got = await asyncio.wait_for(asyncio.gather(*(_round_trip(client, p) for p in payloads)),
                                 20)
    await serving
    client.connection_lost()
    server.connection_lost()
    for pipe in (up, down):
        pipe.queue.put_nowait(None)
    await asyncio.gather(*pumps)
    return list(got)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=2 * frames.INITIAL_WINDOW), min_size=1, max_size=4),
       st.integers(200, 20000), st.booleans())
def test_concurrent_streams_arrive_whole_however_the_transport_cuts_them(
        payloads: list[bytes], cut: int, windows: bool) -> None:
    assert asyncio.run(_echo_scenario(payloads, cut, windows)) == payloads
