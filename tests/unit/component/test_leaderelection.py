"""Leader election's pure parts: MicroTime, identities, the election record."""

from __future__ import annotations

from typing import Any

from servers.client.leaderelection import _Record, micro_time


def test_micro_time_has_six_fraction_digits_in_utc() -> None:
    assert micro_time(1735725902.123456) == "2025-01-01T10:05:02.123456Z"
    assert micro_time(0) == "1970-01-01T00:00:00.000000Z"


def test_record_reads_and_writes_the_lease_spec() -> None:
    spec: dict[str, Any] = {
            "holderIdentity": "h_1", "leaseDurationSeconds": 15, "leaseTransitions": 3,
            "acquireTime": "2025-01-01T10:00:00.000000Z",
            "renewTime": "2025-01-01T10:05:02.123456Z"}
    record = _Record.of({"spec": spec})
    assert record == _Record("h_1", 15, spec["acquireTime"], spec["renewTime"], 3)
    assert record.spec() == spec


def test_record_of_an_empty_lease_is_nobodys() -> None:
    record = _Record.of({"spec": {}})
    assert (record.holder, record.duration, record.transitions) == ("", 0, 0)
    assert _Record.of({}) == record


def test_a_leader_that_stopped_renewing_long_ago_is_unhealthy() -> None:
    from servers.client.leaderelection import LeaderElector
    from servers.client.rest import Client

    now = [1000.0]
    elector = LeaderElector(Client("http://127.0.0.1:1"), name="l", namespace="n",
                            identity="me", lease_duration=15, renew_deadline=10,
                            retry_period=2, event_component="c", clock=lambda: now[0])
    assert elector.healthy()  # a standby is always healthy
    elector._observe(_Record("me", 15, None, None, 0))
    assert elector.is_leader and elector.leader == "me"
    now[0] += 35.0
    assert elector.healthy()
    now[0] += 0.5
    assert not elector.healthy()
    elector._observe(_Record("other", 15, None, None, 1))
    assert elector.healthy() and not elector.is_leader
