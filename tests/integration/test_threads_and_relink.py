"""Conversations that must not merge, matching that survives a relay rewriting our Message-ID, and
moving a misfiled email."""

from __future__ import annotations

import email
from email import policy

from inboxlink.domain.models import Address
from inboxlink.services.crm.timeline import NewEmail, store_email
from tests.integration.conftest import CLIENT
from tests.support.app import running_app, wait_for
from tests.support.flows import connect, inbound, monitor_connected, start_conversation, wait_sent
from tests.support.replies import deliver_reply, make_reply


async def test_reply_logged_although_the_relay_rewrote_our_message_id(
    app, mail_server, provider_smtp, mail_user
):
    recipient = f"ses-{mail_user.email}"
    mail_server.add_user(recipient, "recipient-pass")
    provider_smtp.rewrite_message_id = True
    try:
        user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": recipient}], "subject": "Via SES", "text": "t"},
        )
        sent = await wait_sent(user, resp.json()["id"])
    finally:
        provider_smtp.rewrite_message_id = False
    await wait_for(lambda: monitor_connected(app, inbox["id"]))
    # What the recipient got carries another Message-ID, but our id is still in References.
    received = email.message_from_bytes(mail_server.messages(recipient, "INBOX")[0], policy=policy.default)
    wire_id = received["Message-ID"].strip("<> ")
    assert wire_id != sent["message_id"]
    assert sent["message_id"] in received["References"]
    # Their client answers what it saw: In-Reply-To the rewritten id, References = theirs + ours.
    _id, raw = make_reply(
        sender=recipient,
        to=mail_user.email,
        subject="Re: Via SES",
        text="got it",
        in_reply_to=wire_id,
        references=[sent["message_id"], wire_id],
    )
    mail_server.deliver(mail_user.email, raw)
    [reply] = await inbound(user, sent["contact_ids"][0])
    assert reply["thread_id"] == sent["thread_id"] and "got it" in reply["text"]


async def test_old_email_forwarded_to_someone_new_starts_its_own_thread(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        user, _inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Pricing", text="v1"
        )
        bob_reply, raw = make_reply(
            sender=CLIENT,
            to=mail_user.email,
            subject="Re: Pricing",
            text="too expensive",
            in_reply_to=sent["message_id"],
            references=[sent["message_id"]],
        )
        mail_server.deliver(mail_user.email, raw)
        await inbound(user, sent["contact_ids"][0])
        # Months later the user forwards that reply to Carol from their own client (kept References).
        carol = "carol@newco.test"
        fwd_id, raw = make_reply(
            sender=mail_user.email,
            to=carol,
            subject="Fwd: Re: Pricing",
            text="FYI",
            in_reply_to=bob_reply,
            references=[sent["message_id"], bob_reply],
        )
        mail_server.save(mail_user.email, "Sent", raw)

        async def carol_email():
            found = (await user.get("/api/v1/contacts", params={"email": carol})).json()["items"]
            if not found:
                return None
            items = (await user.get(f"/api/v1/contacts/{found[0]['id']}/emails")).json()["items"]
            return (found[0], items) if items else None

        carol_contact, [forward] = await wait_for(carol_email, timeout=20)
        assert forward["message_id"] == fwd_id and forward["direction"] == "outbound"
        assert forward["thread_id"] != sent["thread_id"]  # not glued onto Bob's conversation
        # Carol's answer to the forward follows the new thread, not the old one.
        _id, raw = make_reply(
            sender=carol,
            to=mail_user.email,
            subject="Re: Fwd: Re: Pricing",
            text="interesting",
            in_reply_to=fwd_id,
            references=[sent["message_id"], bob_reply, fwd_id],
        )
        mail_server.deliver(mail_user.email, raw)
        [answer] = await inbound(user, carol_contact["id"])
        assert answer["thread_id"] == forward["thread_id"]
        old = (await user.get(f"/api/v1/threads/{sent['thread_id']}")).json()["emails"]
        assert [e["message_id"] for e in old] == [sent["message_id"], bob_reply]


async def test_relink_moves_an_email_and_records_the_move(app):
    user = await app.user("filer@acme.test")
    a = (await user.post("/api/v1/contacts", {"email": "a@x.test"})).json()
    b = (await user.post("/api/v1/contacts", {"email": "b@x.test"})).json()
    # An email logged on the wrong contact (here: written through the timeline like any logged mail).
    async with app.rt.engine.begin() as conn:
        email_id = await store_email(
            app.rt,
            conn,
            NewEmail(
                team_id=user.caller.team_id,
                direction="inbound",
                status="logged",
                source="imap",
                message_id="m1@x.test",
                dedupe_key="m1@x.test",
                sender=Address("a@x.test"),
                to=[],
                cc=[],
                subject="Hi",
                text="t",
                html=None,
                sent_at=None,
                contact_addresses=[Address("a@x.test")],
            ),
        )
    moved = await user.post(f"/api/v1/emails/{email_id}/relink", {"contact_id": b["id"], "thread_id": "new"})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["contact_ids"] == [b["id"]]
    assert body["moves"][0]["from_contact_ids"] == [a["id"]] and body["moves"][0]["to_contact_ids"] == [
        b["id"]
    ]
    assert body["moves"][0]["to_thread_id"] == body["thread_id"] != body["moves"][0]["from_thread_id"]
    assert (await user.get(f"/api/v1/contacts/{a['id']}/emails")).json()["items"] == []
    assert [e["id"] for e in (await user.get(f"/api/v1/contacts/{b['id']}/emails")).json()["items"]] == [
        email_id
    ]
    assert (await user.post(f"/api/v1/emails/{email_id}/relink", {})).json()["error"][
        "code"
    ] == "field_required"
    outsider = await app.user("x@rival.test", team="rival")
    assert (
        await outsider.post(f"/api/v1/emails/{email_id}/relink", {"contact_id": b["id"]})
    ).status_code == 404
    assert (await outsider.get(f"/api/v1/emails/{email_id}/moves")).status_code == 404


async def test_a_rewriting_relay_that_files_its_own_sent_copy_causes_no_double(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_POLL_INTERVAL="1") as app:
        provider_smtp.rewrite_message_id = True
        provider_smtp.file_sent_copies_for.add(mail_user.email)
        try:
            user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
            await wait_for(lambda: monitor_connected(app, inbox["id"]))
            resp = await user.post(
                "/api/v1/emails",
                {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "subject": "Once", "text": "t"},
            )
            sent = await wait_sent(user, resp.json()["id"])
        finally:
            provider_smtp.rewrite_message_id = False
            provider_smtp.file_sent_copies_for.discard(mail_user.email)
        # The provider's copy carries another Message-ID but our X-Inboxlink-Id: not copied again...
        copies = mail_server.messages(mail_user.email, "Sent")
        assert len(copies) == 1 and sent["sent_folder_copy"] == "Sent"
        rewritten = email.message_from_bytes(copies[0], policy=policy.default)["Message-ID"].strip("<> ")
        assert rewritten != sent["message_id"]
        # ...and never logged as a second email, however often the monitor looks at Sent.
        monitor = app.monitor(inbox["id"])
        target = monitor.folder_syncs + 6
        await wait_for(lambda: _synced(monitor, target), timeout=15)
        emails = (await user.get(f"/api/v1/threads/{sent['thread_id']}")).json()["emails"]
        assert [e["id"] for e in emails] == [sent["id"]]
        # A reply that names only the rewritten id (In-Reply-To, no References) still matches.
        _id = deliver_reply(
            mail_server, mail_user.email, CLIENT, rewritten, "only the new id", subject="Re: Once"
        )
        [reply] = await inbound(user, sent["contact_ids"][0])
        assert reply["thread_id"] == sent["thread_id"]


async def _synced(monitor, target):
    return monitor.folder_syncs >= target
