"""Timestamps and uids in the shapes metav1 uses."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery.meta import format_rfc3339, new_uid, now_rfc3339, parse_rfc3339

UTC = timezone.utc


def test_now_is_utc_with_seconds_precision() -> None:
    stamp = now_rfc3339()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert abs(parse_rfc3339(stamp) - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T12:00:00Z", datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("2026-11-28t12:00:00z", datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("2026-11-28T12:00:00.5Z", datetime(2026, 11, 28, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-28T12:00:00.123456789Z",
         datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T14:30:00+02:30", datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("2026-11-28T00:00:00-01:00", datetime(2026, 11, 28, 1, tzinfo=UTC)),
    ],
)
def test_parse_accepts_rfc3339_forms(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["", "2026-11-28", "2026-11-28T12:00:00", "2026-11-28 12:00:00Z", "2026-13-01T00:00:00Z",
     "2026-11-28T12:00:00.Z", "2026-11-28T12:00:00Z\n", " 2026-11-28T12:00:00Z",
     "2026-11-28T25:00:00Z", "2026-11-28T12:00:00+99:00"],
)
def test_parse_rejects_everything_else_with_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"RFC 3339|out of range|must be|offset"):
        parse_rfc3339(text)


def test_format_converts_to_utc_and_drops_the_fraction() -> None:
    east = timezone(timedelta(hours=2))
    assert format_rfc3339(datetime(2026, 11, 28, 14, 0, 0, 999, tzinfo=east)) == (
        "2026-11-28T12:00:00Z")
    assert format_rfc3339(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 1, 1),
                    timezones=st.just(UTC)))
def test_format_then_parse_is_the_time_to_the_second(moment: datetime) -> None:
    assert parse_rfc3339(format_rfc3339(moment)) == moment.replace(microsecond=0)


def test_new_uid_is_a_fresh_uuid4() -> None:
    uids = {new_uid() for _ in range(100)}
    assert len(uids) == 100
    for uid in uids:
        assert uuid.UUID(uid).version == 4
        assert str(uuid.UUID(uid)) == uid
