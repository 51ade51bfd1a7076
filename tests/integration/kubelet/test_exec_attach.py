"""The kubelet's /attach against a container kept with stdin open (conmon's attach socket).

Only the namespaces runtime here: conmon serves the attach socket; ``--isolation none``'s own
monitor (monitor.py) has none yet.
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
from tests.integration.kubelet.test_exec_kubelet import V5, WAIT, Node, certs, node
from tests.integration.kubelet.test_runtime_conformance import pod, run_container, wait_exit

__all__ = ["certs", "node"]  # fixtures, imported to be found

pytestmark = pytest.mark.parametrize("make_runtime", ["namespaces"], indirect=True)


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
        await asyncio.sleep(0.3)
        await ws.send_bytes(b"\x00stty size; echo $((6*7))\n")
        seen = await read_until(ws, b"42")
        assert b"20 90" in seen
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
