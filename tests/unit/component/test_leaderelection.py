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
