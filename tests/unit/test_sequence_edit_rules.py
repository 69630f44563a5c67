"""Where an enrolment waits after its sequence's steps change (domain.sequence_edits)."""

from __future__ import annotations

import pytest

from inboxlink.domain.sequence_edits import kept_by_number, next_step_after_edit, positions_after_edit

# (old steps, new steps as old positions / None for new, old next_step, new next_step)
CASES = [
    ("A B C, B removed, waits for C", [0, 2], 2, 1),
    ("A B C D, B removed, waits for C", [0, 2, 3], 2, 1),
    ("A B C D, B removed, waits for D", [0, 2, 3], 3, 2),
    ("A B C, B removed, waits for B: gets C", [0, 2], 1, 1),
    ("A B C, A removed, waits for B", [1, 2], 1, 0),
    ("A B C, C removed, waits for C: finished", [0, 1], 2, 2),
    ("A B C, all removed, X Y new, waits for C", [None, None], 2, 0),
    ("A B C, X added after A, waits for C", [0, None, 1, 2], 2, 3),
    ("A B C, X added at the end, waits for C", [0, 1, 2, None], 2, 2),
    ("A B C, nothing changed, waits for B", [0, 1, 2], 1, 1),
    ("A B C, waits for A, B removed", [0, 2], 0, 0),
]


@pytest.mark.parametrize(("case", "kept", "before", "after"), CASES, ids=[c[0] for c in CASES])
def test_next_step_after_edit(case: str, kept: list[int | None], before: int, after: int) -> None:
    assert next_step_after_edit(kept, before) == after


def test_by_number_and_positions() -> None:
    assert kept_by_number(3, 2) == [0, 1]
    assert kept_by_number(2, 4) == [0, 1, None, None]
    assert next_step_after_edit(kept_by_number(3, 2), 2) == 2  # waits for a removed last step: done
    assert positions_after_edit([0, None, 2]) == {0: 0, 2: 2}
    assert positions_after_edit([1, 3]) == {1: 0, 3: 1}
