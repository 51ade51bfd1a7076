"""The SPDY/3.1 frame codec: round trips, one zlib context per direction, any chunking."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.streaming.spdy.codec import FrameReader, encode
from servers.streaming.spdy.frames import (
    MAX_ID,
    PING,
    RST_STREAM,
    SYN_REPLY,
    Data,
    Frame,
    GoAway,
    Headers,
    Ping,
    ProtocolError,
    RstStream,
    Settings,
    SynReply,
    SynStream,
    WindowUpdate,
    header,
)
from servers.streaming.spdy.headers import DICTIONARY, Compressor

ids = st.integers(min_value=1, max_value=MAX_ID)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=20)
values = st.text(max_size=40).filter(lambda v: "\0" not in v)
blocks = st.lists(st.tuples(names, values), max_size=6).map(tuple)
frames = st.one_of(
    st.builds(SynStream, ids, blocks, st.integers(0, MAX_ID), st.integers(0, 7),
              st.booleans(), st.booleans()),
    st.builds(SynReply, ids, blocks, st.booleans()),
    st.builds(Headers, ids, blocks, st.booleans()),
    st.builds(RstStream, ids, u32),
    st.builds(Settings, st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2**24 - 1),
                                           u32), max_size=4).map(tuple), st.booleans()),
    st.builds(Ping, u32),
    st.builds(GoAway, st.integers(0, MAX_ID), u32),
    st.builds(WindowUpdate, st.integers(0, MAX_ID), st.integers(1, MAX_ID)),
    st.builds(Data, ids, st.binary(max_size=300), st.booleans()),
)


def _wire(sequence: list[Frame]) -> bytes:
    compressor = Compressor()
    return b"".join(encode(frame, compressor) for frame in sequence)


@given(frames)
def test_every_frame_survives_a_round_trip(frame: Frame) -> None:
    assert FrameReader().feed(_wire([frame])) == [frame]


@settings(max_examples=60)
@given(st.lists(frames, max_size=25))
def test_header_blocks_of_many_frames_share_one_zlib_context(sequence: list[Frame]) -> None:
    # one compressor for the whole direction: a later block may refer to an earlier one's
    # bytes, so decoding them with fresh contexts would fail; one reader decodes them all
    assert FrameReader().feed(_wire(sequence)) == sequence


@settings(max_examples=60)
@given(st.lists(frames, min_size=1, max_size=12), st.data())
def test_any_chunking_of_the_byte_stream_gives_the_same_frames(
        sequence: list[Frame], data: st.DataObject) -> None:
    wire = _wire(sequence)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    reader, got, start = FrameReader(), [], 0
    for cut in [*cuts, len(wire)]:
        got += reader.feed(wire[start:cut])
        start = cut
    assert got == sequence


def test_repeated_header_blocks_compress_against_the_earlier_ones() -> None:
    headers = (("streamtype", "data"), ("port", "8080"), ("requestid", "0"))
    compressor = Compressor()
    first = encode(SynStream(1, headers), compressor)
    second = encode(SynStream(3, headers), compressor)
    assert len(second) < len(first)


def test_the_dictionary_is_the_spdy3_one() -> None:
    # 0xe3c6a7c2 is the SPDY/3 dictionary's id (its Adler-32), which a compressed header
    # block names in its zlib header (FDICT) and every SPDY/3 peer checks
    assert zlib.adler32(DICTIONARY) == 0xE3C6A7C2
    block = encode(SynReply(1, ()), Compressor())[12:]
    assert block[1] & 0x20 and struct.unpack(">I", block[2:6])[0] == 0xE3C6A7C2


def test_data_frame_layout() -> None:
    assert encode(Data(5, b"hi", fin=True), Compressor()) == bytes(
        [0, 0, 0, 5, 1, 0, 0, 2]) + b"hi"


def test_control_frame_layout() -> None:
    assert encode(Ping(7), Compressor()) == bytes(
        [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7])


def test_header_lookup_is_case_insensitive_and_takes_the_first_value() -> None:
    headers = (("streamtype", "error"), ("port", "80\x0081"))
    assert header(headers, "streamType") == "error"
    assert header(headers, "Port") == "80"
    assert header(headers, "requestID") == ""


def test_unknown_control_frames_are_skipped() -> None:
    unknown = struct.pack(">HHI", 0x8003, 0x42, 3) + b"abc"
    assert FrameReader().feed(unknown + _wire([Ping(1)])) == [Ping(1)]


@pytest.mark.parametrize("wire", [
    struct.pack(">HHI", 0x8002, PING, 4) + b"\0\0\0\1",  # SPDY/2
    struct.pack(">HHI", 0x8003, RST_STREAM, 4) + b"\0\0\0\1",  # short
    struct.pack(">HHI", 0x8003, SYN_REPLY, 6) + b"\0\0\0\1zz",  # not zlib
])
def test_malformed_frames_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameReader().feed(wire)
