"""send_at as the API takes it: ISO 8601 with a zone, not in the past, within a year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from inboxlink.domain.scheduling import BadSendAt, parse_send_at

NOW = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)

GOOD = [
    ("2026-12-03T09:00:00Z", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),
    ("2026-12-03T09:00:00+01:00", datetime(2026, 12, 3, 8, 0, tzinfo=UTC)),
    ("2026-12-03T09:00+01:00", datetime(2026, 12, 3, 8, 0, tzinfo=UTC)),
    ("2026-12-02T20:59:30Z", datetime(2026, 12, 2, 20, 59, 30, tzinfo=UTC)),  # within the grace
    (" 2027-06-01T00:00:00-07:00 ", datetime(2027, 6, 1, 7, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("value", "expected"), GOOD)
def test_good_times(value: str, expected: datetime) -> None:
    assert parse_send_at(value, NOW) == expected


BAD = [
    (None, "ISO 8601"),
    ("", "ISO 8601"),
    (1733173200, "ISO 8601"),
    ("tomorrow", "not an ISO 8601"),
    ("2026-13-01T00:00:00Z", "not an ISO 8601"),
    ("2026-12-03T09:00:00", "time zone"),
    ("2026-12-03", "time zone"),
    ("2026-12-02T20:00:00Z", "in the past"),
    ("2020-01-01T00:00:00+00:00", "in the past"),
    ("2028-01-01T00:00:00Z", "more than a year"),
]


@pytest.mark.parametrize(("value", "message"), BAD)
def test_bad_times_say_why(value: object, message: str) -> None:
    with pytest.raises(BadSendAt, match=message):
        parse_send_at(value, NOW)


def test_offset_is_kept() -> None:
    when = parse_send_at("2026-12-03T09:00:00+05:30", NOW)
    assert when.utcoffset() == timedelta(hours=5, minutes=30)
    assert when.tzinfo == timezone(timedelta(hours=5, minutes=30))
