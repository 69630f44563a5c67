"""Sending from the CRM through the user's own SMTP server, the copy in Sent, and the timeline."""

from __future__ import annotations

import base64
import email
from email import policy

from sqlalchemy import update

from inboxlink.storage.tables import emails, outbox
from tests.support.app import running_app, wait_for
from tests.support.flows import connect, wait_sent

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def one_message(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


async def test_send_with_attachment_arrives_intact_and_is_logged(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    recipient = f"client-{mail_user.email}"
    mail_server.add_user(recipient, "client-password")
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": recipient, "name": "Zoë Client"}],
            "subject": "Angebot für Q3 — Übersicht",
            "text": "Hello Zoë,\nplease find the offer attached.\n",
            "html": "<p>Hello Zoë,</p><p>please find the offer attached.</p>",
            "attachments": [
                {
                    "filename": "Übersicht Q3.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode(),
                }
            ],
        },
    )
    assert resp.status_code == 202, resp.text
    queued = resp.json()
    assert queued["status"] == "queued" and queued["message_id"] and queued["thread_id"]
    sent = await wait_sent(user, queued["id"])
    assert sent["status"] == "sent", sent["error"]
    assert sent["sent_folder_copy"] == "Sent"

    received = await wait_for(lambda: _messages(mail_server, recipient, "INBOX"))
    msg = one_message(received[0])
    assert msg["Message-ID"].strip() == f"<{queued['message_id']}>"
    assert f"<{queued['message_id']}>" in msg["References"]
    assert msg["Subject"] == "Angebot für Q3 — Übersicht"
    assert msg["To"].addresses[0].display_name == "Zoë Client"
    parts = [p for p in msg.iter_attachments()]
    assert [p.get_filename() for p in parts] == ["Übersicht Q3.pdf"]
    assert parts[0].get_content() == PDF
    assert msg.get_body(("plain",)).get_content().startswith("Hello Zoë")

    contacts = (await user.get("/api/v1/contacts", params={"email": recipient})).json()["items"]
    assert len(contacts) == 1 and contacts[0]["name"] == "Zoë Client"
    timeline = (await user.get(f"/api/v1/contacts/{contacts[0]['id']}/emails")).json()["items"]
    assert [e["id"] for e in timeline] == [queued["id"]]
    assert timeline[0]["direction"] == "outbound" and timeline[0]["thread_id"] == queued["thread_id"]
    files = (await user.get(f"/api/v1/contacts/{contacts[0]['id']}/attachments")).json()["items"]
    assert [f["filename"] for f in files] == ["Übersicht Q3.pdf"]
    download = await user.get(f"/api/v1/attachments/{files[0]['id']}")
    assert download.content == PDF and download.headers["content-type"] == "application/pdf"


async def _messages(mail_server, user_email, folder):
    return mail_server.messages(user_email, folder)


async def test_html_we_send_is_shown_sanitised_but_sent_as_written(
    app, mail_server, provider_smtp, mail_user
):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    html = '<p onclick="steal()">Offer</p><script>alert(1)</script><img src="https://tracker.test/p.gif">'
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": "h@elsewhere.test"}],
            "subject": "H",
            "text": "t",
            "html": html,
        },
    )
    shown = (await user.get(f"/api/v1/emails/{resp.json()['id']}")).json()["html"]
    assert (
        "Offer" in shown
        and "<script" not in shown
        and "onclick" not in shown
        and ' src="https://tracker' not in shown
    )
    await wait_sent(user, resp.json()["id"])
    sent_copy = one_message(mail_server.messages(mail_user.email, "Sent")[0])
    assert "<script>alert(1)</script>" in sent_copy.get_body(("html",)).get_content()


async def test_copy_lands_once_in_special_use_sent_and_is_seen(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": "someone@elsewhere.test"}],
            "subject": "Hi",
            "text": "Body",
        },
    )
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["status"] == "sent" and sent["sent_folder_copy"] == "Sent"
    copies = mail_server.messages(mail_user.email, "Sent")
    assert len(copies) == 1
    assert one_message(copies[0])["Message-ID"].strip() == f"<{sent['message_id']}>"
    assert "Bcc" not in one_message(copies[0])
    assert "\\Seen" in mail_server.flags(mail_user.email, "Sent")[0]


async def test_outlook_style_sent_items_without_special_use(app, mail_server, provider_smtp):
    address = "outlook-style@example.test"
    mail_server.add_user(address, "outlook-pass-1", folders=("Sent Items", "Deleted Items", "Drafts"))

    class U:
        email = address
        password = "outlook-pass-1"

    user, inbox = await connect(app, mail_server, provider_smtp, U)
    assert inbox["sent_folder"] == "Sent Items"
    resp = await user.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": "x@elsewhere.test"}], "subject": "Hello", "text": "t"},
    )
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["sent_folder_copy"] == "Sent Items"
    assert len(mail_server.messages(address, "Sent Items")) == 1


async def test_no_second_copy_when_the_provider_files_sent_mail_itself(
    app, mail_server, provider_smtp, mail_user
):
    provider_smtp.file_sent_copies_for.add(mail_user.email)
    try:
        user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
        resp = await user.post(
            "/api/v1/emails",
            {"inbox_id": inbox["id"], "to": [{"email": "y@elsewhere.test"}], "subject": "Once", "text": "t"},
        )
        sent = await wait_sent(user, resp.json()["id"])
    finally:
        provider_smtp.file_sent_copies_for.discard(mail_user.email)
    assert sent["status"] == "sent" and sent["sent_folder_copy"] == "Sent"
    assert len(mail_server.messages(mail_user.email, "Sent")) == 1


async def test_header_injection_and_bad_input_are_refused(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    base = {"inbox_id": inbox["id"], "to": [{"email": "a@elsewhere.test"}], "subject": "ok", "text": "t"}
    cases = [
        ({"subject": "Hello\r\nBcc: victim@example.com"}, "header_injection"),
        ({"to": [{"email": "a@elsewhere.test", "name": "Eve\nBcc: x@y.z"}]}, "header_injection"),
        ({"to": [{"email": "not an address"}]}, "invalid_address"),
        ({"to": [{"email": "a\x1b\x07b@elsewhere.test"}]}, "invalid_address"),  # control characters
        ({"to": []}, "field_required"),
        (
            {"attachments": [{"filename": "a.txt", "content_type": "text/plain", "content_base64": "***"}]},
            "invalid_field",
        ),
    ]
    for change, code in cases:
        resp = await user.post("/api/v1/emails", {**base, **change})
        assert resp.status_code == 422, (change, resp.text)
        assert resp.json()["error"]["code"] == code
    resp = await user.client.post(
        "/api/v1/emails", content=b"{not json", headers={"Authorization": f"Bearer {user.token}"}
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_json"
    contacts = (await user.get("/api/v1/contacts")).json()["items"]
    assert contacts == []  # nothing was queued or logged


async def test_size_limit_is_a_clear_error(tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user):
    async with running_app(tmp_path / "d", INBOXLINK_MAX_SEND_BYTES="20000") as small:
        user, inbox = await connect(small, mail_server, provider_smtp, mail_user)
        big = base64.b64encode(b"x" * 30000).decode()
        resp = await user.post(
            "/api/v1/emails",
            {
                "inbox_id": inbox["id"],
                "to": [{"email": "a@elsewhere.test"}],
                "subject": "big",
                "text": "t",
                "attachments": [
                    {"filename": "big.bin", "content_type": "application/octet-stream", "content_base64": big}
                ],
            },
        )
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "message_too_large"
        assert "KB" in resp.json()["error"]["message"] or "bytes" in resp.json()["error"]["message"]
        # A body far beyond any allowed email is refused before it is read into memory.
        huge = {
            "inbox_id": inbox["id"],
            "to": [{"email": "a@elsewhere.test"}],
            "subject": "x",
            "text": "y" * 3_000_000,
        }
        resp = await user.post("/api/v1/emails", huge)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"


async def _rewind_to_handover(data, email_id):
    """Put the job back to the moment between the SMTP server accepting the mail and the status
    being written, as a kill -9 at that point leaves it."""
    async with running_app(data, worker=False) as frozen:
        async with frozen.rt.engine.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.email_id == email_id).values(state="sending"))
            await conn.execute(
                update(emails).where(emails.c.id == email_id).values(status="queued", sent_folder_copy=None)
            )


async def _send_and_crash(tmp_path, mail_server, provider_smtp, account):
    data = tmp_path / "crash"
    async with running_app(data) as first:
        user, inbox = await connect(first, mail_server, provider_smtp, account)
        resp = await user.post(
            "/api/v1/emails",
            {
                "inbox_id": inbox["id"],
                "to": [{"email": "z@elsewhere.test"}],
                "subject": "Once only",
                "text": "t",
            },
        )
        assert (await wait_sent(user, resp.json()["id"]))["status"] == "sent"
    before = len(provider_smtp.received)
    await _rewind_to_handover(data, resp.json()["id"])
    async with running_app(data) as second:
        user.client = second.client
        final = await wait_sent(user, resp.json()["id"])
    assert len(provider_smtp.received) == before  # never handed to SMTP a second time
    return final


async def test_interrupted_send_found_in_sent_is_marked_sent(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    final = await _send_and_crash(tmp_path, mail_server, provider_smtp, mail_user)
    assert final["status"] == "sent" and final["sent_folder_copy"] == "Sent"
    assert len(mail_server.messages(mail_user.email, "Sent")) == 1


async def test_interrupted_send_without_proof_fails_with_an_explanation(
    tmp_path, trust_test_ca, mail_server, provider_smtp
):
    address = "no-sent-folder@example.test"
    mail_server.add_user(address, "no-sent-pass", folders=("Archive",))

    class Account:
        email = address
        password = "no-sent-pass"

    final = await _send_and_crash(tmp_path, mail_server, provider_smtp, Account)
    assert final["status"] == "failed"
    assert final["error"]["code"] == "send_interrupted"
    assert "Sent folder" in final["error"]["message"]
