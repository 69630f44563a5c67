"""The BCC / forward logging listener over real SMTP (smtplib in a thread, the listener in the test's
event loop): Bcc'd mail on the recipients' records and in the right thread, the reply logged by the
monitor, refusals (unknown address, relay attempt, spoofed From, too big), exactly-once, forwards."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from inboxlink.bcc import BccListener
from inboxlink.services.platform.runtime import Runtime
from tests.integration.test_send import connect
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app, wait_for
from tests.support.replies import make_reply
from tests.unit.test_forwarded import APPLE_QUOTED, GMAIL, OUTLOOK_CLASSIC  # the inline forms, as sent

if TYPE_CHECKING:  # imported by name, pytest would try to collect them as test classes
    from tests.support.app import TestApp, TestUser

CLIENT = "client@prospect.test"
ALICE = "alice@prospect.test"
ORIGINAL_DATE = datetime(2024, 6, 3, 20, 15, tzinfo=UTC)


@contextlib.asynccontextmanager
async def listening(rt: Runtime) -> AsyncIterator[BccListener]:
    listener = BccListener(rt, ("127.0.0.1", 0))
    await listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def plain_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestApp]:
    """An app without mail peers or workers, on each backend: enough for what the listener decides."""
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            if reason := postgres_reachable():
                pytest.skip(reason)
            url = stack.enter_context(fresh_postgres_db())
        async with running_app(tmp_path / "data", url, worker=False) as test_app:
            yield test_app


def _send(port: int, mail_from: str, rcpts: list[str], raw: bytes | EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.sendmail(mail_from, rcpts, wire(raw))


def wire(msg: bytes | EmailMessage) -> bytes:
    # smtplib sends bytes as they are; on the wire (and for aiosmtpd's line reader) lines end in CRLF.
    return msg.as_bytes(policy=policy.SMTP) if isinstance(msg, EmailMessage) else msg


async def send(listener: BccListener, mail_from: str, rcpts: list[str], raw: bytes | EmailMessage) -> None:
    # smtplib blocks; the listener runs in this very event loop.
    await asyncio.to_thread(_send, listener.port, mail_from, rcpts, raw)


def bcc_address(user: TestUser, domain: str = "bcc.localhost") -> str:
    return f"{user.caller.bcc_token}@{domain}"


def message(sender: str, to: str, subject: str, text: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="client.example.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def emails_of(user: TestUser, address: str) -> list[dict]:
    found = (await user.get("/api/v1/contacts", params={"email": address})).json()["items"]
    if not found:
        return []
    return (await user.get(f"/api/v1/contacts/{found[0]['id']}/emails")).json()["items"]


async def no_contact(user: TestUser, address: str) -> bool:
    return not (await user.get("/api/v1/contacts", params={"email": address})).json()["items"]


async def test_bcc_mail_is_logged_threaded_and_answered(app, mail_server, provider_smtp, mail_user):
    user, inbox = await connect(app, mail_server, provider_smtp, mail_user)
    await wait_for(lambda: _connected(app, inbox["id"]))
    async with listening(app.rt) as listener:
        out = message(
            f"Sam Seller <{mail_user.email}>", f"Chris Client <{CLIENT}>", "Proposal", "Hi Chris, here it is."
        )
        out["Cc"] = "seller@crm.test"  # the user's own login address: never a contact
        await send(listener, mail_user.email, [bcc_address(user)], out)
        [logged] = await emails_of(user, CLIENT)
        assert logged["message_id"] == out["Message-ID"].strip("<>")
        assert logged["direction"] == "outbound" and logged["status"] == "logged"
        assert logged["source"] == "bcc" and logged["inbox_id"] == inbox["id"]
        assert logged["from"] == {"email": mail_user.email, "name": "Sam Seller"}
        assert "Hi Chris" in logged["text"]
        assert await no_contact(user, mail_user.email) and await no_contact(user, "seller@crm.test")

        # The client answers into the user's mailbox: the monitor logs it in the same thread.
        reply_id, raw = make_reply(
            sender=f"Chris Client <{CLIENT}>",
            to=mail_user.email,
            subject="Re: Proposal",
            text="Looks good.",
            in_reply_to=logged["message_id"],
            references=[logged["message_id"]],
        )
        mail_server.deliver(mail_user.email, raw)

        async def reply_logged():
            return [e for e in await emails_of(user, CLIENT) if e["direction"] == "inbound"]

        [reply] = await wait_for(reply_logged, timeout=20)
        assert reply["message_id"] == reply_id and reply["thread_id"] == logged["thread_id"]

        # The user's answer from their own client, Bcc'd again, joins that thread too ...
        answer = message(mail_user.email, CLIENT, "Re: Re: Proposal", "Great.", In_Reply_To=f"<{reply_id}>")
        await send(listener, mail_user.email, [bcc_address(user)], answer)
        # ... while the same answer to a newcomer starts a new thread (domain.threads rule).
        aside = message(
            mail_user.email, "dana@other.test", "Fwd: Proposal", "FYI", In_Reply_To=f"<{reply_id}>"
        )
        await send(listener, mail_user.email, [bcc_address(user)], aside)
    by_id = {e["message_id"]: e for e in await emails_of(user, CLIENT)}
    assert by_id[answer["Message-ID"].strip("<>")]["thread_id"] == logged["thread_id"]
    [dana] = await emails_of(user, "dana@other.test")
    assert dana["thread_id"] != logged["thread_id"] and dana["direction"] == "outbound"
    thread = (await user.get(f"/api/v1/threads/{logged['thread_id']}")).json()
    assert len(thread["emails"]) == 3


async def _connected(app: TestApp, inbox_id: int) -> bool:
    monitor = app.monitor(inbox_id)
    return monitor is not None and monitor.connected.is_set()


async def test_unknown_relay_and_rotated_addresses_are_refused(plain_app):
    user = await plain_app.user("seller@crm.test")
    raw = message("seller@crm.test", CLIENT, "Hello", "Hi")
    async with listening(plain_app.rt) as listener:
        for rcpt in [
            "0123456789abcdef01234567@bcc.localhost",  # no such token
            bcc_address(user, "elsewhere.test"),  # right token, other domain: no relaying
            CLIENT,
        ]:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                await send(listener, "seller@crm.test", [rcpt], raw)
            code, text = refused.value.recipients[rcpt]
            assert (code, text) == (550, b"5.1.1 No such BCC logging address")
        # Token and domain are case-insensitive.
        await send(listener, "seller@crm.test", [bcc_address(user).upper()], raw)
        assert len(await emails_of(user, CLIENT)) == 1

        old = bcc_address(user)
        rotated = (await user.post("/api/v1/me/bcc-address/rotate")).json()["bcc_address"]
        assert rotated != old
        again = message("seller@crm.test", CLIENT, "Hello again", "Hi")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await send(listener, "seller@crm.test", [old], again)
        await send(listener, "seller@crm.test", [rotated], again)
        assert len(await emails_of(user, CLIENT)) == 2


async def test_mail_from_someone_else_is_refused(plain_app):
    user = await plain_app.user("seller@crm.test")
    async with listening(plain_app.rt) as listener:
        spoofed = message("Mallory <mallory@evil.test>", CLIENT, "Hello", "Hi")
        for envelope in ("mallory@evil.test", "seller@crm.test"):  # the From header decides
            with pytest.raises(smtplib.SMTPDataError) as refused:
                await send(listener, envelope, [bcc_address(user)], spoofed)
            assert refused.value.smtp_code == 550
            assert refused.value.smtp_error.decode() == (
                "5.7.1 From <mallory@evil.test> is not one of your connected addresses; "
                "inboxlink does not log mail on someone else's behalf"
            )
        # Without a From header the envelope sender stands in for it.
        headless = message("x@y.test", CLIENT, "No From", "Hi")
        del headless["From"]
        with pytest.raises(smtplib.SMTPDataError):
            await send(listener, "mallory@evil.test", [bcc_address(user)], headless)
        await send(listener, "seller@crm.test", [bcc_address(user)], headless)
    assert [e["subject"] for e in await emails_of(user, CLIENT)] == ["No From"]
    assert await no_contact(user, "mallory@evil.test")


async def test_too_big_is_refused_with_552(tmp_path):
    async with running_app(tmp_path / "data", worker=False, INBOXLINK_MAX_SEND_BYTES="20000") as small:
        user = await small.user("seller@crm.test")
        raw = message("seller@crm.test", CLIENT, "Big", ("x" * 70 + "\n") * 400)
        async with listening(small.rt) as listener:
            # smtplib announces SIZE, so the refusal comes at MAIL FROM ...
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                await send(listener, "seller@crm.test", [bcc_address(user)], raw)
            assert refused.value.smtp_code == 552

            # ... and a client that does not announce it is refused after DATA.
            def without_size() -> tuple[int, bytes]:
                with smtplib.SMTP("127.0.0.1", listener.port, timeout=20) as client:
                    client.ehlo()
                    client.mail("seller@crm.test")
                    client.rcpt(bcc_address(user))
                    return client.data(wire(raw))

            assert (await asyncio.to_thread(without_size))[0] == 552
        assert await no_contact(user, CLIENT)


async def test_the_same_message_twice_is_logged_once(plain_app):
    user = await plain_app.user("seller@crm.test")
    with_id = message("seller@crm.test", CLIENT, "Once", "Hi")
    without_id = message("seller@crm.test", CLIENT, "Once, no id", "Hi")
    del without_id["Message-ID"]
    async with listening(plain_app.rt) as listener:
        for raw in (with_id, without_id):
            await send(listener, "seller@crm.test", [bcc_address(user)], raw)
            # A second delivery through another MTA hop: a new Received line, same message.
            hop = b"Received: from mx2.crm.test by bcc.crm.test; Mon, 3 Jun 2024 10:00:00 +0000\r\n" + wire(
                raw
            )
            await send(listener, "seller@crm.test", [bcc_address(user)], hop)
    assert sorted(e["subject"] for e in await emails_of(user, CLIENT)) == ["Once", "Once, no id"]


def _original() -> EmailMessage:
    original = EmailMessage()
    original["From"] = f"Alice Example <{ALICE}>"
    original["To"] = "Sam Seller <seller@crm.test>"
    original["Subject"] = "Pricing question"
    original["Date"] = format_datetime(ORIGINAL_DATE)
    original["Message-ID"] = "<pricing-1@prospect.test>"
    original.set_content("Hi Sam,\nwhat does the Pro plan cost?\n")
    original.add_attachment(b"%PDF-1.4 terms", maintype="application", subtype="pdf", filename="terms.pdf")
    return original


@pytest.mark.parametrize("form", ["attached", "gmail", "outlook", "apple"])
async def test_forwarded_email_is_logged_on_the_original_sender(plain_app, form):
    user = await plain_app.user("seller@crm.test")
    outer = EmailMessage()
    outer["From"] = "Sam Seller <seller@crm.test>"
    outer["To"] = bcc_address(user)
    outer["Subject"] = "Fwd: Pricing question"
    # The forwarder's clock is at +02:00: the inline block's naive 22:15 is 20:15 UTC.
    outer["Date"] = "Tue, 04 Jun 2024 09:00:00 +0200"
    outer["Message-ID"] = make_msgid(domain="crm.test")
    if form == "attached":
        outer.set_content("Please log this one.")
        outer.add_attachment(_original())  # message/rfc822
    else:
        outer.set_content({"gmail": GMAIL, "outlook": OUTLOOK_CLASSIC, "apple": APPLE_QUOTED}[form])
        outer.add_attachment(b"%PDF-1.4 terms", maintype="application", subtype="pdf", filename="terms.pdf")
    async with listening(plain_app.rt) as listener:
        for _ in range(2):  # exactly once, here too
            await send(listener, "seller@crm.test", [bcc_address(user)], outer)
    [logged] = await emails_of(user, ALICE)
    assert logged["direction"] == "inbound" and logged["source"] == "bcc"
    assert logged["from"] == {"email": ALICE, "name": "Alice Example"}
    assert logged["subject"] == "Pricing question"
    assert logged["text"].startswith("Hi Sam,\nwhat does the Pro plan cost?")
    assert datetime.fromisoformat(logged["sent_at"]) == ORIGINAL_DATE
    assert [a["filename"] for a in logged["attachments"]] == ["terms.pdf"]
    content = (await user.get(f"/api/v1/attachments/{logged['attachments'][0]['id']}")).content
    assert content == b"%PDF-1.4 terms"
    if form == "attached":
        assert logged["message_id"] == "pricing-1@prospect.test"
    # Only the original is logged: the forward itself had nobody else to go on.
    assert await no_contact(user, "seller@crm.test")
    assert [c["email"] for c in (await user.get("/api/v1/contacts")).json()["items"]] == [ALICE]


async def test_the_logging_address_never_shows_among_the_recipients(plain_app):
    user = await plain_app.user("seller@crm.test")
    # Some people put the address in Cc instead of Bcc: it must not be shown to teammates.
    raw = message("seller@crm.test", "buyer@prospect.test", "Visible Cc", "hello", Cc=bcc_address(user))
    async with listening(plain_app.rt) as listener:
        await send(listener, "seller@crm.test", [bcc_address(user)], raw)
    [logged] = await emails_of(user, "buyer@prospect.test")
    assert bcc_address(user) not in str(logged["to"] + logged["cc"])


async def test_too_many_connections_get_421(plain_app, monkeypatch):
    import inboxlink.bcc

    monkeypatch.setattr(inboxlink.bcc, "MAX_SESSIONS", 2)
    async with listening(plain_app.rt) as listener:
        held = [await asyncio.open_connection("127.0.0.1", listener.port) for _ in range(2)]
        for reader, _writer in held:
            assert (await reader.readline()).startswith(b"220")
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        assert (await reader.readline()).startswith(b"421")
        writer.close()
        for _reader, w in held:
            w.close()
