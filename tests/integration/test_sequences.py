"""Sequences against a real Dovecot and SMTP server, with the app's clock moved forward instead of
waiting for business days: a reply stops the next step, an out-of-office does not, a DSN bounce
marks the step's email bounced and stops the sequence; one active enrolment per contact; team
isolation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from inboxlink.services.crm import erase
from inboxlink.services.mail import (
    replies,
    sequence_runs,
)  # sequence_runs: registers the step job, as the runner does
from inboxlink.services.platform import jobs
from inboxlink.services.platform.jobs import JobRunner
from inboxlink.services.platform.runtime import Clock, Runtime, now
from inboxlink.storage.platform_tables import jobs as jobs_table
from tests.integration.conftest import CLIENT
from tests.support import app as support
from tests.support.app import wait_for
from tests.support.flows import connect, monitor_connected, wait_sent
from tests.support.replies import dsn_for, make_reply
from tests.support.web import sign_in

STEPS = [
    {"subject": "Our offer", "text": "Hi Chris, here is our offer.", "delay_days": 0},
    {"text": "Just following up on our offer.", "delay_days": 2, "same_thread": True},
]


@pytest.fixture
async def jobs_running(app: support.TestApp) -> AsyncIterator[JobRunner]:
    runner = JobRunner(app.rt)
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)
        Clock.reset()


async def advance_to(app: support.TestApp, stamp: str) -> None:
    """Move the app's clock to `stamp` (a step's next_run_at) and wake the job runner."""
    target = datetime.fromisoformat(stamp)
    if target > now():
        Clock.advance(target - now())
    app.rt.jobs_wakeup.set()


async def enrolment(user: support.TestUser, enrolment_id: int, contact_id: int) -> dict[str, Any]:
    items = (await user.get(f"/api/v1/contacts/{contact_id}/enrolments")).json()["items"]
    return next(e for e in items if e["id"] == enrolment_id)


async def setup(
    app: support.TestApp, mail_server: Any, provider_smtp: Any, mail_user: Any, **flags: bool
) -> Any:
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    contact = (await user.post("/api/v1/contacts", {"email": CLIENT, "name": "Chris Client"})).json()
    resp = await user.post(
        "/api/v1/sequences",
        {"name": "After the demo", "time_zone": "Europe/Berlin", "window_start": "00:00",
         "window_end": "23:59", "steps": STEPS, **flags},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    sequence = resp.json()
    resp = await user.post(
        f"/api/v1/sequences/{sequence['id']}/enrolments",
        {"inbox_id": inbox["id"], "contact_ids": [contact["id"]]},
    )
    assert resp.status_code == 201, resp.text
    [enrolled] = resp.json()["items"]
    assert enrolled["status"] == "active" and enrolled["next_step"] == 0
    return user, inbox, contact, sequence, enrolled


async def step_sent(
    app: support.TestApp, user: support.TestUser, enrolled: dict[str, Any], contact_id: int, count: int
) -> Any:
    """Advance to the enrolment's next step and wait until `count` steps were queued and sent."""
    current = await enrolment(user, enrolled["id"], contact_id)
    await advance_to(app, current["next_run_at"])

    async def queued() -> Any:
        now_ = await enrolment(user, enrolled["id"], contact_id)
        return now_ if len(now_["emails"]) >= count else None

    current = await wait_for(queued, timeout=20)
    email = await wait_sent(user, current["emails"][count - 1]["email_id"])
    assert email["status"] == "sent", email["error"]
    return current, email


async def settled(app: support.TestApp, enrolment_id: int) -> bool:
    """The enrolment's step job has run (nothing pending that is due, nothing running)."""
    async with app.rt.engine.connect() as conn:
        rows = (
            await conn.execute(select(jobs_table).where(jobs_table.c.key == f"sequence:{enrolment_id}"))
        ).all()
    return bool(rows) and all(r.status == "done" for r in rows)


async def test_reply_stops_the_sequence_before_step_two(
    app, jobs_running, mail_server, provider_smtp, mail_user
):
    user, _inbox, contact, _sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    current, first = await step_sent(app, user, enrolled, contact["id"], 1)
    assert first["subject"] == "Our offer" and first["to"][0]["email"] == CLIENT
    assert current["status"] == "active" and current["next_step"] == 1
    _reply_id, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>", to=mail_user.email, subject="Re: Our offer",
        text="Thanks, let's talk.", in_reply_to=first["message_id"],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, raw)

    async def stopped() -> Any:
        e = await enrolment(user, enrolled["id"], contact["id"])
        return e if e["status"] == "stopped" else None

    ended = await wait_for(stopped, timeout=20)
    assert ended["stop_reason"] == "replied"
    assert [h["kind"] for h in ended["history"]] == ["enrolled", "step_sent", "stopped"]
    # Days later, the second step's time comes and goes: nothing is sent.
    Clock.advance(datetime.fromisoformat(current["next_run_at"]) - now())
    Clock.advance(timedelta(days=7))
    app.rt.jobs_wakeup.set()
    await wait_for(lambda: settled(app, enrolled["id"]), timeout=20)
    final = await enrolment(user, enrolled["id"], contact["id"])
    assert len(final["emails"]) == 1
    outbound = [
        e for e in (await user.get(f"/api/v1/contacts/{contact['id']}/emails")).json()["items"]
        if e["direction"] == "outbound"
    ]  # fmt: skip
    assert [e["id"] for e in outbound] == [first["id"]]


async def test_out_of_office_does_not_stop_it(app, jobs_running, mail_server, provider_smtp, mail_user):
    user, _inbox, contact, _sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    _current, first = await step_sent(app, user, enrolled, contact["id"], 1)
    _ooo_id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Automatic reply: Our offer",
        text="I am out of the office until Monday.", in_reply_to=first["message_id"],
    )  # fmt: skip
    mail_server.deliver(mail_user.email, b"Auto-Submitted: auto-replied\r\n" + raw)

    async def noted() -> Any:
        e = await enrolment(user, enrolled["id"], contact["id"])
        return e if any(h["kind"] == "auto_reply" for h in e["history"]) else None

    seen = await wait_for(noted, timeout=20)
    assert seen["status"] == "active"
    current, second = await step_sent(app, user, enrolled, contact["id"], 2)
    assert second["thread_id"] == first["thread_id"] and second["subject"] == "Re: Our offer"

    async def finished() -> Any:  # the last step's send and the enrolment's end may land a moment apart
        e = await enrolment(user, enrolled["id"], contact["id"])
        return e if e["status"] != "active" else None

    current = await wait_for(finished, timeout=20)
    assert current["status"] == "finished" and current["stop_reason"] == "completed"
    # The out-of-office is deleted (retention or forgetting its sender go through erase): the note
    # stays in the story, without its email or what was copied from it (sender, the subject rule).
    [ooo] = [h for h in current["history"] if h["kind"] == "auto_reply"]
    assert ooo["email_id"] and ooo["detail"]["sender"] == CLIENT
    async with app.rt.engine.begin() as conn:
        await erase.delete_emails(conn, [ooo["email_id"]])
    [ooo] = [
        h
        for h in (await enrolment(user, enrolled["id"], contact["id"]))["history"]
        if h["kind"] == "auto_reply"
    ]
    assert ooo["email_id"] is None and "sender" not in ooo["detail"] and "why" not in ooo["detail"]


async def test_bounce_marks_step_one_bounced_and_stops(
    app, jobs_running, mail_server, provider_smtp, mail_user
):
    user, inbox, contact, _sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    _current, first = await step_sent(app, user, enrolled, contact["id"], 1)
    # A report about mail we do not track, then a "delayed" one about ours: neither changes anything.
    mail_server.deliver(mail_user.email, dsn_for("someone-else@example.test", mail_user.email))
    delayed = dsn_for(first["message_id"], mail_user.email).replace(
        b"Action: failed\r\nStatus: 5.1.1", b"Action: delayed\r\nStatus: 4.4.1"
    )
    mail_server.deliver(mail_user.email, delayed)
    mail_server.deliver(mail_user.email, dsn_for(first["message_id"], mail_user.email))

    async def bounced() -> Any:
        e = (await user.get(f"/api/v1/emails/{first['id']}")).json()
        return e if e["status"] == "bounced" else None

    email = await wait_for(bounced, timeout=20)

    async def past_reports() -> bool:
        cursor = await replies.load_cursor(app.rt, inbox["id"], "INBOX")
        return cursor is not None and cursor.last_uid >= 3

    await wait_for(past_reports)  # all three were looked at; only the last one changed anything
    assert email["error"]["code"] == "bounced" and email["error"]["status"] == "5.1.1"
    assert "User unknown" in email["error"]["message"]
    ended = await enrolment(user, enrolled["id"], contact["id"])
    # The whole story on failure (it once ended "finished" in a loaded CI run: which step, when).
    story = [(h["kind"], h["at"], h["detail"]) for h in ended["history"]], str(Clock.offset), str(now())
    assert ended["status"] == "stopped" and ended["stop_reason"] == "bounced", story
    # On the timeline (API and page), as bounced; the report itself is not logged anywhere.
    items = (await user.get(f"/api/v1/contacts/{contact['id']}/emails")).json()["items"]
    assert [(e["id"], e["status"]) for e in items] == [(first["id"], "bounced")]
    events = (await user.get("/api/v1/events")).json()["items"]
    assert any(e["type"] == "email.failed" and e["data"]["status"] == "bounced" for e in events)


async def test_never_enrolled_twice_and_team_isolation(app, mail_server, provider_smtp, mail_user):
    user, inbox, contact, sequence, enrolled = await setup(app, mail_server, provider_smtp, mail_user)
    url = f"/api/v1/sequences/{sequence['id']}/enrolments"
    again = await user.post(url, {"inbox_id": inbox["id"], "contact_ids": [contact["id"]]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_enrolled"
    other = (await user.post("/api/v1/contacts", {"email": "pat@prospect.test"})).json()
    mixed = await user.post(url, {"inbox_id": inbox["id"], "contact_ids": [contact["id"], other["id"]]})
    assert mixed.status_code == 201
    assert [e["contact_id"] for e in mixed.json()["items"]] == [other["id"]]
    assert mixed.json()["errors"][0]["code"] == "already_enrolled"
    # Unenrolled, the contact can be enrolled again; the old enrolment stays in the history.
    gone = await user.delete(f"/api/v1/enrolments/{enrolled['id']}")
    assert gone.status_code == 200 and gone.json()["stop_reason"] == "unenrolled"
    assert (await user.delete(f"/api/v1/enrolments/{enrolled['id']}")).status_code == 409
    assert (
        await user.post(url, {"inbox_id": inbox["id"], "contact_ids": [contact["id"]]})
    ).status_code == 201
    history = (await user.get(f"/api/v1/contacts/{contact['id']}/enrolments")).json()["items"]
    assert [e["status"] for e in history] == ["active", "stopped"]

    stranger = await app.user("eve@elsewhere.test", team="elsewhere")
    assert (await stranger.get(f"/api/v1/sequences/{sequence['id']}")).status_code == 404
    assert (await stranger.get(url)).status_code == 404
    assert (await stranger.delete(f"/api/v1/enrolments/{history[0]['id']}")).status_code == 404
    assert (await stranger.get(f"/api/v1/contacts/{contact['id']}/enrolments")).status_code == 404
    assert (await stranger.get("/api/v1/sequences")).json()["items"] == []
    put = await stranger.put(f"/api/v1/sequences/{sequence['id']}", {"name": "x", "steps": STEPS})
    assert put.status_code == 404


async def test_bad_sequences_are_refused(app):
    user = await app.user("seller@crm.test")
    cases = [
        ({"name": "", "steps": STEPS}, "name"),
        ({"name": "x", "steps": []}, "steps"),
        ({"name": "x", "steps": [{"text": "no subject", "delay_days": 0}]}, "steps[0].subject"),
        ({"name": "x", "steps": [{"subject": "s", "same_thread": True}]}, "steps[0].same_thread"),
        ({"name": "x", "time_zone": "Mars/Olympus", "steps": STEPS}, "time_zone"),
        ({"name": "x", "window_start": "18:00", "window_end": "09:00", "steps": STEPS}, "window_end"),
        ({"name": "x", "window_start": "9am", "steps": STEPS}, "window_start"),
        ({"name": "x", "steps": [{"subject": "s", "delay_days": -1}]}, "steps[0].delay_days"),
    ]
    for body, field in cases:
        resp = await user.post("/api/v1/sequences", body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["field"] == field, (body, resp.text)
    assert (await user.get("/api/v1/sequences")).json()["items"] == []


def _backends() -> list[Any]:
    reason = support.postgres_reachable()
    return [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(reason is not None, reason=reason or "")),
    ]


@pytest.mark.parametrize("backend", _backends())
async def test_a_step_is_queued_once_by_two_workers(
    tmp_path, trust_test_ca, backend, mail_server, provider_smtp, mail_user
):
    """Two workers that both hold the step's job (a claim that expired under a slow worker): one
    email, one recorded step, on each database."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(support.fresh_postgres_db()) if backend == "postgresql" else None
        async with support.running_app(tmp_path / "data", url) as app:
            user, _inbox, contact, _sequence, enrolled = await setup(
                app, mail_server, provider_smtp, mail_user
            )
            second = Runtime.create(app.rt.settings)
            try:
                await advance_to(app, enrolled["next_run_at"])
                payload = {"enrolment_id": enrolled["id"]}
                await asyncio.gather(
                    sequence_runs.run_step(app.rt, payload), sequence_runs.run_step(second, payload)
                )
                current = await enrolment(user, enrolled["id"], contact["id"])
                assert len(current["emails"]) == 1 and current["next_step"] == 1
                emails = (await user.get(f"/api/v1/contacts/{contact['id']}/emails")).json()["items"]
                assert [e["subject"] for e in emails if e["direction"] == "outbound"] == ["Our offer"]
                assert [h["kind"] for h in current["history"]] == ["enrolled", "step_sent"]
            finally:
                await second.close()
                Clock.reset()


async def test_a_crm_send_that_bounces_shows_bounced(conversation, app, mail_server, mail_user):
    """No sequence: an email sent from the CRM, its DSN delivered to the INBOX (no In-Reply-To, the
    id only inside the report) → bounced in the API, the events feed and the contact's page."""
    user, _inbox, sent = conversation
    mail_server.deliver(mail_user.email, dsn_for(sent["message_id"], mail_user.email))

    async def bounced() -> Any:
        e = (await user.get(f"/api/v1/emails/{sent['id']}")).json()
        return e if e["status"] == "bounced" else None

    email = await wait_for(bounced, timeout=20)
    assert email["error"]["permanent"] is True and email["error"]["recipients"] == [CLIENT]
    await sign_in(app.client, "seller@crm.test")
    html = (await app.client.get(f"/contacts/{sent['contact_ids'][0]}")).text
    assert 'data-status="failed">Bounced<' in html and "User unknown" in html


async def test_template_steps_render_per_contact_and_a_missing_token_stops(
    app, jobs_running, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    greeting = await user.post(
        "/api/v1/templates",
        {"name": "Hello", "subject": "Hello {{ contact.first_name }}",
         "text": "Hi {{ contact.first_name | default('there') }}, from {{ sender.name }}."},
    )  # fmt: skip
    strict = await user.post(
        "/api/v1/templates", {"name": "Strict", "subject": "About {{ company.name }}", "text": "x"}
    )
    assert greeting.status_code == strict.status_code == 201, (greeting.text, strict.text)
    steps = [
        {"template_id": greeting.json()["id"], "delay_days": 0},
        {"template_id": strict.json()["id"], "delay_days": 1},
    ]
    body = {"name": "Templated", "window_start": "00:00", "window_end": "23:59", "steps": steps}
    sequence = (await user.post("/api/v1/sequences", body)).json()
    # gmail.com: a free-mail contact has no company, so step 2's {{ company.name }} has no value.
    contact = (
        await user.post("/api/v1/contacts", {"email": "kim.buyer@gmail.com", "name": "Kim Buyer"})
    ).json()
    enrolled = (
        await user.post(
            f"/api/v1/sequences/{sequence['id']}/enrolments",
            {"inbox_id": inbox["id"], "contact_ids": [contact["id"]]},
        )
    ).json()["items"][0]
    _current, first = await step_sent(app, user, enrolled, contact["id"], 1)
    assert first["subject"] == "Hello Kim" and first["text"].startswith("Hi Kim, from Sam Seller.")
    current = await enrolment(user, enrolled["id"], contact["id"])
    await advance_to(app, current["next_run_at"])

    async def stopped() -> Any:
        e = await enrolment(user, enrolled["id"], contact["id"])
        return e if e["status"] == "stopped" else None

    ended = await wait_for(stopped, timeout=20)
    assert ended["stop_reason"] == "render_failed" and len(ended["emails"]) == 1
    assert ended["history"][-1]["detail"]["code"] == "missing_token"
    # A template of another team cannot be a step.
    stranger = await app.user("eve@elsewhere.test", team="elsewhere")
    foreign = await stranger.post("/api/v1/sequences", {"name": "x", "steps": steps})
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "template_not_found"


async def test_a_late_step_waits_for_the_next_window(app, mail_server, provider_smtp, mail_user):
    """The workers were down until Saturday noon: the step is not sent on the weekend but on the
    next business day at that local time (inside the window), in the sequence's zone."""
    user, _inbox, contact, _sequence, enrolled = await setup(
        app, mail_server, provider_smtp, mail_user, window_start="09:00", window_end="17:00"
    )
    berlin = ZoneInfo("Europe/Berlin")
    local = now().astimezone(berlin)
    saturday = (local + timedelta(days=(5 - local.weekday()) % 7 or 7)).replace(hour=12, minute=0)
    try:
        Clock.advance(saturday - now())
        with pytest.raises(jobs.Retry):
            await sequence_runs.run_step(app.rt, {"enrolment_id": enrolled["id"]})
        current = await enrolment(user, enrolled["id"], contact["id"])
        assert current["emails"] == [] and current["status"] == "active"
        monday = datetime.fromisoformat(current["next_run_at"]).astimezone(berlin)
        assert (monday.weekday(), monday.hour, monday.minute) == (0, 12, 0)
        assert monday.date() == (saturday + timedelta(days=2)).date()
    finally:
        Clock.reset()
