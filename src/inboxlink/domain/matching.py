"""Reply matching: does a new message answer an email we track?

Only the header summary is looked at. The candidates are the ids the message says it answers:
In-Reply-To first (the direct parent), then References from newest (last) to oldest, so the
nearest tracked ancestor wins when several are tracked. Matching is exact on the stored form (see
`message_ids`): an id that is one character off is a different message.

The lookup receives every candidate at once so storage can answer with one indexed `IN (...)` query
instead of one round trip per id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from inboxlink.domain.models import HeaderSummary

__all__ = ["MAX_CANDIDATES", "candidate_ids", "find_match"]

T = TypeVar("T")

# A hostile header can list thousands of ids; the newest ones are the only plausible parents, and
# the cap keeps the query under every database's bound-parameter limit.
MAX_CANDIDATES = 128


def candidate_ids(summary: HeaderSummary) -> tuple[str, ...]:
    """Ids to look up, best first: In-Reply-To, then References newest first; no duplicates."""
    seen: dict[str, None] = {}
    for message_id in (*summary.in_reply_to, *reversed(summary.references)):
        if message_id and message_id not in seen:
            seen[message_id] = None
            if len(seen) == MAX_CANDIDATES:
                break
    return tuple(seen)


def find_match(summary: HeaderSummary, lookup: Callable[[Sequence[str]], Mapping[str, T]]) -> T | None:
    """The tracked item for the best candidate id, or None.

    `lookup(ids)` returns what it knows, keyed by id. Only exact keys count, so a lookup backed by a
    case-insensitive collation cannot produce a near-miss match.
    """
    candidates = candidate_ids(summary)
    if not candidates:
        return None
    found = lookup(candidates)
    for message_id in candidates:
        if message_id in found:
            return found[message_id]
    return None
