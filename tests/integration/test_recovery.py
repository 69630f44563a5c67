"""Disconnects and recovery against the suite's Dovecot: changed passwords, kicks, a server restart,
UIDVALIDITY changes, and the user's own follow-ups found in Sent."""

from __future__ import annotations

from tests.integration.conftest import CLIENT
from tests.support.app import running_app, wait_for
from tests.support.flows import connect, inbound, monitor_connected, start_conversation, wait_sent
from tests.support.replies import deliver_reply, make_reply


async def _inbox(user, inbox_id):
    return (await user.get(f"/api/v1/inboxes/{inbox_id}")).json()


async def test_password_change_disconnects_and_reconnecting_logs_the_backlog(
    app, conversation, mail_server, mail_user
):
    user, inbox, sent = conversation
    mail_server.set_password(mail_user.email, "a-brand-new-password")
    mail_server.kick(mail_user.email)

    async def disconnected():
        body = await _inbox(user, inbox["id"])
        return body if body["status"] == "disconnected" else None

    body = await wait_for(disconnected, timeout=60)
    assert body["disconnect_reason"] == "auth_failed" and body["disconnected_at"]
    assert body["last_error"]
    notes = (await user.get("/api/v1/notifications")).json()["items"]
    assert len(notes) == 1 and notes[0]["kind"] == "inbox_disconnected"
    assert mail_user.email in notes[0]["message"] and "reconnect" in notes[0]["message"].lower()

    # A reply arrives while the inbox is disconnected...
    reply_id = deliver_reply(mail_server, mail_user.email, CLIENT, sent["message_id"], "during the outage")
    # ...a wrong new password is refused and changes nothing...
    wrong = await user.put(f"/api/v1/inboxes/{inbox['id']}/credentials", {"password": "still-wrong"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "auth_failed"
    # ...and the right one reconnects and logs what arrived meanwhile.
    ok = await user.put(f"/api/v1/inboxes/{inbox['id']}/credentials", {"password": "a-brand-new-password"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "connected" and ok.json()["disconnect_reason"] is None
    [reply] = await inbound(user, sent["contact_ids"][0])
    assert reply["message_id"] == reply_id
    assert (await user.get("/api/v1/notifications")).json()["items"] == []


async def test_a_kick_alone_reconnects_by_itself(app, conversation, mail_server, mail_user):
    user, inbox, sent = conversation
    monitor = app.monitor(inbox["id"])
    before = monitor.sessions
    mail_server.kick(mail_user.email)
    await wait_for(lambda: _reconnected(monitor, before), timeout=15)
    _id = deliver_reply(mail_server, mail_user.email, CLIENT, sent["message_id"], "after the kick")
    [reply] = await inbound(user, sent["contact_ids"][0])
    assert "after the kick" in reply["text"]
    assert (await _inbox(user, inbox["id"]))["status"] == "connected"


async def _reconnected(monitor, before):
    return monitor.sessions > before and monitor.connected.is_set()


async def test_server_restart_is_survived(app, conversation, mail_server, mail_user):
    user, inbox, sent = conversation
    mail_server.stop()
    try:

        async def error_seen():
            body = await _inbox(user, inbox["id"])
            return body if body["last_error"] and body["next_retry_at"] else None

        during = await wait_for(error_seen, timeout=20)
        assert during["status"] == "connected"  # a short outage is not a disconnect
    finally:
        mail_server.start()
    _id = deliver_reply(mail_server, mail_user.email, CLIENT, sent["message_id"], "after the restart")
    [reply] = await inbound(user, sent["contact_ids"][0], timeout=40)
    assert "after the restart" in reply["text"]

    async def healthy():
        body = await _inbox(user, inbox["id"])
        return body if body["next_retry_at"] is None else None

    recovered = await wait_for(healthy, timeout=10)
    # The outage's "cannot connect" must not stay on a working inbox (issue 11).
    assert recovered["last_error"] is None


async def test_uidvalidity_change_rescans_without_duplicates(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    first_id = deliver_reply(mail_server, mail_user.email, CLIENT, sent["message_id"], "first")
    await inbound(user, sent["contact_ids"][0])
    mail_server.set_uidvalidity(mail_user.email, "INBOX", 4242)
    mail_server.kick(mail_user.email)  # the folder was rebuilt: sessions start over
    second_id = deliver_reply(mail_server, mail_user.email, CLIENT, sent["message_id"], "second")
    found = await inbound(user, sent["contact_ids"][0], count=2, timeout=30)
    assert sorted(e["message_id"] for e in found) == sorted([first_id, second_id])


async def test_users_own_follow_up_from_sent_is_logged_once(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        user, inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Proposal", text="v1"
        )
        # The user answers their own thread from their usual mail client; it files the mail in Sent.
        follow_id, raw = make_reply(
            sender=mail_user.email,
            to=CLIENT,
            subject="Re: Proposal",
            text="one more thing",
            in_reply_to=sent["message_id"],
            references=[sent["message_id"]],
        )
        mail_server.save(mail_user.email, "Sent", raw)

        async def thread_of_two():
            emails = (await user.get(f"/api/v1/threads/{sent['thread_id']}")).json()["emails"]
            return emails if len(emails) >= 2 else None

        emails = await wait_for(thread_of_two, timeout=20)
        # Let the monitor look at Sent a few more times: our own appended copy must never be logged.
        monitor = app.monitor(inbox["id"])
        target = monitor.folder_syncs + 6
        await wait_for(lambda: _synced(monitor, target), timeout=15)
        emails = (await user.get(f"/api/v1/threads/{sent['thread_id']}")).json()["emails"]
        assert [e["message_id"] for e in emails] == [sent["message_id"], follow_id]
        assert emails[1]["direction"] == "outbound" and emails[1]["status"] == "logged"
        assert len(mail_server.messages(mail_user.email, "Sent")) == 2


async def _synced(monitor, target):
    return monitor.folder_syncs >= target


async def test_a_server_that_keeps_renumbering_is_not_followed_forever(
    app, conversation, mail_server, mail_user
):
    user, inbox, _sent = conversation
    monitor = app.monitor(inbox["id"])
    for i in range(7):
        if monitor.stopping.is_set() or (await _inbox(user, inbox["id"]))["status"] == "disconnected":
            break
        before = monitor.sessions
        mail_server.set_uidvalidity(mail_user.email, "INBOX", 5000 + i)
        mail_server.kick(mail_user.email)
        await wait_for(
            lambda before=before: _reconnected_or_stopped(app, inbox["id"], monitor, before), timeout=20
        )
    body = await _inbox(user, inbox["id"])
    assert body["status"] == "disconnected" and body["disconnect_reason"] == "uidvalidity_unstable"
    notes = (await user.get("/api/v1/notifications")).json()["items"]
    assert notes and "renumbering" in notes[0]["message"]


async def _reconnected_or_stopped(app, inbox_id, monitor, before):
    """The monitor is back in a new session, or it gave up on the inbox (its task ended)."""
    if monitor.sessions > before and monitor.connected.is_set():
        return True
    entry = app.supervisor.monitors.get(inbox_id)
    return entry is None or entry[1].done()


async def test_smtp_password_refused_fails_the_send_and_disconnects(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    provider_smtp.refuse_users.add(mail_user.email)  # e.g. the app password was revoked
    try:
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "x", "text": "y"},
        )
        failed = await wait_sent(user, resp.json()["id"])
    finally:
        provider_smtp.refuse_users.discard(mail_user.email)
    assert failed["status"] == "failed" and failed["error"]["code"] == "smtp_auth_failed"
    assert "Reconnect" in failed["error"]["message"]
    body = await _inbox(user, inbox["id"])
    assert body["status"] == "disconnected" and body["disconnect_reason"] == "auth_failed"
    again = await user.post(
        "/api/v1/emails", {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "x", "text": "y"}
    )
    assert again.status_code == 422 and again.json()["error"]["code"] == "inbox_disconnected"


async def test_a_deleted_sent_folder_does_not_stop_reply_logging(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        user, inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Hi", text="t"
        )
        mail_server.doveadm("mailbox", "delete", "-s", "-u", mail_user.email, "Sent")
        _id = deliver_reply(
            mail_server, mail_user.email, CLIENT, sent["message_id"], "still logged", subject="Re: Hi"
        )
        [reply] = await inbound(user, sent["contact_ids"][0])
        assert "still logged" in reply["text"]

        async def error_shown():
            body = await _inbox(user, inbox["id"])
            return body if body["last_error"] and "Sent" in body["last_error"] else None

        body = await wait_for(error_shown, timeout=10)
        assert body["status"] == "connected"


async def test_a_temporary_smtp_login_refusal_is_retried_not_a_disconnect(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    provider_smtp.tempfail_users.add(mail_user.email)
    try:
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "x", "text": "y"},
        )

        async def retrying():
            body = (await user.get(f"/api/v1/emails/{resp.json()['id']}")).json()
            return body if body["error"] and body["error"]["code"] == "retrying" else None

        body = await wait_for(retrying, timeout=15)
        assert body["status"] == "queued" and "454" in body["error"]["message"]
        assert (await _inbox(user, inbox["id"]))["status"] == "connected"
    finally:
        provider_smtp.tempfail_users.discard(mail_user.email)


async def test_a_follow_up_and_the_quick_answer_to_it_are_both_logged(
    app, conversation, mail_server, mail_user
):
    user, _inbox, sent = conversation  # default poll interval: 30 s
    follow_id, raw = make_reply(
        sender=mail_user.email,
        to=CLIENT,
        subject="Re: Our offer",
        text="also...",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
    )
    mail_server.save(mail_user.email, "Sent", raw)
    # The client answers the follow-up at once, naming only it.
    answer_id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Re: Our offer", text="sure", in_reply_to=follow_id
    )
    mail_server.deliver(mail_user.email, raw)
    [answer] = await inbound(user, sent["contact_ids"][0])
    assert answer["message_id"] == answer_id and answer["thread_id"] == sent["thread_id"]


async def test_a_reply_without_message_id_is_not_doubled_by_a_rescan(
    app, conversation, mail_server, mail_user
):
    user, _inbox, sent = conversation
    raw = (
        f"From: {CLIENT}\r\nTo: {mail_user.email}\r\nSubject: Re: Our offer\r\nDate: Mon, 06 May 2024 10:00:00 +0000\r\n"
        f"In-Reply-To: <{sent['message_id']}>\r\n\r\nno id here\r\n"
    ).encode()
    mail_server.deliver(mail_user.email, raw)
    await inbound(user, sent["contact_ids"][0])
    mail_server.set_uidvalidity(mail_user.email, "INBOX", 7777)
    mail_server.kick(mail_user.email)
    _id = deliver_reply(mail_server, mail_user.email, CLIENT, sent["message_id"], "second")
    found = await inbound(user, sent["contact_ids"][0], count=2, timeout=30)
    assert sorted(e["text"].strip() for e in found) == ["no id here", "second"]


async def test_a_refused_password_after_an_outage_replaces_the_outage_reason(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_DISCONNECT_AFTER="0.5") as app:
        user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
        await wait_for(lambda: monitor_connected(app, inbox["id"]))
        mail_server.stop()
        try:

            async def reason(wanted):
                body = await _inbox(user, inbox["id"])
                return body if body["disconnect_reason"] == wanted else None

            await wait_for(lambda: reason("connection_failed"), timeout=30)
            mail_server.set_password(mail_user.email, "changed-during-outage")
        finally:
            mail_server.start()
        body = await wait_for(lambda: reason("auth_failed"), timeout=30)
        assert body["status"] == "disconnected"
        notes = (await user.get("/api/v1/notifications")).json()["items"]
        assert len(notes) == 1 and "password" in notes[0]["message"]
