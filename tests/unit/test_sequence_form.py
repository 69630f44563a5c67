"""The sequence form read back (web/sequence_forms.py), table-driven: which rows become steps and
in what order, what a removed, emptied or hostile row does, and which field a service refusal is
shown under (the row a step came from, not its new position)."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from inboxlink.services.errors import ServiceError
from inboxlink.web.sequence_forms import form_errors, read_form, unknown_templates


def _form(**fields: str) -> FormData:
    return FormData({"name": "Seq", **fields})


@pytest.mark.parametrize(
    ("fields", "steps", "rows"),
    [
        # Filled rows in order; an empty row (only its default delay) is left out.
        ({"subject_0": "A", "delay_0": "0", "subject_1": "", "delay_1": "3", "subject_2": "C", "delay_2": "2"},
         [("A", 0), ("C", 2)], [0, 2]),
        # "Remove this step" takes a saved row out whatever it holds.
        ({"subject_0": "A", "delay_0": "0", "saved_0": "1", "remove_0": "on", "subject_1": "B", "delay_1": "1"},
         [("B", 1)], [1]),
        # Not a number, a negative one, a superscript digit: the service's range error, not a crash.
        ({"subject_0": "A", "delay_0": "soon"}, [("A", -1)], [0]),
        ({"subject_0": "A", "delay_0": "-3"}, [("A", -1)], [0]),
        ({"subject_0": "A", "delay_0": "²"}, [("A", -1)], [0]),
        # A template alone makes a step; an empty delay is 0.
        ({"template_0": "7", "delay_0": ""}, [("", 0)], [0]),
        # Rows end at the first one not posted: row 5 after a gap is not read.
        ({"subject_0": "A", "delay_0": "0", "subject_5": "F", "delay_5": "1"}, [("A", 0)], [0]),
    ],
)  # fmt: skip
def test_rows_to_steps(fields: dict[str, str], steps: list[tuple[str, int]], rows: list[int]) -> None:
    form = read_form(_form(**fields))
    assert [(s["subject"], s["delay_days"]) for s in form.steps] == steps
    assert form.step_rows == rows


def test_one_row_more_than_allowed_is_read_so_the_service_can_refuse_it() -> None:
    fields = {f"subject_{n}": f"S{n}" for n in range(25)} | {f"delay_{n}": "1" for n in range(25)}
    assert len(read_form(_form(**fields)).steps) == 21


@pytest.mark.parametrize(
    ("field", "code", "message", "shown_under", "words"),
    [
        ("steps[0].delay_days", "invalid_field", "x", "delay-2", "business days from 0 to 365"),
        ("steps[1].subject", "field_required", "x", "subject-4", "Give this step a subject"),
        ("steps[0].same_thread", "invalid_field", "x", "same-thread-2", "This is now the first step"),
        ("steps[1].template_id", "field_required", "x", "subject-4", "Choose a template"),
        ("time_zone", "invalid_field", "x", "seq-zone", "“Mars/Olympus” is not a time zone we know"),
        ("window_start", "invalid_field", "window_start must be a time of day like 09:00.", "seq-start", "Enter a time"),
        ("steps", "field_required", "A sequence needs at least one step.", "steps", "at least one step"),
        (None, "template_not_found", "No template with that id exists.", "form", "no longer exists"),
    ],
)  # fmt: skip
def test_a_refusal_is_shown_under_the_row_it_came_from(
    field: str | None, code: str, message: str, shown_under: str, words: str
) -> None:
    # Rows 0, 1 and 3 were removed or left empty: step 0 came from row 2, step 1 from row 4.
    fields = {"time_zone": "Mars/Olympus", "subject_2": "C", "delay_2": "1", "subject_4": "E", "delay_4": "1"}
    fields |= {f"delay_{n}": "1" for n in (0, 1, 3)}
    form = read_form(_form(**fields))
    assert form.step_rows == [2, 4]
    errors = form_errors(ServiceError(code, message, field=field), form)
    assert list(errors) == [shown_under] and words in errors[shown_under]


def test_a_template_the_team_does_not_have_is_named_on_its_row() -> None:
    form = read_form(_form(template_0="3", delay_0="0", template_1="99", delay_1="1"))
    assert unknown_templates(form, {3}) == {
        "template-1": "That template no longer exists; choose another, or write the step here."
    }
