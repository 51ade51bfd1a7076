"""The runtimes' streaming exec (``exec_stream``), over both runtimes with real processes.

What the kubelet's /exec relies on: stdin piped through and its end reaching the command,
stdout and stderr apart without a terminal, one pty with a terminal (Ctrl-C as SIGINT, a
resize as the terminal's new size), the exit code, the container's environment and working
dir, and a missing command refused before anything runs.
"""

from __future__ import annotations

import asyncio

import pytest

from servers.kubelet.runtime.base import MonitoredRuntime
from servers.kubelet.runtime.errors import ExecFailed
from servers.kubelet.runtime.interface import ContainerConfig, Streams
from tests.integration.kubelet.test_runtime_conformance import pod, run_container

WAIT = 10.0


async def sleeper(rt: MonitoredRuntime) -> str:
    sandbox = await rt.run_pod_sandbox(pod())
    return await run_container(rt, sandbox, ContainerConfig(
        name="c", command=("sleep", "300"), env={"GREETING": "hello"}, working_dir="/tmp"))


async def read_all(reader: asyncio.StreamReader | None) -> bytes:
    assert reader is not None
    return await asyncio.wait_for(reader.read(), WAIT)


async def read_until(streams: Streams, text: bytes) -> bytes:
    seen = b""
    while text not in seen:
        chunk = await asyncio.wait_for(streams.stdout.read(4096), WAIT)
        assert chunk, f"EOF before {text!r}: {seen!r}"
        seen += chunk
    return seen


async def test_exec_pipes_stdin_to_its_end_and_keeps_stderr_apart(runtime: MonitoredRuntime
                                                                  ) -> None:
    cid = await sleeper(runtime)
    streams = await runtime.exec_stream(
        cid, ["/bin/sh", "-c", 'cat; echo "$GREETING $(pwd)" >&2; exit 3'], tty=False,
        stdin=True)
    try:
        await streams.write_stdin(b"one\ntwo\n")
        await streams.close_stdin()
        out, err = await asyncio.gather(read_all(streams.stdout), read_all(streams.stderr))
        assert (out, err) == (b"one\ntwo\n", b"hello /tmp\n")
        assert await asyncio.wait_for(streams.wait(), WAIT) == 3
    finally:
        streams.close()


async def test_exec_with_a_tty_has_one_terminal_with_resize_and_ctrl_c(
        runtime: MonitoredRuntime) -> None:
    cid = await sleeper(runtime)
    # the size reaches the terminal apart from the script: it waits for it (10 s at most,
    # then says the size it has), not a fixed 0.3 s a loaded machine can outlast
    script = ("trap 'echo got-int; exit 7' INT; i=0; "
              "while [ \"$(stty size)\" != '30 100' ] && [ $i -lt 200 ]; do "
              "sleep 0.05; i=$((i+1)); done; stty size; echo ready; "
              "while :; do sleep 0.05; done")
    streams = await runtime.exec_stream(cid, ["/bin/sh", "-c", script], tty=True, stdin=True)
    try:
        assert streams.stderr is None
        streams.resize(100, 30)
        seen = await read_until(streams, b"ready")
        await streams.write_stdin(b"\x03")
        seen += await read_until(streams, b"got-int")
        assert await asyncio.wait_for(streams.wait(), WAIT) == 7
        assert b"30 100" in seen
        assert b"\r\n" in seen  # a terminal's line discipline, not a pipe
    finally:
        streams.close()


async def test_a_missing_command_fails_before_running(runtime: MonitoredRuntime) -> None:
    cid = await sleeper(runtime)
    for cmd, text in ((["no-such-command"], 'exec: "no-such-command": executable file not '
                       "found in $PATH"),
                      (["/no/such"], 'exec: "/no/such": stat /no/such: no such file or '
                       "directory")):
        with pytest.raises(ExecFailed) as caught:
            await runtime.exec_stream(cid, cmd, tty=False, stdin=False)
        assert str(caught.value) == text


async def test_killing_an_exec_ends_its_command(runtime: MonitoredRuntime) -> None:
    cid = await sleeper(runtime)
    streams = await runtime.exec_stream(cid, ["/bin/sh", "-c", "echo up; exec sleep 300"],
                                        tty=False, stdin=False)
    try:
        assert await asyncio.wait_for(streams.stdout.readline(), WAIT) == b"up\n"
        await asyncio.wait_for(streams.kill(), WAIT)
        assert await read_all(streams.stdout) == b""
    finally:
        streams.close()
