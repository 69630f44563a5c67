"""Hostile replies (issue 9, findings 1, 6 and 9), delivered over LMTP to the suite's Dovecot: they are
logged within the caps with the original attached, parsed in a worker process while the API keeps
answering, cut off at the time budget, and the mail after them is still logged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from inboxlink.mime.parse import MAX_ATTACHMENTS, MAX_HTML_CHARS
from inboxlink.services.crm.timeline import MAX_CONTACTS_PER_MESSAGE
from inboxlink.storage.tables import attachments
from tests.integration.conftest import CLIENT
from tests.integration.test_bcc import bcc_address, emails_of, listening, message, send
from tests.support.app import running_app, wait_for
from tests.support.flows import inbound, start_conversation
from tests.support.hostile import big_html, many_cc, many_parts, typed_attachment
from tests.support.replies import make_reply
from tests.support.web import served, sign_in

if TYPE_CHECKING:  # imported by name, pytest would try to collect them as test classes
    from tests.support.app import TestApp, TestUser


def blob_files(app: TestApp) -> int:
    root = app.data_dir / "attachments"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


async def deliver(mail_server: Any, mailbox: str, raw: bytes) -> None:
    # smtplib blocks: in a thread, so the app (on this loop) works while Dovecot takes the message.
    await asyncio.to_thread(mail_server.deliver, mailbox, raw)


async def normal_reply(mail_server: Any, mailbox: str, parent_id: str, text: str) -> str:
    reply_id, raw = make_reply(
        sender=CLIENT, to=mailbox, subject="Re: Our offer", text=text, in_reply_to=parent_id
    )
    await deliver(mail_server, mailbox, raw)
    return reply_id


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The parse worker frozen (SIGSTOP): from the outside, a parse that is taking its time."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


async def test_a_reply_of_100000_parts_is_logged_within_the_caps(app, conversation, mail_server, mail_user):
    user, inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    hostile_id, raw = many_parts(CLIENT, mail_user.email, sent["message_id"])
    await deliver(mail_server, mail_user.email, raw)
    after_id = await normal_reply(mail_server, mail_user.email, sent["message_id"], "still here after that")
    found = {e["message_id"]: e for e in await inbound(user, contact_id, count=2, timeout=60)}
    hostile = found[hostile_id]
    assert hostile["truncated"] is True
    names = [a["filename"] for a in hostile["attachments"]]
    assert names.count("a.bin") == MAX_ATTACHMENTS and names.count("original-message.eml") == 1
    assert len(names) == MAX_ATTACHMENTS + 1
    assert blob_files(app) == MAX_ATTACHMENTS + 1  # not 100,010 files
    assert any("attachments beyond the first 100 were not kept" in p for p in hostile["problems"])
    [original] = [a for a in hostile["attachments"] if a["filename"] == "original-message.eml"]
    kept = await user.get(f"/api/v1/attachments/{original['id']}")
    assert kept.status_code == 200 and raw in kept.content  # nothing lost: every part is in there
    assert "still here after that" in found[after_id]["text"] and found[after_id]["truncated"] is False
    state = (await user.get(f"/api/v1/inboxes/{inbox['id']}")).json()
    assert state["status"] == "connected" and not state["last_error"]


async def test_the_api_answers_while_a_reply_is_being_parsed(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    await app.rt.parser.start()
    [worker] = app.rt.parser.pids()
    hostile_id, raw = many_parts(CLIENT, mail_user.email, sent["message_id"], parts=20_000)
    with stopped(worker):
        await deliver(mail_server, mail_user.email, raw)

        async def parsing() -> bool:
            return app.rt.parser.in_flight > 0

        await wait_for(parsing, timeout=30)
        me = await user.get("/api/v1/me")  # the parse is in progress, and the API answers
        assert me.status_code == 200 and me.json()["email"] == "seller@crm.test"
        emails = (await user.get(f"/api/v1/contacts/{contact_id}/emails")).json()["items"]
        assert hostile_id not in [e["message_id"] for e in emails]
    [reply] = await inbound(user, contact_id, timeout=30)
    assert reply["message_id"] == hostile_id and reply["truncated"] is True


async def test_a_reply_over_the_time_budget_is_logged_with_its_headers_and_the_original(
    tmp_path, trust_test_ca, mail_server, provider_smtp, mail_user
):
    async with running_app(tmp_path / "data", INBOXLINK_PARSE_TIMEOUT="1") as app:
        user, _inbox, sent = await start_conversation(
            app, mail_server, provider_smtp, mail_user, to=CLIENT, subject="Our offer"
        )
        contact_id = sent["contact_ids"][0]
        await app.rt.parser.start()
        [worker] = app.rt.parser.pids()
        slow_id, raw = make_reply(
            sender=f"Chris Client <{CLIENT}>",
            to=mail_user.email,
            cc="Dana Colleague <dana@prospect.test>",
            subject="Re: Our offer",
            text="the body nobody could read in time",
            in_reply_to=sent["message_id"],
        )
        with stopped(worker):  # frozen past its 1 s budget: it is killed, the message still logged
            await deliver(mail_server, mail_user.email, raw)
            [reply] = await inbound(user, contact_id, timeout=30)
        assert reply["message_id"] == slow_id
        assert reply["from"] == {"email": CLIENT, "name": "Chris Client"}
        assert reply["subject"] == "Re: Our offer" and reply["cc"][0]["email"] == "dana@prospect.test"
        assert reply["thread_id"] == sent["thread_id"]
        assert "too complex to display; the original is attached" in reply["text"]
        assert reply["truncated"] is True and any("longer than 1 s" in p for p in reply["problems"])
        [original] = [a for a in reply["attachments"] if a["filename"] == "original-message.eml"]
        content = (await user.get(f"/api/v1/attachments/{original['id']}")).content
        assert b"the body nobody could read in time" in content
        assert worker not in app.rt.parser.pids()
        # A fresh worker reads the next reply in full.
        after_id = await normal_reply(mail_server, mail_user.email, sent["message_id"], "read in full")
        found = {e["message_id"]: e for e in await inbound(user, contact_id, count=2, timeout=30)}
        assert "read in full" in found[after_id]["text"] and not found[after_id]["truncated"]


async def test_a_huge_html_reply_is_cut_and_the_record_says_so(app, conversation, mail_server, mail_user):
    user, _inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    hostile_id, raw = big_html(CLIENT, mail_user.email, sent["message_id"], size=5_000_000)
    await deliver(mail_server, mail_user.email, raw)
    [reply] = await inbound(user, contact_id, timeout=60)
    assert reply["message_id"] == hostile_id and reply["truncated"] is True
    assert 1_000_000 < len(reply["html"]) <= MAX_HTML_CHARS
    assert reply["html"].rstrip().endswith("</p>")  # cut between tags, not inside one
    assert "THE-END-MARKER" not in reply["html"]
    [original] = [a for a in reply["attachments"] if a["filename"] == "original-message.eml"]
    assert b"THE-END-MARKER" in (await user.get(f"/api/v1/attachments/{original['id']}")).content
    await sign_in(app.client, "seller@crm.test")
    page = await app.client.get(f"/contacts/{contact_id}")
    assert page.status_code == 200 and "Truncated; the original is attached." in page.text


async def test_a_reply_naming_40000_people_makes_at_most_50_contacts(
    app, conversation, mail_server, mail_user
):
    user, _inbox, sent = conversation
    client_contact = sent["contact_ids"][0]
    early = (await user.post("/api/v1/contacts", {"email": "p3@spam3.example"})).json()  # 5th in the mail
    late = (await user.post("/api/v1/contacts", {"email": "p60@spam60.example"})).json()  # 62nd
    before = (await user.get("/api/v1/contacts", params={"limit": 1})).json()["total"]
    hostile_id, raw = many_cc(CLIENT, mail_user.email, sent["message_id"], count=40_000)
    await deliver(mail_server, mail_user.email, raw)
    after_id = await normal_reply(mail_server, mail_user.email, sent["message_id"], "just us again")
    found = {e["message_id"]: e for e in await inbound(user, client_contact, count=2, timeout=60)}
    hostile = found[hostile_id]
    created = (await user.get("/api/v1/contacts", params={"limit": 1})).json()["total"] - before
    assert created <= MAX_CONTACTS_PER_MESSAGE
    assert len(hostile["cc"]) == 40_000  # everyone stays listed on the email
    assert early["id"] in hostile["contact_ids"] and late["id"] not in hostile["contact_ids"]
    assert len(hostile["contact_ids"]) <= MAX_CONTACTS_PER_MESSAGE
    assert any("39,951 more addresses were not made contacts" in p for p in hostile["problems"])
    assert "just us again" in found[after_id]["text"]


async def downloads(base: str, user: TestUser, attachment_id: int) -> list[httpx.Response]:
    """The attachment through the API and through the web UI, over real HTTP."""
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        api = await client.get(
            f"/api/v1/attachments/{attachment_id}", headers={"Authorization": f"Bearer {user.token}"}
        )
        await sign_in(client, "seller@crm.test")
        return [api, await client.get(f"/attachments/{attachment_id}")]


async def test_an_attachment_typed_with_a_control_character_still_downloads(
    app, conversation, mail_server, mail_user
):
    user, _inbox, sent = conversation
    contact_id = sent["contact_ids"][0]
    _id, raw = typed_attachment(CLIENT, mail_user.email, sent["message_id"], "text/ht\x0bml")
    await deliver(mail_server, mail_user.email, raw)
    [reply] = await inbound(user, contact_id)
    [file] = [a for a in reply["attachments"] if a["filename"] == "page.html"]
    assert file["content_type"] == "application/octet-stream"
    async with served(app) as base:
        for resp in await downloads(base, user, file["id"]):
            assert resp.status_code == 200 and resp.content.strip() == b"<p>hi</p>"
            assert resp.headers["content-type"] == "application/octet-stream"
        # A row stored before types were checked (by an older version) downloads too.
        async with app.rt.engine.begin() as conn:
            await conn.execute(
                attachments.update()
                .where(attachments.c.id == file["id"])
                .values(content_type="text/ht\x0bml")
            )
        for resp in await downloads(base, user, file["id"]):
            assert resp.status_code == 200 and resp.headers["content-type"] == "application/octet-stream"


async def test_bcc_mail_to_200_people_makes_at_most_50_contacts(tmp_path):
    async with running_app(tmp_path / "data", worker=False) as app:
        user = await app.user("seller@crm.test")
        recipients = [f"r{i}@prospect.test" for i in range(200)]
        msg = message("seller@crm.test", ", ".join(recipients), "Offer for all", "hello all")
        async with listening(app.rt) as listener:
            await send(listener, "seller@crm.test", [bcc_address(user)], msg)
        contacts = (await user.get("/api/v1/contacts", params={"limit": 200})).json()
        assert contacts["total"] == MAX_CONTACTS_PER_MESSAGE
        assert {c["email"] for c in contacts["items"]} == set(recipients[:MAX_CONTACTS_PER_MESSAGE])
        [logged] = await emails_of(user, recipients[0])
        assert len(logged["to"]) == 200 and len(logged["contact_ids"]) == MAX_CONTACTS_PER_MESSAGE
        assert any("150 more addresses were not made contacts" in p for p in logged["problems"])
