"""When a scheduled email may go out: `send_at` as the API takes it (ISO 8601 with a time zone, in
the future, within a year)."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_AHEAD = timedelta(days=366)
# A send_at a moment in the past (the clock of the browser that picked it, the request's own time)
# is still "now"; anything older is a mistake the user should hear about.
GRACE = timedelta(seconds=60)


class BadSendAt(ValueError):
    """Not a time we can schedule; the message says why."""


def parse_send_at(value: object, current: datetime) -> datetime:
    """The moment to send (aware, UTC offset kept) or BadSendAt."""
    if not isinstance(value, str) or not value.strip():
        raise BadSendAt("send_at must be an ISO 8601 date and time, e.g. 2026-12-03T09:00:00+01:00.")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadSendAt(
            f"send_at “{value[:40]}” is not an ISO 8601 date and time (e.g. 2026-12-03T09:00:00+01:00)."
        ) from exc
    if when.tzinfo is None or when.utcoffset() is None:
        raise BadSendAt("send_at needs a time zone: end it with Z or an offset such as +01:00.")
    if when < current - GRACE:
        raise BadSendAt(
            f"send_at {when.isoformat()} is in the past; pick a time after {current.isoformat()}."
        )
    if when > current + MAX_AHEAD:
        raise BadSendAt("send_at is more than a year ahead.")
    return when
