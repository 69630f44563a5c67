"""domain.sending_window: business days in the sender's zone, the window, DST gaps and folds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from inboxlink.domain.sending_window import SendingWindow, add_business_days, next_send_time, to_instant

BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 12, 2), 1, date(2026, 12, 3)),  # Wed → Thu
        (date(2026, 12, 4), 1, date(2026, 12, 7)),  # Fri → Mon
        (date(2026, 12, 4), 3, date(2026, 12, 9)),  # Fri → Wed
        (date(2026, 12, 5), 0, date(2026, 12, 7)),  # Sat, 0 days → Mon
        (date(2026, 12, 6), 1, date(2026, 12, 8)),  # Sun → Tue
    ],
)
def test_business_days(start: date, days: int, expected: date) -> None:
    assert add_business_days(start, days) == expected


@pytest.mark.parametrize(
    ("previous", "days", "zone", "expected"),
    [
        # Wed 10:00 Berlin (09:00 UTC) + 2 → Fri 10:00 Berlin
        (datetime(2026, 12, 2, 9, 0, tzinfo=UTC), 2, BERLIN, datetime(2026, 12, 4, 9, 0, tzinfo=UTC)),
        # Fri 16:30 Berlin + 1 → Mon 16:30 Berlin
        (datetime(2026, 12, 4, 15, 30, tzinfo=UTC), 1, BERLIN, datetime(2026, 12, 7, 15, 30, tzinfo=UTC)),
        # Thu 19:00 Berlin (after the window) + 1 → Fri is the step's day, but 19:00 is past: Mon 09:00
        (datetime(2026, 12, 3, 18, 0, tzinfo=UTC), 1, BERLIN, datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        # 06:00 Berlin (before the window) + 1 → the next day at 09:00
        (datetime(2026, 12, 2, 5, 0, tzinfo=UTC), 1, BERLIN, datetime(2026, 12, 3, 8, 0, tzinfo=UTC)),
        # The same instant is a different weekday in Tokyo: Fri 23:30 UTC is Sat 08:30 there → Mon 09:00 (+1 → Tue)
        (datetime(2026, 12, 4, 23, 30, tzinfo=UTC), 1, "Asia/Tokyo", datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        # Across the spring-forward change: Fri 10:00 CET + 1 → Mon 10:00 CEST (one hour less in UTC)
        (datetime(2026, 3, 27, 9, 0, tzinfo=UTC), 1, BERLIN, datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        # Across the autumn change, New York: Fri 10:00 EDT + 1 → Mon 10:00 EST
        (
            datetime(2026, 10, 30, 14, 0, tzinfo=UTC),
            1,
            "America/New_York",
            datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        ),
        # 0 days inside the window: right away
        (datetime(2026, 12, 2, 9, 0, tzinfo=UTC), 0, BERLIN, datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
    ],
)
def test_next_send_time(previous: datetime, days: int, zone: str, expected: datetime) -> None:
    assert next_send_time(previous, days, zone) == expected


def test_gap_moves_forward_and_fold_takes_the_first() -> None:
    berlin = ZoneInfo(BERLIN)
    assert to_instant(date(2026, 3, 29), time(2, 30), berlin) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert to_instant(date(2026, 10, 25), time(2, 30), berlin) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_weekend_send_moves_to_monday_at_the_same_local_time() -> None:
    # Sunday 29 March 03:15 CEST, just after the change: Monday 03:15 CEST, inside an early window.
    previous = datetime(2026, 3, 29, 1, 15, tzinfo=UTC)
    window = SendingWindow(time(2, 30), time(4, 0))
    assert next_send_time(previous, 0, BERLIN, window) == datetime(2026, 3, 30, 1, 15, tzinfo=UTC)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        SendingWindow(time(17), time(9))
    with pytest.raises(ValueError):
        next_send_time(datetime(2026, 1, 1), 1, BERLIN)
    with pytest.raises(ValueError):
        next_send_time(datetime(2026, 1, 1, tzinfo=UTC), -1, BERLIN)
