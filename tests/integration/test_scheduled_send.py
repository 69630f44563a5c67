"""Scheduled sending through the real send path (Dovecot + the provider's SMTP), with a controllable
clock (runtime.Clock) instead of waiting: not sent before its time, sent at it, after a restart that
missed it, once with two workers on PostgreSQL; cancelled while scheduled (409 after); a
disconnected inbox keeps it waiting and says so."""

from __future__ import annotations

import asyncio
import contextlib
import email
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from email import policy
from typing import Any

import pytest
from sqlalchemy import select

from inboxlink.services.accounts.health import mark_disconnected
from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.mail import scheduled
from inboxlink.services.platform.jobs import JobRunner
from inboxlink.services.platform.runtime import Clock, Runtime, now
from inboxlink.storage.tables import outbox
from tests.support import app as support
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app, wait_for
from tests.support.flows import connect, wait_sent
from tests.support.web import sign_in

FAST_JOBS = {"INBOXLINK_JOBS_POLL": "0.1"}


@pytest.fixture
def clock() -> Iterator[type[Clock]]:
    Clock.reset()
    yield Clock
    Clock.reset()


@contextlib.asynccontextmanager
async def job_runner(rt: Runtime) -> AsyncIterator[JobRunner]:
    """The job runner `serve` and `worker` run, here in the test's loop."""
    runner = JobRunner(rt)
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


def at(delta: timedelta) -> str:
    return (now() + delta).isoformat()


async def schedule(
    user: support.TestUser, inbox: dict[str, Any], to: str, send_at: str, subject: str = "Later"
) -> Any:
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [to], "subject": subject, "text": "Sent later.", "send_at": send_at},
    )
    assert resp.status_code == 202, resp.text
    return resp.json()


def received(mail_server: Any, address: str) -> list[Any]:
    return [
        email.message_from_bytes(r, policy=policy.default) for r in mail_server.messages(address, "INBOX")
    ]


async def test_a_scheduled_email_goes_out_at_its_time_and_not_before(
    app, mail_server, provider_smtp, mail_user, clock
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    to = f"later-{mail_user.email}"
    mail_server.add_user(to, "pw")
    send_at = at(timedelta(hours=3))
    queued = await schedule(user, inbox, to, send_at)
    assert queued["status"] == "scheduled" and queued["sent_at"] is None
    assert datetime.fromisoformat(queued["send_at"]) == datetime.fromisoformat(send_at)
    contact_id = queued["contact_ids"][0]
    timeline = (await user.get(f"/api/v1/contacts/{contact_id}/emails")).json()["items"]
    assert [(e["id"], e["status"]) for e in timeline] == [(queued["id"], "scheduled")]

    runner = JobRunner(app.rt)
    assert await runner.run_once() == 0  # nothing is due
    clock.advance(timedelta(hours=2, minutes=59))
    assert await runner.run_once() == 0
    await asyncio.sleep(1.2)  # two polls of the send worker: it does not take a scheduled email
    assert (await user.get(f"/api/v1/emails/{queued['id']}")).json()["status"] == "scheduled"
    assert received(mail_server, to) == []

    clock.advance(timedelta(minutes=1, seconds=1))
    async with job_runner(app.rt):
        sent = await wait_sent(user, queued["id"])
    assert sent["status"] == "sent", sent["error"]
    assert sent["send_at"] is None and sent["sent_at"]
    (msg,) = await wait_for(lambda: asyncio.sleep(0, received(mail_server, to)))
    assert msg["Subject"] == "Later"
    # Dated when it was meant to go, not when it was written.
    assert abs(msg["Date"].datetime - datetime.fromisoformat(send_at)) < timedelta(seconds=2)


async def test_bad_send_at_is_a_clear_422(app, mail_server, provider_smtp, mail_user, clock):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    for value, words in [
        (at(-timedelta(hours=1)), "in the past"),
        ("next tuesday", "not an ISO 8601"),
        ("2030-01-01T09:00:00", "time zone"),
        (at(timedelta(days=400)), "more than a year"),
    ]:
        resp = await user.post(
            "/api/v1/emails", {"inbox_id": inbox["id"], "to": ["x@p.test"], "text": "t", "send_at": value}
        )
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert (
            error["code"] == "invalid_send_at" and error["field"] == "send_at" and words in error["message"]
        )
    async with app.rt.engine.connect() as conn:
        assert (await conn.execute(select(outbox))).all() == []


async def test_cancel_while_scheduled_and_409_after(app, mail_server, provider_smtp, mail_user, clock):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    to = f"cancel-{mail_user.email}"
    mail_server.add_user(to, "pw")
    queued = await schedule(user, inbox, to, at(timedelta(minutes=30)))
    outsider = await app.user("other@rival.test", team="rival")
    assert (await outsider.delete(f"/api/v1/emails/{queued['id']}")).status_code == 404

    assert (await user.delete(f"/api/v1/emails/{queued['id']}")).status_code == 204
    assert (await user.get(f"/api/v1/emails/{queued['id']}")).json()["status"] == "cancelled"
    again = await user.delete(f"/api/v1/emails/{queued['id']}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_scheduled"

    other = await schedule(user, inbox, to, at(timedelta(minutes=30)), subject="Not cancelled")
    clock.advance(timedelta(minutes=31))
    async with job_runner(app.rt):
        sent = await wait_sent(user, other["id"])
    assert sent["status"] == "sent"
    late = await user.delete(f"/api/v1/emails/{other['id']}")
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_scheduled"
    assert "sent" in late.json()["error"]["message"]
    now_sent = await user.post("/api/v1/emails", {"inbox_id": inbox["id"], "to": [to], "text": "now"})
    assert (await user.delete(f"/api/v1/emails/{now_sent.json()['id']}")).status_code == 409
    await wait_sent(user, now_sent.json()["id"])
    subjects = sorted(str(m["Subject"]) for m in received(mail_server, to))
    assert "Later" not in subjects and "Not cancelled" in subjects
    assert (await user.get(f"/api/v1/emails/{queued['id']}")).json()["status"] == "cancelled"


async def test_a_disconnected_inbox_keeps_it_waiting_and_says_so(
    app, mail_server, provider_smtp, mail_user, clock
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    to = f"wait-{mail_user.email}"
    mail_server.add_user(to, "pw")
    queued = await schedule(user, inbox, to, at(timedelta(minutes=10)))
    await mark_disconnected(app.rt, inbox["id"], "auth_failed", "AUTHENTICATIONFAILED (test)")
    clock.advance(timedelta(minutes=11))
    async with job_runner(app.rt):

        async def waiting() -> Any:
            body = (await user.get(f"/api/v1/emails/{queued['id']}")).json()
            return body if body["error"] else None

        email_now = await wait_for(waiting)
        assert email_now["status"] == "scheduled"
        assert email_now["error"]["code"] == "inbox_disconnected"
        assert (
            inbox["email"] in email_now["error"]["message"] and "reconnected" in email_now["error"]["message"]
        )
        assert received(mail_server, to) == []

        back = await user.put(f"/api/v1/inboxes/{inbox['id']}/credentials", {"password": mail_user.password})
        assert back.status_code == 200 and back.json()["status"] == "connected", back.text
        clock.advance(timedelta(seconds=scheduled.RECHECK + 1))
        sent = await wait_sent(user, queued["id"])
    assert sent["status"] == "sent" and sent["error"] is None
    assert len(received(mail_server, to)) == 1


async def test_a_restart_that_missed_the_time_sends_it_at_once(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user, clock
):
    data = tmp_path / "data"
    to = f"restart-{mail_user.email}"
    mail_server.add_user(to, "pw")
    async with running_app(data, **FAST_JOBS) as first:
        user, inbox = await connect(first, mail_server, provider_smtp, mail_user)
        queued = await schedule(user, inbox, to, at(timedelta(hours=1)))
    # Down while it was due; a new runtime (new engine, new worker) on the same database.
    clock.advance(timedelta(hours=5))
    async with running_app(data, **FAST_JOBS) as second:
        again = support.TestUser(user.caller, user.token, second.client)
        async with job_runner(second.rt):
            sent = await wait_sent(again, queued["id"])
    assert sent["status"] == "sent"
    assert len(received(mail_server, to)) == 1


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


async def test_two_workers_on_postgresql_send_each_scheduled_email_once(
    pg_url, tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user, clock
):
    data = tmp_path / "shared"
    to = f"once-{mail_user.email}"
    mail_server.add_user(to, "pw")
    async with (
        running_app(data, pg_url, **FAST_JOBS) as first,
        running_app(data, pg_url, **FAST_JOBS) as second,
    ):
        user, inbox = await connect(first, mail_server, provider_smtp, mail_user)
        ids = [
            (await schedule(user, inbox, to, at(timedelta(minutes=5)), subject=f"n{n}"))["id"]
            for n in range(6)
        ]
        clock.advance(timedelta(minutes=6))
        async with job_runner(first.rt), job_runner(second.rt):
            for email_id in ids:
                assert (await wait_sent(user, email_id))["status"] == "sent"
    subjects = sorted(str(m["Subject"]) for m in received(mail_server, to))
    assert subjects == [f"n{n}" for n in range(6)]  # each once
    async with first.rt.engine.connect() as conn:
        attempts = (await conn.execute(select(outbox.c.attempts))).scalars().all()
    assert attempts == [1] * 6


async def test_only_the_sender_or_an_admin_cancels_a_scheduled_email(
    app, mail_server, provider_smtp, mail_user, clock
):
    seller, inbox = await connect(app, mail_server, provider_smtp, mail_user)  # seller@crm.test
    to = f"mine-{mail_user.email}"
    mail_server.add_user(to, "pw")
    queued = await schedule(seller, inbox, to, at(timedelta(hours=2)))
    teammate = await app.user("bea@crm.test", name="Bea Buyer")
    assert teammate.caller.team_id == seller.caller.team_id
    refused = await teammate.delete(f"/api/v1/emails/{queued['id']}")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "email_not_found"
    assert (await seller.get(f"/api/v1/emails/{queued['id']}")).json()["status"] == "scheduled"

    # On the record, the teammate sees who scheduled it and when, with no button, and a forged
    # form post is a 404 page; the sender sees the button and it works.
    contact_page = f"/contacts/{queued['contact_ids'][0]}"
    await sign_in(app.client, "bea@crm.test")
    page = await app.client.get(contact_page)
    assert page.status_code == 200
    assert "Scheduled by Sam Seller for" in page.text and "Cancel sending" not in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    forged = await app.client.post(f"/emails/{queued['id']}/cancel", data={"csrf_token": token})
    assert forged.status_code == 404
    assert (await seller.get(f"/api/v1/emails/{queued['id']}")).json()["status"] == "scheduled"
    fragment = await app.client.get(f"{contact_page}/timeline")
    assert "Scheduled by" in fragment.text and "Cancel sending" not in fragment.text

    assert (await app.client.post("/logout", data={"csrf_token": token})).status_code == 303
    await sign_in(app.client, "seller@crm.test")
    page = await app.client.get(contact_page)
    assert "Cancel sending" in page.text and "Scheduled by" not in page.text
    assert "Cancel sending" in (await app.client.get(f"{contact_page}/timeline")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = await app.client.post(f"/emails/{queued['id']}/cancel", data={"csrf_token": token})
    assert done.status_code == 303
    assert (await seller.get(f"/api/v1/emails/{queued['id']}")).json()["status"] == "cancelled"

    # A team admin may cancel a teammate's scheduled email.
    other = await schedule(seller, inbox, to, at(timedelta(hours=2)), subject="For the admin")
    admin = await create_user(app.rt, "boss@crm.test", "correct horse battery", name="Boss", admin=True)
    boss = support.TestUser(admin, await create_token(app.rt, "boss@crm.test"), app.client)
    assert (await boss.delete(f"/api/v1/emails/{other['id']}")).status_code == 204
    assert (await seller.get(f"/api/v1/emails/{other['id']}")).json()["status"] == "cancelled"
