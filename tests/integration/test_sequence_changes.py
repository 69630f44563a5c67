"""Sequences when the records around them change: contacts merged (enrolments move), the sequence
edited (active enrolments carry on), an enrolment ended by hand. Real Dovecot and SMTP server; the
helpers and the job runner fixture are test_sequences.py's."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_sequences import (
    STEPS,
    advance_to,
    enrolment,
    jobs_running,  # noqa: F401 (a fixture)
    settled,
    setup,
    step_sent,
)
from tests.support.app import wait_for
from tests.support.forms import form_values
from tests.support.web import sign_in

pytestmark = pytest.mark.usefixtures("jobs_running")


async def test_merging_contacts_keeps_their_enrolments(app, mail_server, provider_smtp, mail_user):
    """The duplicate's enrolments move to the kept contact (the delete used to cascade them away);
    both active in the same sequence: the kept one's goes on, the duplicate's ends as `merged`."""
    user, inbox, keep, sequence, kept_enrolment = await setup(app, mail_server, provider_smtp, mail_user)
    dup = (await user.post("/api/v1/contacts", {"email": "chris.private@prospect.test"})).json()
    other = (
        await user.post(
            "/api/v1/sequences",
            {"name": "Newsletter follow-up", "time_zone": "UTC", "window_start": "00:00",
             "window_end": "23:59", "steps": [{**STEPS[0], "delay_days": 1}]},
        )
    ).json()  # fmt: skip
    for seq in (sequence, other):
        resp = await user.post(
            f"/api/v1/sequences/{seq['id']}/enrolments", {"inbox_id": inbox["id"], "contact_ids": [dup["id"]]}
        )
        assert resp.status_code == 201, resp.text
    merged = await user.post(f"/api/v1/contacts/{keep['id']}/merge", {"other_id": dup["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged"]["enrolments"] == 2
    items = (await user.get(f"/api/v1/contacts/{keep['id']}/enrolments")).json()["items"]
    got = sorted((e["sequence_id"], e["status"], e["stop_reason"]) for e in items)
    assert got == sorted(
        [
            (sequence["id"], "active", None),
            (sequence["id"], "stopped", "merged"),
            (other["id"], "active", None),
        ]
    )
    assert next(e for e in items if e["id"] == kept_enrolment["id"])["status"] == "active"
    await sign_in(app.client, "seller@crm.test")
    page = (await app.client.get(f"/contacts/{keep['id']}")).text
    assert "Newsletter follow-up" in page and "Contacts merged" in page


async def test_an_edit_carries_active_enrolments_on(app, mail_server, provider_smtp, mail_user):
    """Step 1 sent, the contact waits for step 2. On the edit page step 2 is reworded: it is sent
    next, at the time set before, in its new words. Then the last step is removed: the enrolment,
    waiting for it, finishes at once, and when its old send time comes nothing is sent."""
    steps = [*STEPS, {"text": "Closing the loop.", "delay_days": 3, "same_thread": True}]
    user, _inbox, contact, sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    keep = {k: sequence[k] for k in ("name", "time_zone", "window_start", "window_end")}
    put = await user.put(f"/api/v1/sequences/{sequence['id']}", {**keep, "steps": steps})
    assert put.status_code == 200, put.text
    current, first = await step_sent(app, user, enrolled, contact["id"], 1)
    assert current["next_step"] == 1

    await sign_in(app.client, "seller@crm.test")
    page_url = f"/sequences/{sequence['id']}/edit"
    page = await app.client.get(page_url)
    assert re.search(r"Enrolled right now: 1 waiting for step 2\.", page.text)
    assert "whoever waits for a step still waits for that step" in page.text
    fields = form_values(page.text, page_url)
    fields.update({"text_1": "Reworded follow-up."})
    assert (await app.client.post(page_url, data=fields)).status_code == 303
    same = await enrolment(user, enrolled["id"], contact["id"])
    assert (same["status"], same["next_step"], same["next_run_at"]) == ("active", 1, current["next_run_at"])
    waiting, second = await step_sent(app, user, enrolled, contact["id"], 2)
    assert second["subject"] == "Re: Our offer" and second["text"].startswith("Reworded follow-up.")
    assert waiting["status"] == "active" and waiting["next_step"] == 2

    fields = form_values((await app.client.get(page_url)).text, page_url)
    assert (await app.client.post(page_url, data={**fields, "remove_2": "on"})).status_code == 303
    ended = await enrolment(user, enrolled["id"], contact["id"])
    assert (ended["status"], ended["stop_reason"], ended["next_run_at"]) == ("finished", "completed", None)
    assert (
        ended["history"][-1]["kind"] == "finished" and ended["history"][-1]["detail"]["steps_removed"] is True
    )
    await advance_to(app, waiting["next_run_at"])
    await wait_for(lambda: settled(app, enrolled["id"]), timeout=20)
    final = await enrolment(user, enrolled["id"], contact["id"])
    assert [e["email_id"] for e in final["emails"]] == [first["id"], second["id"]]
    shown = (await app.client.get(f"/sequences/{sequence['id']}")).text
    assert 'data-enrolment-status="finished"' in shown and "All steps sent" in shown
    record = (await app.client.get(f"/contacts/{contact['id']}")).text
    assert "the steps it had left were removed from the sequence" in record


async def test_unenrol_goes_back_to_a_local_page_only(app, mail_server, provider_smtp, mail_user):
    _user, _inbox, contact, _sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    await sign_in(app.client, "seller@crm.test")
    page = (await app.client.get(f"/contacts/{contact['id']}")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = f"/enrolments/{enrolled['id']}/unenrol"
    for hostile in ("/\\evil.com", "//evil.com", "/\t/evil.com", "https://evil.com"):
        resp = await app.client.post(url, data={"csrf_token": token, "back": hostile})
        assert resp.status_code == 303 and resp.headers["location"] == "/sequences", hostile
    back = f"/contacts/{contact['id']}#sequences"
    resp = await app.client.post(url, data={"csrf_token": token, "back": back})
    assert resp.status_code == 303 and resp.headers["location"] == back
    assert (await enrolment(_user, enrolled["id"], contact["id"]))["stop_reason"] == "unenrolled"
