"""The kubelet's /exec and /attach query parsing (kube's remotecommand ``NewOptions``)."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from servers.kubelet.streaming import NO_COMMAND, NO_STREAMS, OptionsError, parse_options


def query(*pairs: tuple[str, str]) -> MultiDict[str]:
    return MultiDict(pairs)


def test_repeated_command_words_keep_their_order() -> None:
    opts = parse_options(query(("command", "sh"), ("command", "-c"), ("command", "exit 3"),
                               ("output", "1")), exec_=True)
    assert opts.command == ("sh", "-c", "exit 3")
    assert (opts.stdin, opts.stdout, opts.stderr, opts.tty) == (False, True, False, False)


def test_a_terminal_drops_stderr() -> None:
    opts = parse_options(query(("command", "sh"), ("input", "1"), ("output", "1"),
                               ("error", "1"), ("tty", "1")), exec_=True)
    assert (opts.stdin, opts.stdout, opts.stderr, opts.tty) == (True, True, False, True)


@pytest.mark.parametrize("value", ["0", "false", "", "yes"])
def test_only_one_or_true_turns_a_stream_on(value: str) -> None:
    with pytest.raises(OptionsError, match=NO_STREAMS):
        parse_options(query(("command", "true"), ("output", value)), exec_=True)


def test_exec_needs_a_command_attach_does_not() -> None:
    with pytest.raises(OptionsError, match=NO_COMMAND):
        parse_options(query(("output", "1")), exec_=True)
    assert parse_options(query(("output", "1")), exec_=False).command == ()


@pytest.mark.parametrize(("flags", "channel"), [
    ({"output": "1", "error": "1"}, 1), ({"error": "1"}, 2), ({"input": "1"}, 3)])
def test_the_first_message_goes_to_the_lowest_written_channel(flags: dict[str, str],
                                                              channel: int) -> None:
    opts = parse_options(query(*flags.items()), exec_=False)
    assert opts.lowest_writable() == channel
