"""The channel WebSocket codec (servers/streaming/channel.py) against kube's wire shapes."""

from __future__ import annotations

import json

import pytest

from servers.streaming import channel


@pytest.mark.parametrize(("protocol", "expected"), [
    ("v5.channel.k8s.io", 5), ("v4.channel.k8s.io", 4), ("v3.channel.k8s.io", 3),
    ("v2.channel.k8s.io", 2), ("channel.k8s.io", 1), ("", 1), (None, 1)])
def test_version_of_each_subprotocol(protocol: str | None, expected: int) -> None:
    assert channel.version(protocol) == expected


@pytest.mark.parametrize("protocol", ["base64.channel.k8s.io", "vx.channel.k8s.io",
                                      "v5.portforward.k8s.io", "SPDY/3.1+portforward.k8s.io"])
def test_unknown_subprotocols_are_refused(protocol: str) -> None:
    with pytest.raises(channel.ChannelError, match="unknown channel protocol"):
        channel.version(protocol)


def test_encode_decode_round_trip_and_the_ready_message() -> None:
    assert channel.encode(channel.STDOUT) == b"\x01"  # kube's "connection established"
    assert channel.decode(channel.encode(channel.STDERR, b"oops")) == (2, b"oops")
    assert channel.decode(b"\x00") == (0, b"")
    with pytest.raises(channel.ChannelError):
        channel.decode(b"")


def test_v5_close_names_its_channel() -> None:
    assert channel.close(channel.STDIN) == bytes([255, 0])
    assert channel.closed_channel(*channel.decode(bytes([255, 0]))) == 0
    assert channel.closed_channel(*channel.decode(b"\x00data")) is None
    with pytest.raises(channel.ChannelError, match="one channel byte"):
        channel.closed_channel(255, b"")


def test_resize_reads_kubes_terminal_size() -> None:
    assert channel.resize(b'{"Width":80,"Height":24}') == (80, 24)
    for bad in (b"80x24", b"[1]", b'{"Width":-1,"Height":2}', b'{"Width":"x"}'):
        with pytest.raises(channel.ChannelError):
            channel.resize(bad)


def test_exit_status_is_kubes_non_zero_exit_code_with_the_code_as_cause() -> None:
    status = channel.exit_failure(3, ["sh", "-c", "exit 3"])
    payload = channel.status_payload(5, status)
    assert payload is not None
    decoded = json.loads(payload)
    assert decoded["status"] == "Failure" and decoded["reason"] == "NonZeroExitCode"
    assert decoded["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert decoded["message"].startswith("command terminated with non-zero exit code: ")
    assert "[sh -c exit 3]" in decoded["message"]
    assert payload.startswith(b'{"metadata":{},"status":"Failure"')


def test_success_is_json_from_v4_and_nothing_before() -> None:
    assert channel.status_payload(4, channel.success()) == b'{"metadata":{},"status":"Success"}'
    assert channel.status_payload(3, channel.success()) is None
    failure = channel.internal_error('exec: "nope": executable file not found in $PATH')
    assert channel.status_payload(2, failure) == (
        b'Internal error occurred: exec: "nope": executable file not found in $PATH')
    assert json.loads(channel.status_payload(5, failure) or b"")["code"] == 500
