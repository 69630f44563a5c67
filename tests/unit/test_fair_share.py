"""The per-worker share of the inboxes (domain.fair_share): within one of N / W, summing to N."""

from __future__ import annotations

import pytest

from inboxlink.domain.fair_share import share_of


@pytest.mark.parametrize(
    ("inboxes", "workers", "shares"),
    [
        (6, ["a", "b", "c"], [2, 2, 2]),
        (10, ["a", "b", "c"], [4, 3, 3]),  # ceil(10 / 3) for everyone would allow 4/4/2
        (1000, ["a", "b", "c"], [334, 333, 333]),
        (3000, ["a", "b", "c"], [1000, 1000, 1000]),
        (2, ["a", "b", "c"], [1, 1, 0]),
        (0, ["a", "b"], [0, 0]),
        (7, ["a"], [7]),
        (5, ["b", "a"], [3, 2]),  # ranked by id, not by the order the database returned them
    ],
)
def test_shares_are_even_and_sum_to_the_inboxes(inboxes: int, workers: list[str], shares: list[int]) -> None:
    got = [share_of(inboxes, workers, me) for me in sorted(workers)]
    assert got == shares
    assert sum(got) == inboxes


def test_a_worker_missing_from_the_live_list_still_counts_itself() -> None:
    # Its own heartbeat may not be visible yet (e.g. read before the first one committed).
    assert share_of(4, ["a"], "b") == 2
    assert share_of(4, ["a", "a"], "a") == 4  # duplicates count once
