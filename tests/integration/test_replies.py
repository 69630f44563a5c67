"""Replies are logged by themselves, pushed by IMAP IDLE: matching, threads, contacts, attachments,
privacy (unrelated mail leaves no trace) and exactly-once."""

from __future__ import annotations

import email
from email import policy

from tests.integration.conftest import CLIENT
from tests.support.app import running_app
from tests.support.flows import inbound, start_conversation, wait_sent
from tests.support.replies import make_reply


async def test_reply_is_logged_on_the_contact_in_the_thread(conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    reply_id, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>",
        to=mail_user.email,
        cc="Dana Colleague <dana@prospect.test>",
        subject="Re: Our offer",
        text="Sounds good, let's talk.",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
        attachments=[("notes.txt", "text/plain", b"line 1\nline 2\n")],
    )
    mail_server.deliver(mail_user.email, raw)
    [reply] = await inbound(user, contact_id)
    assert reply["message_id"] == reply_id
    assert reply["thread_id"] == sent["thread_id"]
    assert reply["from"] == {"email": CLIENT, "name": "Chris Client"}
    assert reply["subject"] == "Re: Our offer"
    assert "Sounds good" in reply["text"]
    assert reply["status"] == "logged"
    # The colleague in Cc becomes a contact with the email on her record.
    dana = (await user.get("/api/v1/contacts", params={"email": "dana@prospect.test"})).json()["items"]
    assert len(dana) == 1 and reply["id"] in [
        e["id"] for e in (await user.get(f"/api/v1/contacts/{dana[0]['id']}/emails")).json()["items"]
    ]
    files = (await user.get(f"/api/v1/contacts/{contact_id}/attachments")).json()["items"]
    assert [f["filename"] for f in files] == ["notes.txt"]
    assert (await user.get(f"/api/v1/attachments/{files[0]['id']}")).content == b"line 1\nline 2\n"
    thread = (await user.get(f"/api/v1/threads/{sent['thread_id']}")).json()
    assert [e["id"] for e in thread["emails"]] == [sent["id"], reply["id"]]
    # PEEK everywhere: the user's mail is still unread.
    assert all("\\Seen" not in flags for flags in mail_server.flags(mail_user.email, "INBOX"))


async def test_reply_to_a_reply_and_duplicates(conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    first_id, first = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text="one", in_reply_to=sent["message_id"]
    )
    mail_server.deliver(mail_user.email, first)
    mail_server.deliver(mail_user.email, first)  # the same message twice (e.g. a forwarding loop)
    # The second reply answers only the first reply: logged because the reply's id became tracked.
    second_id, second = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Re: Our offer", text="two", in_reply_to=first_id
    )
    mail_server.deliver(mail_user.email, second)
    found = await inbound(user, contact_id, count=2)
    assert sorted(e["message_id"] for e in found) == sorted([first_id, second_id])
    assert {e["thread_id"] for e in found} == {sent["thread_id"]}


async def test_unrelated_mail_leaves_no_trace(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    mid = sent["message_id"]
    near_miss = mid[:-1] + ("x" if mid[-1] != "x" else "y")
    markers = []
    for i, (subject, refs) in enumerate(
        [
            ("Totally unrelated", None),  # same sender, no references
            ("Our offer", None),  # same subject, no references
            ("Re: Our offer", [near_miss]),  # a reference one character away
        ]
    ):
        marker = f"PRIVATE-MARKER-{i}-{mid[:6]}"
        markers.append(marker)
        _id, raw = make_reply(
            sender=CLIENT,
            to=mail_user.email,
            subject=f"{subject} {marker}",
            text=f"secret {marker}",
            references=refs,
            in_reply_to=refs[0] if refs else None,
        )
        mail_server.deliver(mail_user.email, raw)
    # A real reply delivered last: once it is logged, everything before it has been scanned.
    _id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text="real", in_reply_to=mid
    )
    mail_server.deliver(mail_user.email, raw)
    found = await inbound(user, sent["contact_ids"][0])
    assert [e["text"].strip() for e in found] == ["real"]
    await app.rt.engine.dispose()
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for marker in markers:
                assert marker.encode() not in content, (marker, path)
    assert all("\\Seen" not in flags for flags in mail_server.flags(mail_user.email, "INBOX"))


async def test_hostile_mime_keeps_the_monitor_alive(conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    mid = sent["message_id"]
    broken = (
        f"From: {CLIENT}\r\nTo: {mail_user.email}\r\nSubject: Re: broken\r\nIn-Reply-To: <{mid}>\r\n"
        "Message-ID: <broken-1@client.example.test>\r\n"
        'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        "--never-closed\r\nContent-Type: text/plain; charset=x-unknown-9\r\n\r\n\xff\xfe garbage \x00 bytes\r\n"
        "--never-closed\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="../../etc/passwd"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        "cm9vdDp4OjA6MDo=\r\n"
    ).encode("latin-1")
    mail_server.deliver(mail_user.email, broken)
    _id, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text="after the storm", in_reply_to=mid
    )
    mail_server.deliver(mail_user.email, raw)
    found = await inbound(user, sent["contact_ids"][0], count=2)
    texts = {e["message_id"]: e for e in found}
    assert "after the storm" in texts[_id]["text"]
    hostile = texts["broken-1@client.example.test"]
    names = [a["filename"] for a in hostile["attachments"]]
    assert "passwd" in names and not any("/" in n for n in names)


async def test_an_attachment_over_the_limit_is_listed_but_not_kept(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_MAX_ATTACHMENT_BYTES="100000") as small:
        user, _inbox, sent = await start_conversation(
            small, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Big", text="t"
        )
        big = bytes(range(256)) * 1200  # ~300 KB, three times the limit
        _id, raw = make_reply(
            sender=CLIENT,
            to=mail_user.email,
            subject="Re: Big",
            text="here is the file",
            in_reply_to=sent["message_id"],
            attachments=[("huge.bin", "application/octet-stream", big), ("small.txt", "text/plain", b"fits")],
        )
        mail_server.deliver(mail_user.email, raw)
        [reply] = await inbound(user, sent["contact_ids"][0])
        files = {a["filename"]: a for a in reply["attachments"]}
        assert set(files) == {"huge.bin", "small.txt"}  # the raw original is not kept either
        assert files["small.txt"]["available"] and not files["huge.bin"]["available"]
        assert any("huge.bin" in p or "limit" in p.lower() for p in reply["problems"])
        resp = await user.get(f"/api/v1/attachments/{files['huge.bin']['id']}")
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "attachment_unavailable"
        assert (await user.get(f"/api/v1/attachments/{files['small.txt']['id']}")).content == b"fits"


async def test_answering_a_reply_from_the_crm_stays_in_the_conversation(conversation, mail_server, mail_user):
    user, inbox, sent = conversation
    reply_id, raw = make_reply(
        sender=CLIENT,
        to=mail_user.email,
        subject="Re: Our offer",
        text="price?",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
    )
    mail_server.deliver(mail_user.email, raw)
    [reply] = await inbound(user, sent["contact_ids"][0])
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": CLIENT}],
            "text": "10% off",
            "in_reply_to_email_id": reply["id"],
        },
    )
    assert resp.status_code == 202, resp.text
    answer = await wait_sent(user, resp.json()["id"])
    assert answer["thread_id"] == sent["thread_id"] and answer["subject"] == "Re: Our offer"
    copy = email.message_from_bytes(mail_server.messages(mail_user.email, "Sent")[-1], policy=policy.default)
    assert copy["In-Reply-To"].strip() == f"<{reply_id}>"
    assert copy["References"].split() == [
        f"<{sent['message_id']}>",
        f"<{reply_id}>",
        f"<{answer['message_id']}>",
    ]
    outsider = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": CLIENT}], "text": "x", "in_reply_to_email_id": 999999},
    )
    assert outsider.status_code == 404
