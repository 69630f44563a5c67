"""Sequences from the pages over HTTP (forms with CSRF, as a browser without JavaScript posts them):
create, then edit on /sequences/{id}/edit — the form prefilled, a step changed, one removed, one
added; refusals in words under their field with what was typed kept (422), the same words on the
create form; another team's sequence is a 404 and stays as it was."""

from __future__ import annotations

import re
from typing import Any

from tests.support.forms import form_values
from tests.support.web import sign_in

SEQUENCE = {
    "name": "After the demo",
    "time_zone": "Europe/Berlin",
    "window_start": "08:30",
    "window_end": "16:00",
    "stop_on_auto_reply": True,
    "steps": [
        {"subject": "Our demo", "text": "Thanks for your time today.", "delay_days": 0},
        {"text": "Any questions?", "delay_days": 2, "same_thread": True},
        {"subject": "Last note", "text": "I'll close your file.", "delay_days": 5},
    ],
}


def _error(html: str, fid: str) -> str:
    """The text shown under the field `fid` ("" when none)."""
    found = re.search(rf'<p class="field-error" id="{fid}-error"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error slot for {fid}"
    return found.group(1).strip()


async def _made(user: Any) -> dict[str, Any]:
    resp = await user.post("/api/v1/sequences", SEQUENCE)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def test_edit_a_sequence_change_remove_and_add_steps(app):
    user = await app.user("seller@crm.test")
    greeting = (await user.post("/api/v1/templates", {"name": "Nudge", "subject": "Hi", "text": "x"})).json()
    sequence = await _made(user)
    await sign_in(app.client, "seller@crm.test")
    page = await app.client.get(f"/sequences/{sequence['id']}")
    assert f'href="/sequences/{sequence["id"]}/edit"' in page.text and "Edit sequence" in page.text

    url = f"/sequences/{sequence['id']}/edit"
    edit = await app.client.get(url)
    assert edit.status_code == 200
    fields = form_values(edit.text, url)
    # Prefilled with what the sequence is: settings, each step, and a blank row to add one.
    assert (fields["name"], fields["time_zone"], fields["window_start"], fields["window_end"]) == (
        "After the demo", "Europe/Berlin", "08:30", "16:00",
    )  # fmt: skip
    assert fields["stop_on_auto_reply"] == "on" and "stop_on_company_reply" not in fields
    assert [fields[f"subject_{n}"] for n in range(3)] == ["Our demo", "", "Last note"]
    assert fields["text_1"] == "Any questions?" and fields["delay_1"] == "2" and fields["delay_2"] == "5"
    assert fields["same_thread_1"] == "on" and "same_thread_2" not in fields
    assert fields["subject_3"] == fields["text_3"] == "" and "saved_3" not in fields
    assert fields["template_0"] == ""
    assert "Active enrolments" not in edit.text  # nobody is enrolled: nothing to warn about

    # Step 2 reworded and sooner, step 3 removed, a templated step added in the blank row.
    fields.update({"text_1": "Any questions about the demo?", "delay_1": "1", "remove_2": "on",
                   "template_3": str(greeting["id"]), "delay_3": "4", "name": "After the demo (v2)"})  # fmt: skip
    fields.pop("same_thread_3", None)
    saved = await app.client.post(url, data=fields)
    assert saved.status_code == 303 and saved.headers["location"] == f"/sequences/{sequence['id']}?saved=1"
    got = (await user.get(f"/api/v1/sequences/{sequence['id']}")).json()
    assert got["name"] == "After the demo (v2)" and got["stop_on_auto_reply"] is True
    assert [
        (s["subject"], s["text"], s["delay_days"], s["same_thread"], s["template_id"]) for s in got["steps"]
    ] == [
        ("Our demo", "Thanks for your time today.", 0, False, None),
        ("", "Any questions about the demo?", 1, True, None),
        ("", "", 4, False, greeting["id"]),
    ]
    shown = (await app.client.get(saved.headers["location"])).text
    assert 'id="sequence-saved"' in shown
    assert "Any questions about the demo?" in shown and "I&#39;ll close your file." not in shown
    assert "1 business day after the previous step" in shown and "template “Nudge”" in shown

    # Clearing a row takes that step out too.
    fields = form_values((await app.client.get(url)).text, url)
    fields.update({"subject_0": "", "text_0": "", "subject_1": "About the demo"})
    fields.pop("same_thread_1")  # the second step is now the first: not a reply
    assert (await app.client.post(url, data=fields)).status_code == 303
    got = (await user.get(f"/api/v1/sequences/{sequence['id']}")).json()
    assert [s["subject"] for s in got["steps"]] == ["About the demo", ""]


async def test_refusals_are_worded_under_their_field_and_keep_what_was_typed(app):
    user = await app.user("seller@crm.test")
    doomed = (await user.post("/api/v1/templates", {"name": "Old", "subject": "Hi", "text": "x"})).json()
    sequence = await _made(user)
    await sign_in(app.client, "seller@crm.test")
    url = f"/sequences/{sequence['id']}/edit"
    untouched = form_values((await app.client.get(url)).text, url)

    cases = [
        ({"time_zone": "Mars/Olympus", "name": "Renamed"}, "seq-zone", "“Mars/Olympus” is not a time zone we know"),
        ({"name": " "}, "seq-name", "A sequence needs a name."),
        ({"window_start": "18:00", "window_end": "09:00"}, "seq-end", "The sending window must start before it ends."),
        ({"window_start": "9am"}, "seq-start", "Enter a time of day like 09:00."),
        ({"delay_1": "-4"}, "delay-1", "Enter a whole number of business days from 0 to 365."),
        ({"delay_2": "soon"}, "delay-2", "Enter a whole number of business days from 0 to 365."),
        ({"subject_2": ""}, "subject-2", "Give this step a subject"),
        ({"remove_0": "on"}, "same-thread-1", "This is now the first step"),
        ({"remove_0": "on", "remove_1": "on", "remove_2": "on"}, "steps", "A sequence needs at least one step."),
        ({"template_3": str(doomed["id"] + 1000)}, "template-3", "That template no longer exists"),
    ]  # fmt: skip
    for change, fid, words in cases:
        resp = await app.client.post(url, data={**untouched, **change})
        assert resp.status_code == 422, (change, resp.text[:300])
        assert words in _error(resp.text, fid), (change, _error(resp.text, fid))
        assert (
            'id="error-summary"' in resp.text
            and f'href="#{"step-rows" if fid == "steps" else fid}"' in resp.text
        )
        kept = form_values(resp.text, url)  # what was typed is still there
        for name, value in change.items():
            assert kept[name] == value.strip(), (name, kept.get(name))
        assert kept["text_1"] == "Any questions?"
    assert (await user.get(f"/api/v1/sequences/{sequence['id']}")).json()["name"] == "After the demo"

    # A step's template deleted since: the form says so and shows it chosen, not silently "None".
    steps = [{"template_id": doomed["id"], "delay_days": 0}]
    templated = (await user.post("/api/v1/sequences", {"name": "T", "steps": steps})).json()
    assert (await user.delete(f"/api/v1/templates/{doomed['id']}")).status_code in (200, 204)
    t_url = f"/sequences/{templated['id']}/edit"
    fields = form_values((await app.client.get(t_url)).text, t_url)
    assert fields["template_0"] == str(doomed["id"])
    resp = await app.client.post(t_url, data=fields)
    assert resp.status_code == 422 and "That template no longer exists" in _error(resp.text, "template-0")

    # The create form says the same things in the same places.
    new = form_values((await app.client.get("/sequences")).text, "/sequences")
    new.update({"name": "Fresh", "time_zone": "Mars/Olympus", "subject_0": "Hi", "text_0": "Hello"})
    resp = await app.client.post("/sequences", data=new)
    assert resp.status_code == 422 and "“Mars/Olympus” is not a time zone we know" in _error(
        resp.text, "seq-zone"
    )
    assert form_values(resp.text, "/sequences")["name"] == "Fresh"
    new.update({"time_zone": "UTC", "delay_0": "400"})
    resp = await app.client.post("/sequences", data=new)
    assert resp.status_code == 422 and "from 0 to 365" in _error(resp.text, "delay-0")
    # Only the second row filled: it is the first step and cannot be a reply.
    new.update({"delay_0": "0", "subject_0": "", "text_0": "", "text_1": "Follow-up", "same_thread_1": "on"})
    resp = await app.client.post("/sequences", data=new)
    assert resp.status_code == 422 and "This is now the first step" in _error(resp.text, "same-thread-1")
    names = [s["name"] for s in (await user.get("/api/v1/sequences")).json()["items"]]
    assert names == ["After the demo", "T"]


async def test_another_teams_sequence_cannot_be_edited(app):
    owner = await app.user("seller@crm.test")
    sequence = await _made(owner)
    await app.user("eve@elsewhere.test", team="elsewhere")
    await sign_in(app.client, "seller@crm.test")
    url = f"/sequences/{sequence['id']}/edit"
    fields = form_values((await app.client.get(url)).text, url)

    app.client.cookies.clear()
    await sign_in(app.client, "eve@elsewhere.test")
    assert (await app.client.get(url)).status_code == 404
    own = form_values((await app.client.get("/sequences")).text, "/sequences")
    resp = await app.client.post(url, data={**fields, "csrf_token": own["csrf_token"], "name": "Hijacked"})
    assert resp.status_code == 404 and "Hijacked" not in resp.text
    assert (await app.client.get("/sequences/999999/edit")).status_code == 404
    assert (await owner.get(f"/api/v1/sequences/{sequence['id']}")).json()["name"] == "After the demo"
