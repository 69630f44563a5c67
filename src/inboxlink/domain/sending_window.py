"""When a sequence step goes out: N business days after the previous step, on a weekday, inside the
sender's sending window (e.g. 09:00–17:00), in the sender's time zone.

Business days are counted on the sender's calendar: from the local date of the previous send, N
weekdays forward (Saturday and Sunday are skipped; holidays are not known here). The step keeps the
previous send's local time of day, pulled into the window: before it → the window's start, after
it → the next business day's start. Local times are turned into instants with zoneinfo: a
wall-clock time that does not exist (the spring-forward gap) moves forward by the gap, one that
exists twice (the autumn fold) takes the first, so a step is never scheduled in the past or twice.
Pure: the clock and the zone are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["SendingWindow", "add_business_days", "next_send_time", "to_instant"]


@dataclass(frozen=True)
class SendingWindow:
    start: time = time(9, 0)
    end: time = time(17, 0)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("the sending window must start before it ends")


def is_business_day(day: date) -> bool:
    return day.weekday() < 5


def add_business_days(day: date, count: int) -> date:
    """`count` weekdays after `day` (0: `day` itself, or the next weekday when it is a weekend)."""
    while not is_business_day(day):
        day += timedelta(days=1)
    while count > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def to_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; gaps move forward, folds take the first."""
    # PEP 495: fold=0 reads a time in a gap with the offset from before it (so it lands after the
    # gap, at the same distance from its start) and a time in a fold as its first occurrence.
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def next_send_time(
    previous: datetime, business_days: int, zone_name: str, window: SendingWindow = SendingWindow()
) -> datetime:
    """The instant (UTC) of the step that comes `business_days` after `previous` (an aware instant)."""
    if previous.tzinfo is None:
        raise ValueError("previous must be an aware datetime")
    if business_days < 0:
        raise ValueError("business_days must not be negative")
    zone = ZoneInfo(zone_name)
    local = previous.astimezone(zone)
    day = add_business_days(local.date(), business_days)
    at = max(local.time().replace(tzinfo=None, fold=0), window.start)
    if at >= window.end:
        day, at = add_business_days(day + timedelta(days=1), 0), window.start
    candidate = to_instant(day, at, zone)
    return max(candidate, previous)
