"""Leader election against a real apiserver: one leader, hand-over, theft, release."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from servers.client.leaderelection import LeaderElector, LeadershipLost, default_identity
from servers.client.resources import EVENTS, LEASES
from servers.client.rest import Client
from tests.support.apiserver import start_apiserver
from tests.support.wait import eventually

# Short periods keep the tests fast: lease 2 s, renew deadline 1.2 s, retry 0.4 s (half
# that had a leader miss its renew deadline when a loaded machine slowed the apiserver, and
# then two led).
LEASE, RENEW, RETRY = 2.0, 1.2, 0.4
NAMESPACE = "kube-system"
MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def elector(client: Client, lease: str, identity: str, **extra: object) -> LeaderElector:
    return LeaderElector(client, name=lease, namespace=NAMESPACE, identity=identity,
                         lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY,
                         event_component="test-component", **extra)  # type: ignore[arg-type]


class Candidate:
    """One elector running with its own stop event; records when it leads."""

    def __init__(self, client: Client, lease: str, identity: str, **extra: object) -> None:
        self.elector = elector(client, lease, identity, **extra)
        self.identity = identity
        self.stop = asyncio.Event()
        self.leading = asyncio.Event()
        self.lost: asyncio.Event | None = None
        self.saw_lost_before_cancel = False
        self.task = asyncio.ensure_future(self.elector.run(self.stop, self.lead))

    async def lead(self, lost: asyncio.Event) -> None:
        self.lost = lost
        self.leading.set()
        await lost.wait()
        self.saw_lost_before_cancel = True


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def first(*events: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    done, pending = await asyncio.wait(waits, timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done, "nobody became leader in time"


async def test_exactly_one_of_two_leads_and_a_stop_hands_over_at_once(client: Client) -> None:
    name = unique("sched")
    a, b = Candidate(client, name, "host_a"), Candidate(client, name, "host_b")
    await first(a.leading, b.leading, timeout=5)
    await asyncio.sleep(3 * RETRY)  # several rounds of renewals and tries
    assert a.leading.is_set() != b.leading.is_set()
    leader, standby = (a, b) if a.leading.is_set() else (b, a)
    lease = await client.get(LEASES, name, NAMESPACE)
    spec = lease["spec"]
    assert spec["holderIdentity"] == leader.identity
    assert spec["leaseDurationSeconds"] == LEASE
    assert MICRO.match(spec["acquireTime"]) and MICRO.match(spec["renewTime"])
    assert spec["leaseTransitions"] == 0
    leader.stop.set()
    started = time.monotonic()
    await asyncio.wait_for(leader.task, 5)  # a clean stop returns (no exception)
    assert leader.saw_lost_before_cancel
    await asyncio.wait_for(standby.leading.wait(), 5)
    # Released: the standby took it at its next try, well before a lease duration passed.
    assert time.monotonic() - started < LEASE
    spec = (await client.get(LEASES, name, NAMESPACE))["spec"]
    assert spec["holderIdentity"] == standby.identity
    assert spec["leaseTransitions"] == 1
    standby.stop.set()
    await asyncio.wait_for(standby.task, 5)


async def test_a_crashed_leader_is_replaced_within_the_lease_duration(client: Client) -> None:
    name = unique("crash")
    a = Candidate(client, name, "host_a")
    await asyncio.wait_for(a.leading.wait(), 5)
    b = Candidate(client, name, "host_b")
    await asyncio.sleep(2 * RETRY)
    assert not b.leading.is_set()
    a.task.cancel()  # as SIGKILL: no release, the Lease just stops being renewed
    await asyncio.gather(a.task, return_exceptions=True)
    renewed = (await client.get(LEASES, name, NAMESPACE))["spec"]
    assert renewed["holderIdentity"] == "host_a"
    started = time.monotonic()
    await asyncio.wait_for(b.leading.wait(), 10)
    took = time.monotonic() - started
    # Not before the lease expired on b's clock, and soon after (a jittered retry or two).
    assert LEASE - 2 * RETRY < took < LEASE + 3 * RETRY * 2.2
    b.stop.set()
    await asyncio.wait_for(b.task, 5)


async def test_a_leader_whose_lease_is_stolen_loses_at_once(client: Client) -> None:
    name = unique("theft")
    registry = CollectorRegistry()
    a = Candidate(client, name, "host_a", registry=registry)
    await asyncio.wait_for(a.leading.wait(), 5)
    assert registry.get_sample_value("leader_election_master_status", {"name": name}) == 1
    lease = await client.get(LEASES, name, NAMESPACE)
    lease["spec"]["holderIdentity"] = "thief"
    await client.update(LEASES, lease)
    with pytest.raises(LeadershipLost, match=f"lease {NAMESPACE}/{name} is held by thief"):
        await asyncio.wait_for(a.task, 5)
    assert a.lost is not None and a.lost.is_set()
    assert a.saw_lost_before_cancel
    assert registry.get_sample_value("leader_election_master_status", {"name": name}) == 0
    # The thief's Lease is left alone.
    assert (await client.get(LEASES, name, NAMESPACE))["spec"]["holderIdentity"] == "thief"


async def test_clean_stop_releases_and_records_events(client: Client) -> None:
    name = unique("release")
    identity = default_identity()
    a = Candidate(client, name, identity)
    await asyncio.wait_for(a.leading.wait(), 5)
    a.stop.set()
    await asyncio.wait_for(a.task, 5)
    spec = (await client.get(LEASES, name, NAMESPACE))["spec"]
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1  # a released Lease says 1 s, as client-go's

    async def recorded() -> bool:
        events = await client.list(EVENTS, NAMESPACE)
        return {e["message"] for e in events["items"]
                if e["involvedObject"].get("name") == name} == {
                    f"{identity} became leader", f"{identity} stopped leading"}

    await eventually(recorded, "the became/stopped leading events", 5, 0.05)
    events = await client.list(EVENTS, NAMESPACE)
    mine = [e for e in events["items"] if e["involvedObject"].get("name") == name]
    assert {e["reason"] for e in mine} == {"LeaderElection"}
    assert {e["involvedObject"]["kind"] for e in mine} == {"Lease"}
    assert {e["involvedObject"]["apiVersion"] for e in mine} == {"coordination.k8s.io/v1"}
    assert {e["source"]["component"] for e in mine} == {"test-component"}


async def test_stop_before_leading_returns_without_calling_lead(client: Client) -> None:
    name = unique("never")
    a = Candidate(client, name, "host_a")
    await asyncio.wait_for(a.leading.wait(), 5)
    b = Candidate(client, name, "host_b")
    await asyncio.sleep(2 * RETRY)
    b.stop.set()
    await asyncio.wait_for(b.task, 5)
    assert not b.leading.is_set()
    assert (await client.get(LEASES, name, NAMESPACE))["spec"]["holderIdentity"] == "host_a"
    a.stop.set()
    await asyncio.wait_for(a.task, 5)


async def test_lead_that_fails_releases_and_raises(client: Client) -> None:
    name = unique("fails")

    async def lead(lost: asyncio.Event) -> None:
        raise RuntimeError("the scheduler broke")

    with pytest.raises(RuntimeError, match="the scheduler broke"):
        await asyncio.wait_for(elector(client, name, "host_a").run(asyncio.Event(), lead), 5)
    assert (await client.get(LEASES, name, NAMESPACE))["spec"]["holderIdentity"] == ""


async def test_a_leader_that_cannot_reach_the_apiserver_loses_after_the_deadline(
        tmp_path: Path) -> None:
    with start_apiserver(tmp_path / "data") as api:
        async with Client(api.url, request_timeout=10.0) as client:
            a = Candidate(client, "kube-scheduler", "host_a")
            await asyncio.wait_for(a.leading.wait(), 5)
            api.kill()
            started = time.monotonic()
            with pytest.raises(LeadershipLost, match=r"was not renewed within 1\.2s"):
                await asyncio.wait_for(a.task, 5)
            assert time.monotonic() - started < RETRY + RENEW + 0.5
            assert a.saw_lost_before_cancel


def test_periods_that_cannot_work_are_refused() -> None:
    client = Client("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="leaseDuration must be greater than renewDeadline"):
        LeaderElector(client, name="x", namespace="y", identity="z", lease_duration=1,
                      renew_deadline=1, retry_period=0.1, event_component="c")
    with pytest.raises(ValueError, match="renewDeadline must be greater than retryPeriod"):
        LeaderElector(client, name="x", namespace="y", identity="z", lease_duration=2,
                      renew_deadline=1, retry_period=1, event_component="c")


def test_default_identity_is_host_underscore_uuid() -> None:
    import socket

    host, _, rest = default_identity().rpartition("_")
    assert host == socket.gethostname()
    assert str(uuid.UUID(rest)) == rest
    assert default_identity() != default_identity()



async def test_candidates_racing_for_an_expired_lease_never_both_lead(client: Client) -> None:
    name = unique("race")
    await client.create(LEASES, {"metadata": {"name": name}, "spec": {
        "holderIdentity": "ghost", "leaseDurationSeconds": 1, "leaseTransitions": 4,
        "renewTime": "2020-01-01T00:00:00.000000Z"}}, NAMESPACE)
    racers = [Candidate(client, name, f"host_{i}") for i in range(3)]
    most = 0
    deadline = time.monotonic() + LEASE + 1.5
    while time.monotonic() < deadline:
        leading = [r for r in racers if r.leading.is_set() and not r.task.done()]
        most = max(most, len(leading))
        await asyncio.sleep(0.01)
    assert most == 1
    assert sum(r.leading.is_set() for r in racers) == 1
    winner = next(r for r in racers if r.leading.is_set())
    spec = (await client.get(LEASES, name, NAMESPACE))["spec"]
    assert spec["holderIdentity"] == winner.identity
    assert spec["leaseTransitions"] == 5
    for racer in racers:
        racer.stop.set()
    await asyncio.wait_for(asyncio.gather(*(r.task for r in racers)), 5)


async def test_a_leader_frozen_past_its_lease_loses_without_asking(client: Client) -> None:
    name = unique("frozen")
    a = Candidate(client, name, "host_a")
    await asyncio.wait_for(a.leading.wait(), 5)
    time.sleep(LEASE + 0.3)  # the whole event loop stops, as under SIGSTOP
    with pytest.raises(LeadershipLost, match=r"was not renewed for \d+\.\ds"):
        await asyncio.wait_for(a.task, 5)
    assert a.saw_lost_before_cancel
