"""Writing like in a mail client (issue 14 item 6) against the real peers: a forward is a new
conversation (its reply, delivered to Dovecot, follows the forward), attachments copied on the
server; reply-all leaves the user out; the composer's HTML is cleaned and its text part derived
(as the SMTP server received it); drafts are sealed, private and gone after sending; the signature;
the record after a composer error keeps its profile and sequence parts."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from html import unescape
from typing import Any

import httpx
from sqlalchemy import select

from inboxlink.storage.composer_tables import drafts, signatures
from tests.integration.conftest import CLIENT
from tests.support.app import running_app, wait_for
from tests.support.flows import inbound, start_conversation, wait_sent
from tests.support.replies import make_reply
from tests.support.web import sign_in

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
CAROL = "carol@partner.test"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def _field(html: str, name: str) -> str:
    found = re.search(rf'<input id="compose-{name}" name="{name}" type="text" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return unescape(found.group(1))


def _received(provider_smtp: Any, rcpt: str) -> EmailMessage:
    for _sender, rcpts, data in reversed(provider_smtp.received):
        if rcpt in rcpts:
            return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]
    raise AssertionError(f"nothing was sent to {rcpt}")


async def _client_reply(
    app: Any, user: Any, mail_server: Any, mail_user: Any, sent: dict[str, Any]
) -> dict[str, Any]:
    """Chris answers our email, Dave in Cc, with a PDF attached: the logged inbound email."""
    _, raw = make_reply(
        sender=f"Chris Client <{CLIENT}>",
        to=mail_user.email,
        cc="Dave Decider <dave@prospect.test>",
        subject="Re: Our offer",
        text="Thursday works for us.\n",
        in_reply_to=sent["message_id"],
        references=[sent["message_id"]],
        attachments=[("order.pdf", "application/pdf", PDF)],
    )
    mail_server.deliver(mail_user.email, raw)
    [reply] = await inbound(user, sent["contact_ids"][0])
    return reply


async def test_forward_is_a_new_conversation_and_a_reply_to_it_follows_the_forward(
    app, conversation, mail_server, provider_smtp, mail_user
):
    user, inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    reply = await _client_reply(app, user, mail_server, mail_user, sent)
    assert reply["thread_id"] == sent["thread_id"]

    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": CAROL, "name": "Carol"}],
            "text": "Carol, the order below.",
            "forward_of_email_id": reply["id"],
            "forward_attachments": True,
            "contact_id": contact_id,
        },
    )
    assert resp.status_code == 202, resp.text
    forward = resp.json()
    assert forward["thread_id"] != sent["thread_id"]
    assert forward["subject"] == "Fwd: Re: Our offer"
    assert forward["text"].startswith("Carol, the order below.\n\n---------- Forwarded message ---------\n")
    assert f"From: Chris Client <{CLIENT}>" in forward["text"] and "Thursday works for us." in forward["text"]
    assert [a["filename"] for a in forward["attachments"]] == ["order.pdf"]
    assert contact_id in forward["contact_ids"]  # on the record it was forwarded from, on its own
    assert (await wait_sent(user, forward["id"]))["status"] == "sent"

    # On the wire: nothing points at the original conversation; the PDF copied from storage.
    msg = _received(provider_smtp, CAROL)
    assert msg["In-Reply-To"] is None
    references = str(msg["References"] or "")
    assert sent["message_id"] not in references and reply["message_id"] not in references
    assert msg["Subject"] == "Fwd: Re: Our offer"
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "order.pdf" and part.get_content() == PDF

    # Carol answers the forward (delivered to the Dovecot INBOX): it lands with the forward.
    _, raw = make_reply(
        sender=f"Carol <{CAROL}>",
        to=mail_user.email,
        subject="Re: Fwd: Re: Our offer",
        text="Got it, thanks.\n",
        in_reply_to=forward["message_id"],
        references=[forward["message_id"]],
    )
    mail_server.deliver(mail_user.email, raw)

    async def forward_thread() -> list[dict[str, Any]] | None:
        found = (await user.get(f"/api/v1/threads/{forward['thread_id']}")).json()["emails"]
        return found if len(found) == 2 else None

    emails = await wait_for(forward_thread, timeout=20)
    assert emails[1]["from"]["email"] == CAROL and emails[1]["direction"] == "inbound"
    original = (await user.get(f"/api/v1/threads/{sent['thread_id']}")).json()["emails"]
    assert [e["id"] for e in original] == [sent["id"], reply["id"]]

    # Another team's email cannot be forwarded (404), and an email is a reply or a forward.
    rival = await app.user("rival@other.test", team="other")
    theirs = await rival.post(
        "/api/v1/emails",
        {"inbox_id": inbox["id"], "to": [{"email": CAROL}], "forward_of_email_id": reply["id"]},
    )
    assert theirs.status_code == 404
    both = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": CAROL}],
            "forward_of_email_id": reply["id"],
            "in_reply_to_email_id": reply["id"],
        },
    )
    assert both.status_code == 422 and "reply or a forward" in both.text

    # Reply all and Forward on the record, without JavaScript.
    await sign_in(app.client, "seller@crm.test")
    page = (await app.client.get(f"/contacts/{contact_id}?reply={reply['id']}&all=1")).text
    assert _field(page, "to") == f"Chris Client <{CLIENT}>"
    assert _field(page, "cc") == "Dave Decider <dave@prospect.test>"  # everyone but me
    assert mail_user.email not in _field(page, "cc")
    page = (await app.client.get(f"/contacts/{contact_id}?forward={reply['id']}")).text
    assert _field(page, "subject") == "Fwd: Re: Our offer" and _field(page, "to") == ""
    assert "Forwarding" in page and "order.pdf" in page and 'name="forward_of_email_id"' in page


async def test_composer_html_is_cleaned_and_its_text_part_derived(app, conversation, provider_smtp):
    user, inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    await sign_in(app.client, "seller@crm.test")
    page = await app.client.get(f"/contacts/{contact_id}")
    resp = await app.client.post(
        f"/contacts/{contact_id}/send",
        data={
            "csrf_token": _csrf(page.text),
            "inbox_id": str(inbox["id"]),
            "to": CLIENT,
            "subject": "Formatted",
            "text": "a text part that says something else",
            "html": '<p onclick="steal()">Hi <b>Chris</b>,</p><ul><li>one</li><li>two</li></ul>'
            '<script>alert(1)</script><a href="javascript:alert(2)">click</a> '
            '<a href="https://prospect.test/terms">terms</a><img src=x onerror="alert(3)">',
            "draft_context": "new",
        },
    )
    assert resp.status_code == 303, resp.text
    email_id = int(resp.headers["location"].split("sent=")[1].split("#")[0])
    assert (await wait_sent(user, email_id))["status"] == "sent"
    msg = _received(provider_smtp, CLIENT)
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "<b>Chris</b>" in html and "<ul><li>one</li><li>two</li></ul>" in html
    for bad in ("script", "onclick", "javascript", "onerror", "<img", "alert"):
        assert bad not in html
    assert 'href="https://prospect.test/terms"' in html
    assert "Hi Chris," in text and "- one\n- two" in text and "terms (https://prospect.test/terms)" in text
    assert "something else" not in text


async def test_drafts_are_sealed_private_restored_and_gone_after_sending(app, conversation):
    _user, inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    await sign_in(app.client, "seller@crm.test")
    token = _csrf((await app.client.get(f"/contacts/{contact_id}")).text)
    saved = await app.client.post(
        f"/contacts/{contact_id}/draft",
        data={
            "csrf_token": token,
            "draft_context": "new",
            "to": CLIENT,
            "subject": "Plan",
            "text": "Secret plan draft",
        },
    )
    assert saved.status_code == 200 and saved.json()["draft"]["context"] == "new"
    async with app.rt.engine.connect() as conn:
        [body] = (await conn.execute(select(drafts.c.body))).scalars().all()
    assert body.startswith("fernet:") and "Secret plan" not in body  # sealed at rest

    page = (await app.client.get(f"/contacts/{contact_id}")).text
    assert "Secret plan draft</textarea>" in page and "Draft restored" in page
    assert (
        await app.client.post(
            f"/contacts/{contact_id}/draft", data={"csrf_token": token, "draft_context": "x:1"}
        )
    ).status_code == 422
    assert (
        await app.client.post(f"/contacts/{contact_id}/draft", data={"draft_context": "new"})
    ).status_code in (400, 403)

    # A colleague on the same team sees no draft of mine; another team cannot even reach the contact.
    await app.user("colleague@crm.test")
    await app.user("rival@other.test", team="other")
    transport = app.client._transport
    for login, status in (("colleague@crm.test", 404), ("rival@other.test", 404)):
        async with httpx.AsyncClient(transport=transport, base_url="http://inboxlink.test") as other:
            await sign_in(other, login)
            assert (await other.get(f"/contacts/{contact_id}/draft?context=new")).status_code == status
            record = await other.get(f"/contacts/{contact_id}")
            assert "Secret plan" not in record.text
            other_token = _csrf((await other.get("/contacts")).text)
            theirs = await other.post(
                f"/contacts/{contact_id}/draft",
                data={"csrf_token": other_token, "draft_context": "new", "text": "x"},
            )
            assert theirs.status_code == (200 if login.startswith("colleague") else 404)

    sent_now = await app.client.post(
        f"/contacts/{contact_id}/send",
        data={"csrf_token": token, "inbox_id": str(inbox["id"]), "to": CLIENT, "subject": "Plan",
              "text": "Secret plan draft", "draft_context": "new"},
    )  # fmt: skip
    assert sent_now.status_code == 303
    assert (await app.client.get(f"/contacts/{contact_id}/draft?context=new")).status_code == 404
    assert "Draft restored" not in (await app.client.get(f"/contacts/{contact_id}")).text

    # A forward's draft, the newest one: reopening the record reopens that forward with it.
    saved = await app.client.post(
        f"/contacts/{contact_id}/draft",
        data={"csrf_token": token, "draft_context": f"forward:{sent['id']}", "to": "carol@partner.test",
              "subject": "Fwd: Our offer", "text": "Carol, see below."},
    )  # fmt: skip
    assert saved.status_code == 200
    page = (await app.client.get(f"/contacts/{contact_id}")).text
    assert "Forwarding" in page and f'name="forward_of_email_id" value="{sent["id"]}"' in page
    assert _field(page, "to") == "carol@partner.test" and "Carol, see below.</textarea>" in page
    assert f'value="forward:{sent["id"]}" data-draft-context' in page
    # Discarded without JavaScript: gone.
    discarded = await app.client.post(
        f"/contacts/{contact_id}/draft/discard",
        data={"csrf_token": token, "draft_context": f"forward:{sent['id']}"},
    )
    assert discarded.status_code == 303
    assert "Forwarding" not in (await app.client.get(f"/contacts/{contact_id}")).text


async def test_signature_is_saved_sealed_and_starts_every_new_email(app, conversation):
    _user, _inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    await sign_in(app.client, "seller@crm.test")
    settings = await app.client.get("/settings")
    assert "Your signature" in settings.text
    saved = await app.client.post(
        "/settings/signature",
        data={"csrf_token": _csrf(settings.text), "signature": "Sam Seller\r\nAcme Sales  \r\n"},
    )
    assert saved.status_code == 303
    async with app.rt.engine.connect() as conn:
        [stored] = (await conn.execute(select(signatures.c.text))).scalars().all()
    assert stored.startswith("fernet:") and "Acme" not in stored
    assert "Signature saved." in (await app.client.get("/settings?signature=saved")).text
    record = (await app.client.get(f"/contacts/{contact_id}?compose=1")).text
    assert "\n\n-- \nSam Seller\nAcme Sales</textarea>" in record
    too_long = await app.client.post(
        "/settings/signature", data={"csrf_token": _csrf(settings.text), "signature": "x" * 2001}
    )
    assert too_long.status_code == 422 and "keep it under 2,000" in too_long.text
    cleared = await app.client.post(
        "/settings/signature", data={"csrf_token": _csrf(settings.text), "signature": ""}
    )
    assert cleared.status_code == 303
    assert "-- \n" not in (await app.client.get(f"/contacts/{contact_id}?compose=1")).text


async def test_the_record_after_a_composer_error_keeps_its_profile_and_sequences(app, conversation):
    user, inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    patched = await user.client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={"job_title": "Head of Purchasing"},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert patched.status_code == 200, patched.text
    await sign_in(app.client, "seller@crm.test")
    page = await app.client.get(f"/contacts/{contact_id}")
    assert "Head of Purchasing" in page.text and 'id="sequences"' in page.text
    failed = await app.client.post(
        f"/contacts/{contact_id}/send",
        data={"csrf_token": _csrf(page.text), "inbox_id": str(inbox["id"]), "to": "bob@x.test, not an address",
              "subject": "Kept subject", "text": "Hi"},
    )  # fmt: skip
    assert failed.status_code == 422
    assert "“not an address” in To isn’t an email address" in failed.text
    assert _field(failed.text, "subject") == "Kept subject"
    # The parts the record page has, there after the error too.
    for part in ("Head of Purchasing", "data-contact-profile", 'id="sequences"', 'id="timeline"'):
        assert part in failed.text, part


async def test_forwarded_attachments_over_the_limit_are_refused_unread(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    """With a 20 KB limit, forwarding a reply whose stored attachment is 30 KB is refused with
    `message_too_large` from the stored sizes: not one attachment's bytes are read for it."""
    async with running_app(tmp_path / "d", INBOXLINK_MAX_SEND_BYTES="20000") as small:
        user, inbox, sent = await start_conversation(
            small, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Our offer", text="Hi Chris"
        )
        _, raw = make_reply(
            sender=f"Chris Client <{CLIENT}>", to=mail_user.email, subject="Re: Our offer",
            text="The plans are attached.\n", in_reply_to=sent["message_id"],
            references=[sent["message_id"]], attachments=[("plans.bin", "application/octet-stream", b"x" * 30000)],
        )  # fmt: skip
        mail_server.deliver(mail_user.email, raw)
        [reply] = await inbound(user, sent["contact_ids"][0])
        assert [a["filename"] for a in reply["attachments"]] == ["plans.bin"]  # stored
        store = small.rt.attachment_store
        reads: list[str] = []
        real_read = store.read

        async def counted_read(name: str) -> bytes:
            reads.append(name)
            return await real_read(name)

        store.read = counted_read  # type: ignore[method-assign]
        body = {"inbox_id": inbox["id"], "to": [{"email": CAROL}], "forward_of_email_id": reply["id"]}
        resp = await user.post("/api/v1/emails", {**body, "forward_attachments": True})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "message_too_large", resp.text
        assert "Forward without attachments" in resp.json()["error"]["message"]
        assert reads == []
        without = await user.post("/api/v1/emails", body)  # the same forward without them goes
        assert without.status_code == 202, without.text
