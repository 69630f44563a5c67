"""What we write on the wire when answering hostile or unusual mail from the CRM: a reply whose
Message-ID is not ASCII, a reply with 10,000 References, and attachments declared with types a
single base64 part cannot have. Every message is delivered to the suite's Dovecot, logged by the
monitor, answered through the API and read back from what the provider's SMTP server accepted."""

from __future__ import annotations

import base64
import email
import secrets
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from inboxlink.mime.headers import scan_headers
from tests.support.app import wait_for
from tests.support.flows import inbound, wait_sent
from tests.support.replies import deliver_reply

CLIENT = "client@prospect.test"  # the conversation fixture's correspondent


def raw_reply(mailbox: str, parent_id: str, message_id: str, references: str = "") -> bytes:
    """A reply as a client writes it, by hand so the header bytes are exactly what we choose."""
    head = [
        f"From: Chris Client <{CLIENT}>",
        f"To: {mailbox}",
        "Subject: Re: Our offer",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: <{message_id}>",
        f"In-Reply-To: <{parent_id}>",
        *([f"References: {references}"] if references else []),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(head) + "\r\n\r\nD'accord, merci.\r\n").encode("utf-8")


async def answer(user: Any, inbox: dict[str, Any], parent: dict[str, Any], **extra: Any) -> dict[str, Any]:
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": CLIENT}],
            "text": "Thanks!",
            "in_reply_to_email_id": parent["id"],
            **extra,
        },
    )
    assert resp.status_code == 202, resp.text
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["status"] == "sent", sent["error"]
    return sent


def on_the_wire(provider_smtp: Any, message_id: str) -> bytes:
    found = [data for _from, _to, data in provider_smtp.received if f"<{message_id}>".encode() in data]
    assert len(found) == 1, f"{len(found)} messages with {message_id}"
    return found[0]


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


async def test_answering_a_reply_whose_message_id_is_not_ascii(
    conversation, mail_server, mail_user, provider_smtp
):
    user, inbox, sent = conversation
    foreign_id = f"réponse-{secrets.token_hex(4)}@client.exemple.test"  # RFC 6532: UTF-8 in a msg-id
    mail_server.deliver(mail_user.email, raw_reply(mail_user.email, sent["message_id"], foreign_id))
    [reply] = await inbound(user, sent["contact_ids"][0])
    assert reply["message_id"] == foreign_id

    ours = await answer(user, inbox, reply)  # was 422 "'ascii' codec can't encode character"
    assert ours["thread_id"] == sent["thread_id"] and ours["subject"] == "Re: Our offer"
    head = header_block(on_the_wire(provider_smtp, ours["message_id"]))
    assert head.isascii()
    summary = scan_headers(head + b"\r\n\r\n")
    # The id we cannot write is left out; our own id still ends References, so the next answer
    # (which quotes it) is matched.
    assert summary.in_reply_to == ()
    assert summary.references[-1] == ours["message_id"] and foreign_id not in summary.references

    deliver_reply(mail_server, mail_user.email, CLIENT, ours["message_id"], "Reçu.")
    replies = await inbound(user, sent["contact_ids"][0], count=2)
    assert {r["thread_id"] for r in replies} == {sent["thread_id"]}


async def test_answering_a_reply_with_ten_thousand_references(
    conversation, mail_server, mail_user, provider_smtp
):
    user, inbox, sent = conversation
    chain = [f"{i}.{secrets.token_hex(8)}@hostile.example" for i in range(10_000)]
    reply_id = f"hostile-{secrets.token_hex(4)}@hostile.example"
    references = "\r\n ".join(f"<{ref}>" for ref in [*chain, sent["message_id"]])
    mail_server.deliver(mail_user.email, raw_reply(mail_user.email, sent["message_id"], reply_id, references))
    [reply] = await inbound(user, sent["contact_ids"][0], timeout=40)

    ours = await answer(user, inbox, reply)
    head = header_block(on_the_wire(provider_smtp, ours["message_id"]))
    assert len(head) < 4_000, f"{len(head)} bytes of header"  # was 550 KB (Postfix refuses > 100 KB)
    refs = scan_headers(head + b"\r\n\r\n").references
    assert len(refs) == 21
    assert refs[0] == chain[0]  # the thread's root
    assert refs[-3:] == (sent["message_id"], reply_id, ours["message_id"])  # ... its newest, ours last
    assert scan_headers(head + b"\r\n\r\n").in_reply_to == (reply_id,)
    # What the CRM keeps of the chain is what was sent.
    stored = (await user.get(f"/api/v1/emails/{ours['id']}")).json()
    assert stored["thread_id"] == sent["thread_id"]

    deliver_reply(mail_server, mail_user.email, CLIENT, ours["message_id"], "ok")
    assert len(await inbound(user, sent["contact_ids"][0], count=2)) == 2


DATA = b"\x00\x01binary\xff\r\n--not-a-boundary\r\n"


async def test_attachments_with_unwritable_types_go_out_as_octet_stream(conversation, mail_server, mail_user):
    user, inbox, _sent = conversation
    recipient = f"files-{mail_user.email}"
    mail_server.add_user(recipient, "files-password")
    declared = {
        "mixed.bin": "multipart/mixed",
        "forwarded.eml": "message/rfc822",
        "semi.txt": "te;xt/plain",
        "params.txt": "text/plain; charset=utf-8",
        "fine.pdf": "application/pdf",
    }
    resp = await user.post(
        "/api/v1/emails",
        {
            "inbox_id": inbox["id"],
            "to": [{"email": recipient}],
            "subject": "Files",
            "text": "attached",
            "attachments": [
                {"filename": name, "content_type": ctype, "content_base64": base64.b64encode(DATA).decode()}
                for name, ctype in declared.items()
            ],
        },
    )
    assert resp.status_code == 202, resp.text
    recorded = {a["filename"]: a["content_type"] for a in resp.json()["attachments"]}
    sent = await wait_sent(user, resp.json()["id"])
    assert sent["status"] == "sent", sent["error"]

    [raw] = await wait_for(lambda: _inbox(mail_server, recipient))
    delivered: EmailMessage = email.message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
    parts = {p.get_filename(): p for p in delivered.iter_attachments()}
    expected = {
        name: "application/pdf" if name == "fine.pdf" else "application/octet-stream" for name in declared
    }
    assert {name: p.get_content_type() for name, p in parts.items()} == expected
    assert recorded == expected  # the CRM lists what went out
    for part in parts.values():
        assert part.get_payload(decode=True) == DATA and not part.is_multipart()
        assert part["Content-Type"].count(";") <= 1  # only `name=`; nothing of the declared type


async def _inbox(mail_server: Any, address: str) -> list[bytes]:
    return mail_server.messages(address, "INBOX")
