"""The kubelet's heartbeat as kube's: a Lease update stuck on a dead connection is given up
after HEARTBEAT_TIMEOUT (kube's heartbeat client timeout) and the next renewal made; a Node
whose conditions someone else changed (the node-lifecycle controller's Unknown) gets its
status posted again at the next heartbeat, not at the next periodic report."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from servers.kubelet import node
from servers.kubelet.node import NodeAgent
from servers.kubelet.nodestatus import conditions


class FakeClient:
    """Lease updates (the first ``hang`` of them never answer), the Node as ``node_status``
    says, status patches recorded."""

    def __init__(self, hang: int, ready: str) -> None:
        self.hang, self.ready = hang, ready
        self.updates = 0
        self.patches: list[dict[str, Any]] = []

    async def update(self, resource: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self.updates += 1
        if self.updates <= self.hang:
            await asyncio.sleep(3600)
        return obj

    async def get(self, resource: Any, name: str) -> dict[str, Any]:
        found = [{**c, "status": self.ready} if c["type"] == "Ready" else c
                 for c in conditions()]
        return {"metadata": {"name": name}, "status": {"conditions": found}}

    async def patch(self, resource: Any, name: str, body: dict[str, Any],
                    **_: Any) -> dict[str, Any]:
        self.patches.append(body)
        self.ready = "True"
        return body


async def beat(client: FakeClient, until: Any) -> NodeAgent:
    """Run the heartbeat (10 ms renewals, 50 ms timeout) until ``until()`` or 2 s."""
    agent = NodeAgent(client, "n1", ip="127.0.0.1", port=0,  # type: ignore[arg-type]
                      max_pods=10, labels={}, taints=[], runtime_version="km-none://0.1")
    agent.lease = {"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}}
    stop = asyncio.Event()
    task = asyncio.ensure_future(agent.heartbeat(stop))
    for _ in range(200):
        if until():
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    return agent


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "LEASE_RENEW", 0.01)
    monkeypatch.setattr(node, "HEARTBEAT_TIMEOUT", 0.05)


async def test_a_stuck_renewal_is_given_up_and_the_next_one_made(
        caplog: pytest.LogCaptureFixture) -> None:
    client = FakeClient(hang=1, ready="True")
    with caplog.at_level(logging.WARNING, logger="servers.kubelet.node"):
        agent = await beat(client, lambda: client.updates >= 2)
    assert client.updates >= 2
    assert "node heartbeat: no answer within" in caplog.text
    assert agent.lease is not None and "renewTime" in agent.lease["spec"]
    assert client.patches == []  # the Node is as this kubelet posts it


async def test_a_node_set_unknown_elsewhere_gets_its_status_at_the_next_heartbeat() -> None:
    client = FakeClient(hang=0, ready="Unknown")
    agent = await beat(client, lambda: client.patches)
    assert len(client.patches) == 1
    ready = next(c for c in client.patches[0]["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert agent.since["Ready"] == ready["lastTransitionTime"]
