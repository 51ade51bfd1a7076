"""The kubelet's /attach against a container kept with stdin open (conmon's attach socket).

Both runtimes: conmon serves the attach socket under ``namespaces``, km's own monitor
(monitor.py) the same interface under ``none``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from servers.kubelet.runtime.interface import CONTAINER_EXITED, ContainerConfig
from servers.kubelet.workers import PodWorker
from tests.integration.kubelet.conftest import ISOLATIONS
from tests.integration.kubelet.test_exec_kubelet import IDLE, V5, WAIT, Node, node
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, wait_exit

__all__ = ["node"]  # a fixture, imported to be found (certs comes from conftest.py)

pytestmark = pytest.mark.parametrize("make_runtime", ISOLATIONS, indirect=True)


async def container(node: Node, name: str, config: ContainerConfig) -> str:
    """Run ``config`` as pod default/NAME's container "c"; return its id."""
    sandbox = pod(name)
    sid = await node.runtime.run_pod_sandbox(sandbox)
    cid = await run_container(node.runtime, sid, config)
    meta = {"name": name, "namespace": "default", "uid": sandbox.uid}
    node.kubelet.workers[sandbox.uid] = PodWorker(uid=sandbox.uid, pod={"metadata": meta},
                                                  sandbox_id=sid)
    return cid


@contextlib.asynccontextmanager
async def connect(node: Node, name: str, **flags: str
                  ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"{node.url}/attach/default/{name}/c", params=flags, protocols=(V5,),
            ssl=node.client) as ws:
        assert await asyncio.wait_for(ws.receive_bytes(), WAIT) == b"\x01"
        yield ws


async def read_until(ws: aiohttp.ClientWebSocketResponse, text: bytes) -> bytes:
    seen = b""
    while text not in seen:
        message = await asyncio.wait_for(ws.receive_bytes(), WAIT)
        if message[0] == 1:
            seen += message[1:]
    return seen


async def rest(ws: aiohttp.ClientWebSocketResponse) -> tuple[bytes, bytes]:
    out, error = b"", b""
    while True:
        msg = await asyncio.wait_for(ws.receive(), WAIT)
        if msg.type != aiohttp.WSMsgType.BINARY:
            return out, error
        if msg.data[0] == 1:
            out += msg.data[1:]
        elif msg.data[0] == 3:
            error += msg.data[1:]


async def test_attach_writes_stdin_reads_output_and_stdin_once_ends_it(node: Node) -> None:
    cid = await container(node, "cat", ContainerConfig(
        name="c", command=("cat",), stdin=True, stdin_once=True))
    await asyncio.sleep(0.5)
    assert (await node.runtime.container_status(cid)).state != CONTAINER_EXITED  # stdin open
    async with connect(node, "cat", input="1", output="1", error="1") as ws:
        await ws.send_bytes(b"\x00hello\n")
        assert await read_until(ws, b"hello\n") == b"hello\n"
        await ws.send_bytes(bytes([255, 0]))  # v5 close: stdinOnce closes cat's stdin
        _, error = await rest(ws)
        assert json.loads(error) == {"metadata": {}, "status": "Success"}
    assert (await wait_exit(node.runtime, cid)).exit_code == 0


async def test_attach_to_a_terminal_with_resize(node: Node) -> None:
    cid = await container(node, "term", ContainerConfig(
        name="c", command=("/bin/sh",), stdin=True, tty=True))
    async with connect(node, "term", input="1", output="1", tty="1") as ws:
        # kubectl attach's redraw trick: one size larger, then the real one, back to back
        await ws.send_bytes(b'\x04{"Width":91,"Height":21}')
        await ws.send_bytes(b'\x04{"Width":90,"Height":20}')
        # A resize reaches the terminal apart from stdin (conmon's ctl file, the monitor's
        # own channel), so a quick shell may still see the old size: ask until the last
        # size shows (never, if it is lost or the two are applied out of order).
        seen = b""
        for n in range(100):
            await ws.send_bytes(b"\x00stty size; echo mark-$((%d+1000))\n" % n)
            seen = await read_until(ws, b"mark-%d\r\n" % (n + 1000))  # the output, not echo
            if b"20 90\r\n" in seen:
                break
            await asyncio.sleep(0.1)
        assert b"20 90\r\n" in seen
        await ws.send_bytes(b"\x00exit 5\n")
        await rest(ws)
    assert (await wait_exit(node.runtime, cid)).exit_code == 5


async def test_detaching_without_stdin_once_keeps_the_container(node: Node) -> None:
    cid = await container(node, "keep", ContainerConfig(
        name="c", command=("/bin/sh", "-c", "while read l; do echo got-$l; done"), stdin=True))
    for word in (b"one", b"two"):
        async with connect(node, "keep", input="1", output="1") as ws:
            await ws.send_bytes(b"\x00" + word + b"\n")
            await read_until(ws, b"got-" + word)
            await ws.send_bytes(bytes([255, 0]))
            await ws.close()
        await asyncio.sleep(0.2)
        assert (await node.runtime.container_status(cid)).state != CONTAINER_EXITED


async def read_channels(ws: aiohttp.ClientWebSocketResponse, *texts: bytes
                        ) -> dict[int, bytes]:
    """Output by channel until every one of ``texts`` was seen on some channel."""
    seen: dict[int, bytes] = {1: b"", 2: b""}
    while not all(any(t in data for data in seen.values()) for t in texts):
        message = await asyncio.wait_for(ws.receive_bytes(), WAIT)
        if message[0] in seen:
            seen[message[0]] += message[1:]
    return seen


def log_of(node: Node, cid: str) -> list[str]:
    """The container's CRI log lines, without their time stamps."""
    path = node.runtime.store.load("containers", cid)["log_path"]  # type: ignore[index]
    with open(path, encoding="utf-8", newline="") as f:  # (a terminal's \r kept)
        return [line.split(" ", 1)[1] for line in f.read().split("\n") if line]


async def logged(node: Node, cid: str, entry: str) -> None:
    """Wait (bounded) until the container's log holds ``entry``."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while entry not in log_of(node, cid):
        assert asyncio.get_running_loop().time() < deadline, f"{entry!r} never logged"
        await asyncio.sleep(0.02)


async def test_attach_without_stdin_relays_live_output_by_stream(node: Node) -> None:
    cid = await container(node, "talk", ContainerConfig(name="c", command=(
        "/bin/sh", "-c", "i=0; while :; do echo out$i; echo err$i >&2; i=$((i+1)); "
        "sleep 0.05; done")))
    await logged(node, cid, "stdout F out1")  # output before the attach is only in the log
    async with connect(node, "talk", output="1", error="1") as ws:
        seen = await read_channels(ws, b"out20", b"err20")
    assert b"out20\n" in seen[1] and b"err" not in seen[1]
    assert b"err20\n" in seen[2] and b"out" not in seen[2]
    assert b"out0\n" not in seen[1]  # live output only, as conmon's
    lines = log_of(node, cid)
    assert "stdout F out0" in lines and "stderr F err0" in lines
    assert (await node.runtime.container_status(cid)).state != CONTAINER_EXITED


async def test_a_large_input_comes_back_whole_and_is_logged(node: Node) -> None:
    cid = await container(node, "big", ContainerConfig(
        name="c", command=("cat",), stdin=True, stdin_once=True))
    line = bytes(range(48, 48 + 64)) + b"\n"  # 65 bytes of text
    data = line * 3000  # ~190 KiB: more than the pipes and socket buffers hold at once
    async with connect(node, "big", input="1", output="1", error="1") as ws:
        for start in range(0, len(data), 30000):
            await ws.send_bytes(b"\x00" + data[start:start + 30000])
        got = b""
        while len(got) < len(data):
            message = await asyncio.wait_for(ws.receive_bytes(), WAIT)
            assert message[0] == 1
            got += message[1:]
        assert got == data
        await ws.send_bytes(bytes([255, 0]))
        await rest(ws)
    assert (await wait_exit(node.runtime, cid)).exit_code == 0
    lines = log_of(node, cid)
    assert {entry[:9] for entry in lines} <= {"stdout F ", "stdout P "}  # P: part of a line
    logged = "".join(entry[9:] + ("\n" if entry[7] == "F" else "") for entry in lines)
    assert logged == data.decode()


async def test_a_terminal_is_logged_as_stdout_and_stdin_once_ends_its_input(
        node: Node) -> None:
    cid = await container(node, "tty-once", ContainerConfig(
        name="c", command=("/bin/sh",), stdin=True, stdin_once=True, tty=True))
    async with connect(node, "tty-once", input="1", output="1", tty="1") as ws:
        await ws.send_bytes(b"\x00echo first-$((20+1))\n")
        await read_until(ws, b"first-21")
        await ws.send_bytes(bytes([255, 0]))
    await asyncio.sleep(0.3)
    async with connect(node, "tty-once", input="1", output="1", tty="1") as ws:
        await ws.send_bytes(b"\x00echo second-$((30+1))\n")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(read_until(ws, b"second-31"), 1.0)
    assert (await node.runtime.container_status(cid)).state != CONTAINER_EXITED
    lines = log_of(node, cid)
    # A terminal's output, as conmon logs it: on stdout, each line ending in \r (the shell's
    # prompt may come before the input's echo or before the output, as the race falls).
    assert [entry for entry in lines if entry.startswith("stdout F") and entry.endswith(
        "first-21\r") and "$" not in entry], lines
    assert not [entry for entry in lines if "second" in entry]  # not even echoed


async def test_two_attached_clients_both_see_the_output(node: Node) -> None:
    await container(node, "two", ContainerConfig(
        name="c", command=("/bin/sh", "-c", "while read l; do echo got-$l; done"), stdin=True))
    async with connect(node, "two", output="1") as watcher, \
            connect(node, "two", input="1", output="1") as writer:
        await writer.send_bytes(b"\x00both\n")
        assert b"got-both" in await read_until(writer, b"got-both")
        assert b"got-both" in await read_until(watcher, b"got-both")


async def test_a_terminal_container_is_told_term_xterm_unless_it_sets_its_own(
        node: Node) -> None:
    script = ("/bin/sh", "-c", 'echo "term=$TERM"')
    ids = {(tty, own): await container(node, f"term-{tty:d}{own:d}".lower(), ContainerConfig(
        name="c", command=script, tty=tty, env={"TERM": "vt100"} if own else {}))
        for tty, own in ((True, False), (True, True), (False, False))}
    for cid in ids.values():
        assert (await wait_exit(node.runtime, cid)).exit_code == 0
    assert "stdout F term=xterm\r" in log_of(node, ids[True, False])
    assert "stdout F term=vt100\r" in log_of(node, ids[True, True])  # the pod's own wins
    assert "stdout F term=" in log_of(node, ids[False, False])  # no terminal, no TERM


@pytest.mark.parametrize("node", [IDLE], indirect=True)
async def test_an_idle_attach_is_closed_and_the_container_runs_on(node: Node) -> None:
    cid = await container(node, "idle", ContainerConfig(
        name="c", command=("/bin/sh", "-c", "while read l; do echo got-$l; done"), stdin=True))
    loop = asyncio.get_running_loop()
    async with connect(node, "idle", input="1", output="1") as ws:
        sent = loop.time()  # every touch of the idle timer comes after this
        await ws.send_bytes(b"\x00busy\n")
        await read_until(ws, b"got-busy")
        msg = await asyncio.wait_for(ws.receive(), WAIT)
        assert (msg.type, msg.data, msg.extra) == (
            aiohttp.WSMsgType.CLOSE, 1001, "stream idle timeout")
        assert loop.time() - sent >= IDLE * 0.9
    await asyncio.sleep(0.2)
    assert (await node.runtime.container_status(cid)).state != CONTAINER_EXITED
