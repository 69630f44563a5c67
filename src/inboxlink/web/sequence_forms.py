"""The sequence form of the pages, shared by "New sequence" (/sequences) and "Edit sequence"
(/sequences/{id}/edit; templates/_sequence_form.html renders both): what its rows hold, reading a
posted form back into the service's body, and the service's refusals worded for a person and
placed next to the field they are about (the service names `steps[1].delay_days`; the page says
"Step 2" under that row's delay)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from inboxlink.services.errors import ServiceError
from inboxlink.services.mail.sequences import MAX_DELAY_DAYS, MAX_STEPS
from inboxlink.web.deps import form_int, text

__all__ = [
    "FORM_STEPS",
    "SequenceForm",
    "blank_form",
    "error_summary",
    "form_errors",
    "form_of",
    "read_form",
    "unknown_templates",
]

FORM_STEPS = 3  # step rows the form shows at least; an empty row is left out
_STEP_FIELD = re.compile(r"steps\[(\d+)\](?:\.(\w+))?")
# The form field (its element id) a service field is shown under.
_SETTING_IDS = {
    "name": "seq-name",
    "time_zone": "seq-zone",
    "window_start": "seq-start",
    "window_end": "seq-end",
}
# "steps[n].template_id" (neither a template nor a subject or text) goes under the subject: a
# form of a team without templates has no template field.
_STEP_IDS = {
    "delay_days": "delay",
    "subject": "subject",
    "template_id": "subject",
    "same_thread": "same-thread",
}


@dataclass
class SequenceForm:
    """The form as shown (or as posted): the settings, one dict per step row, and the steps the
    filled-in rows make with the row each came from (to put an error under the right row)."""

    values: dict[str, Any]
    rows: list[dict[str, Any]]
    steps: list[dict[str, Any]] = field(default_factory=list)
    step_rows: list[int] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """The body of `create_sequence` / `update_sequence`."""
        return {**self.values, "steps": self.steps}


def _blank_row(n: int) -> dict[str, Any]:
    return {"subject": "", "text": "", "template": "", "delay": "0" if n == 0 else "3",
            "same_thread": n > 0, "saved": False, "remove": False}  # fmt: skip


def blank_form() -> SequenceForm:
    values = {"name": "", "time_zone": "UTC", "window_start": "09:00", "window_end": "17:00",
              "stop_on_company_reply": False, "stop_on_auto_reply": False}  # fmt: skip
    return SequenceForm(values, [_blank_row(n) for n in range(FORM_STEPS)])


def form_of(sequence: Mapping[str, Any]) -> SequenceForm:
    """The edit form of a saved sequence: its steps, then blank rows to add steps with."""
    keys = ("name", "time_zone", "window_start", "window_end", "stop_on_company_reply", "stop_on_auto_reply")
    steps: Sequence[Mapping[str, Any]] = sequence["steps"]
    rows = [
        {"subject": s["subject"], "text": s["text"],
         "template": "" if s["template_id"] is None else str(s["template_id"]),
         "delay": str(s["delay_days"]), "same_thread": bool(s["same_thread"]), "saved": True, "remove": False}
        for s in steps
    ]  # fmt: skip
    total = min(MAX_STEPS, max(FORM_STEPS, len(rows) + 1))
    rows += [_blank_row(n) for n in range(len(rows), total)]
    return SequenceForm({k: sequence[k] for k in keys}, rows)


def _steps_from(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The steps the rows make, in order, and each one's row: a removed or empty row is left out
    (the steps after it move up). A saved row says which saved step it is (the saved rows come
    first, in order: row n is the step at position n), so whoever waits for it still does."""
    steps, step_rows = [], []
    for n, row in enumerate(rows):
        template_id = form_int(row["template"])
        if row["remove"] or not (row["subject"] or row["text"] or template_id is not None):
            continue
        delay = form_int(row["delay"] or "0")
        steps.append(
            {"template_id": template_id, "subject": row["subject"], "text": row["text"],
             "delay_days": -1 if delay is None else delay, "same_thread": row["same_thread"],
             "position": n if row["saved"] else None}
        )  # fmt: skip
        step_rows.append(n)
    return steps, step_rows


def read_form(form: FormData) -> SequenceForm:
    values = {
        "name": text(form, "name"),
        "time_zone": text(form, "time_zone") or "UTC",
        "window_start": text(form, "window_start") or "09:00",
        "window_end": text(form, "window_end") or "17:00",
        "stop_on_company_reply": form.get("stop_on_company_reply") == "on",
        "stop_on_auto_reply": form.get("stop_on_auto_reply") == "on",
    }
    rows = []
    # One row more than a sequence may have steps: a form with 21 filled rows gets the service's
    # "at most 20" rather than losing a step without a word. Rows end at the first one not posted.
    for n in range(MAX_STEPS + 1):
        if f"delay_{n}" not in form and f"subject_{n}" not in form:
            break
        rows.append(
            {"subject": text(form, f"subject_{n}"), "text": text(form, f"text_{n}"),
             "template": text(form, f"template_{n}"), "delay": text(form, f"delay_{n}"),
             "same_thread": form.get(f"same_thread_{n}") == "on", "saved": form.get(f"saved_{n}") == "1",
             "remove": form.get(f"remove_{n}") == "on"}
        )  # fmt: skip
    steps, step_rows = _steps_from(rows)
    return SequenceForm(values, rows, steps, step_rows)


def unknown_templates(form: SequenceForm, template_ids: Collection[object]) -> dict[str, str]:
    """Rows whose template the team does not have (deleted since, or a forged id), each under its
    template field; the service would only say "no template with that id" for the whole form."""
    errors = {}
    for step, n in zip(form.steps, form.step_rows, strict=True):
        if step["template_id"] is not None and step["template_id"] not in template_ids:
            errors[f"template-{n}"] = (
                "That template no longer exists; choose another, or write the step here."
            )
    return errors


def _step_message(part: str | None) -> str:
    if part == "delay_days":
        return f"Enter a whole number of business days from 0 to {MAX_DELAY_DAYS}."
    if part == "same_thread":
        return (
            "This is now the first step, so there is no earlier email to reply to: untick "
            "“As a reply in the same thread” and give it a subject."
        )
    if part == "position":
        return "The sequence was changed meanwhile (in another tab?): reload the page and make your change again."
    if part == "subject":
        return "Give this step a subject, choose a template, or send it as a reply in the same thread."
    return "Choose a template, or write a subject and text."


def form_errors(exc: ServiceError, form: SequenceForm) -> dict[str, str]:
    """The refusal as {element id: sentence}: under its field where it names one (a step's field
    under that step's row), else under the steps ("steps") or the form as a whole ("form")."""
    where = exc.field or ""
    if where in _SETTING_IDS:
        if where == "time_zone":
            zone = form.values["time_zone"]
            message = (
                f"“{zone}” is not a time zone we know; use a name such as Europe/Berlin or America/New_York."
            )
        elif exc.code == "invalid_field" and "time of day" in exc.message:
            message = "Enter a time of day like 09:00."
        else:
            message = (
                exc.message
            )  # "A sequence needs a name.", "The sending window must start before it ends."
        return {_SETTING_IDS[where]: message}
    step = _STEP_FIELD.fullmatch(where)
    if step is not None and int(step.group(1)) < len(form.step_rows):
        n = form.step_rows[int(step.group(1))]
        part = step.group(2)
        kind = _STEP_IDS.get(part or "", "subject")
        if n == 0 and kind == "same-thread":
            kind = "subject"  # the first row has no such box (a forged form posted one)
        return {f"{kind}-{n}": _step_message(part)}
    if where == "steps":
        return {"steps": exc.message}  # "A sequence needs at least one step." / "… at most 20 steps."
    if exc.code == "template_not_found":
        return {"form": "A template chosen for a step no longer exists; choose another."}
    return {"form": exc.message}


def error_summary(errors: Mapping[str, str]) -> list[dict[str, str]]:
    """The entries of _error_summary.html: each links to its field."""
    labels = {"seq-name": "Name", "seq-zone": "Time zone", "seq-start": "Sending window",
              "seq-end": "Sending window", "steps": "Steps", "form": "Sequence"}  # fmt: skip
    summary = []
    for fid, message in errors.items():
        href = "#step-rows" if fid in ("steps", "form") else f"#{fid}"
        row = re.fullmatch(r"[a-z-]+-(\d+)", fid)
        label = labels.get(fid) or (f"Step {int(row.group(1)) + 1}" if row else "Sequence")
        summary.append({"href": href, "label": label, "message": message})
    return summary
