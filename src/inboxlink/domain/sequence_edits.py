"""Where an active enrolment is after its sequence's steps are changed (issue 16 follow-up).

An edit says, for each new step, which saved step it is (`kept[i]`, its old position) or that it
is new (None); saved steps no new step names were removed. An enrolment waits for the first step
after the last kept step it has had: so one waiting for a step that is kept still waits for that
step, whatever its new number (removing an earlier step makes nobody skip one), and one waiting
for a removed step gets the step after it. A step added before where an enrolment is is not sent
to it. Positions are counted from 0."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["kept_by_number", "next_step_after_edit", "positions_after_edit"]


def kept_by_number(old_count: int, new_count: int) -> list[int | None]:
    """Steps matched by number (an edit that does not say which saved step is which): step n is
    saved step n; steps past the old last one are new."""
    return [n if n < old_count else None for n in range(new_count)]


def next_step_after_edit(kept: Sequence[int | None], next_step: int) -> int:
    """The new number of the step an enrolment at old `next_step` waits for (`len(kept)` or more:
    it has had every step left)."""
    after = 0
    for position, was in enumerate(kept):
        if was is not None and was < next_step:
            after = position + 1
    return after


def positions_after_edit(kept: Sequence[int | None]) -> dict[int, int]:
    """Old position → new position of each kept step (a removed one has none)."""
    return {was: position for position, was in enumerate(kept) if was is not None}
