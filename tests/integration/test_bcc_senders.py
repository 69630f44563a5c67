"""Who may put mail on the records through the BCC listener (issue 9, finding 3), over real SMTP:

* the From rules, read on the header block before the body: two From fields, a From with two
  addresses, a huge message from a stranger — refused with 550 and a sentence;
* DKIM and SPF against a real DNS server on loopback (dnsmasq, tests/peers/dns.py) holding a DKIM key
  made here and `v=spf1 ip4:127.0.0.1 -all`: signed mail and SPF passes are marked verified, a
  stranger's envelope and forged forwarded originals are marked unverified, in the API and the UI;
* the BCC token never reaches the log, whatever level the loggers are at.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import smtplib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from inboxlink.storage.tables import tracked_ids
from tests.integration.test_bcc import ALICE, CLIENT, bcc_address, emails_of, listening, message, send, wire
from tests.peers.dns import DnsServer, dnsmasq_binary, running_dns
from tests.support.app import running_app

if TYPE_CHECKING:  # imported by name, pytest would try to collect them as test classes
    from tests.support.app import TestApp, TestUser

USER = "seller@example.test"  # example.test: DKIM key and SPF record published by the test DNS
SELECTOR = b"selector"


@dataclass(frozen=True)
class Signer:
    domain: bytes
    key_pem: bytes

    def sign(self, msg: EmailMessage | bytes) -> bytes:
        raw = wire(msg)
        header = dkim.sign(
            raw,
            SELECTOR,
            self.domain,
            self.key_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        return header + raw


def _key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@dataclass(frozen=True)
class Dns:
    server: DnsServer
    example: Signer  # the user's domain
    prospect: Signer  # a client's domain (genuine forwarded originals)


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dns]:
    if dnsmasq_binary() is None:
        pytest.skip("dnsmasq is not installed: run scripts/install-test-deps (the test command does)")
    example_pem, example_txt = _key()
    prospect_pem, prospect_txt = _key()
    records = {
        "selector._domainkey.example.test": example_txt,
        "example.test": "v=spf1 ip4:127.0.0.1 -all",
        "selector._domainkey.prospect.test": prospect_txt,
    }
    zones = ["example.test", "prospect.test", "evil.test", "mailer.test"]
    with running_dns(tmp_path_factory.mktemp("dns"), zones, records) as server:
        yield Dns(server, Signer(b"example.test", example_pem), Signer(b"prospect.test", prospect_pem))


@contextlib.asynccontextmanager
async def app_with(tmp_path: Path, dns: Dns | None, verify: str) -> AsyncIterator[TestApp]:
    env = {"INBOXLINK_BCC_VERIFY": verify}
    if dns is not None:
        env["INBOXLINK_DNS_SERVERS"] = dns.server.address
    async with running_app(tmp_path / "data", worker=False, **env) as app:
        yield app


def _send_from(source_ip: str, port: int, mail_from: str, rcpts: list[str], raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(source_ip, 0)) as client:
        client.sendmail(mail_from, rcpts, raw)


async def send_from(source_ip: str, port: int, mail_from: str, rcpts: list[str], raw: bytes) -> None:
    await asyncio.to_thread(_send_from, source_ip, port, mail_from, rcpts, raw)


async def refused(port: int, mail_from: str, rcpt: str, raw: bytes) -> tuple[int, str]:
    def attempt() -> tuple[int, str]:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
            client.ehlo()
            client.mail(mail_from)
            client.rcpt(rcpt)
            code, text = client.data(raw)
            return code, text.decode()

    return await asyncio.to_thread(attempt)


# ---- the From rules, on the header block ----


async def test_two_from_fields_or_two_authors_are_refused(tmp_path):
    async with app_with(tmp_path, None, "off") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        two_fields = wire(message(USER, CLIENT, "Two", "Hi")).replace(
            b"From: ", b"From: mallory@evil.test\r\nFrom: ", 1
        )
        assert await refused(listener.port, USER, bcc_address(user), two_fields) == (
            550,
            "5.7.1 The message has 2 From header fields; send it with exactly one",
        )
        for author, shown in [
            (f"{USER}, evil", f"{USER}, evil"),  # "the first wins" let this through
            (f"{USER}, Mallory <mallory@evil.test>", f"{USER}, mallory@evil.test"),
        ]:
            raw = wire(message(USER, CLIENT, "Two authors", "Hi")).replace(USER.encode(), author.encode(), 1)
            assert await refused(listener.port, USER, bcc_address(user), raw) == (
                550,
                f"5.7.1 From lists 2 addresses ({shown}); send it with exactly one author",
            )
        group = wire(message(USER, CLIENT, "Nobody", "Hi")).replace(USER.encode(), b"undisclosed:;", 1)
        code, text = await refused(listener.port, USER, bcc_address(user), group)
        assert (code, text) == (550, "5.7.1 The From header field has no address inboxlink can read")
        assert await emails_of(user, CLIENT) == []


async def test_a_huge_message_from_a_stranger_is_refused_on_its_headers(tmp_path):
    # The From check used to run after the full parse (a 5 MB message stalled the process, then was
    # refused); it now reads the header block only. Here: the refusal itself, with its text.
    async with app_with(tmp_path, None, "off") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        big = message("Mallory <mallory@evil.test>", CLIENT, "Big", "x")
        for n in range(2000):
            big.add_attachment(
                b"y" * 2500, maintype="application", subtype="octet-stream", filename=f"{n}.bin"
            )
        raw = wire(big)
        assert len(raw) > 5_000_000
        code, text = await refused(listener.port, "mallory@evil.test", bcc_address(user), raw)
        assert code == 550 and text.startswith("5.7.1 From <mallory@evil.test> is not one of your")
        # A header block no MTA would pass (no empty line in the first 256 KB) is refused as such.
        endless = b"From: " + USER.encode() + b"\r\n" + b"X-Junk: " + b"j" * 900 + b"\r\n"
        endless = endless * 300
        code, text = await refused(listener.port, USER, bcc_address(user), endless)
        assert (code, text) == (550, "5.7.1 Refused: the header block is larger than 256 KB")


# ---- DKIM and SPF ----


async def test_dkim_signed_mail_is_verified(tmp_path, dns):
    async with app_with(tmp_path, dns, "on") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        signed = dns.example.sign(message(f"Sam Seller <{USER}>", CLIENT, "Signed", "Hello, signed."))
        # An envelope sender without SPF: DKIM alone has to prove it.
        await send(listener, "bounces@mailer.test", [bcc_address(user)], signed)
        [logged] = await emails_of(user, CLIENT)
        assert logged["sender_verified"] is True
        assert logged["sender_verification"] == "DKIM signature by example.test"

        # The same signature on a body changed after signing proves nothing.
        tampered = dns.example.sign(message(USER, "other@prospect.test", "Tampered", "Pay 100."))
        tampered = tampered.replace(b"Pay 100.", b"Pay 900.")
        await send(listener, "bounces@mailer.test", [bcc_address(user)], tampered)
        [changed] = await emails_of(user, "other@prospect.test")
        assert changed["sender_verified"] is False
        assert changed["sender_verification"].startswith(
            "DKIM signature by example.test did not verify (body hash"
        )


async def test_spf_pass_from_the_allowed_ip_is_verified(tmp_path, dns):
    async with app_with(tmp_path, dns, "on") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        await send_from(
            "127.0.0.1", listener.port, USER, [bcc_address(user)], wire(message(USER, CLIENT, "S", "x"))
        )
        [logged] = await emails_of(user, CLIENT)
        assert (logged["sender_verified"], logged["sender_verification"]) == (
            True,
            "SPF pass for example.test from 127.0.0.1",
        )


async def test_a_strangers_envelope_is_marked_unverified_in_api_and_ui(tmp_path, dns):
    async with app_with(tmp_path, dns, "on") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        # From: the user, sent by someone else's server (envelope mallory@evil.test, no signature).
        forged = message(f"Sam Seller <{USER}>", CLIENT, "Forged", "Wire the money")
        await send(listener, "mallory@evil.test", [bcc_address(user)], forged)
        # From: the user, with the user's own envelope, from an IP example.test's SPF does not allow.
        other_ip = message(USER, "dana@prospect.test", "Forged 2", "Wire it")
        await send_from("127.0.0.2", listener.port, USER, [bcc_address(user)], wire(other_ip))
        [first] = await emails_of(user, CLIENT)
        [second] = await emails_of(user, "dana@prospect.test")
        assert first["sender_verified"] is False and second["sender_verified"] is False
        assert first["sender_verification"] == (
            "no DKIM signature by example.test; SPF none for evil.test from 127.0.0.1"
        )
        assert (
            second["sender_verification"]
            == "no DKIM signature by example.test; SPF fail for example.test from 127.0.0.2"
        )

        # The teammate reading the record sees it.
        page = await _contact_page(app, user, CLIENT)
        badge = re.search(
            r'<span class="pill pill-unverified"[^>]*title="([^"]*)"[^>]*>Unverified sender</span>', page
        )
        assert badge and "no DKIM signature by example.test" in badge.group(1)

        # Its Message-ID, chosen by whoever sent it, is not tracked: answers to it are not fetched.
        async with app.rt.engine.connect() as conn:
            tracked = set((await conn.execute(select(tracked_ids.c.message_id))).scalars())
        assert first["message_id"] and first["message_id"] not in tracked
        assert second["message_id"] not in tracked


async def test_forwarded_originals_are_judged_by_their_own_signature(tmp_path, dns):
    # Behind a local MTA (auto + loopback) the forward's own hop is not checked, but what it carries is.
    async with app_with(tmp_path, dns, "auto") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        fake = _original("<fake-1@prospect.test>", "Please pay invoice 7 to IBAN XX")  # made up by anyone
        genuine = dns.prospect.sign(_original("<real-1@prospect.test>", "What does the Pro plan cost?"))
        for inner in (wire(fake), genuine):
            await send(listener, USER, [bcc_address(user)], _forward_as_attachment(user, inner))
        logged = {e["message_id"]: e for e in await emails_of(user, ALICE)}
    assert logged["fake-1@prospect.test"]["direction"] == "inbound"
    assert logged["fake-1@prospect.test"]["sender_verified"] is False
    assert logged["fake-1@prospect.test"]["sender_verification"] == (
        "forwarded original: no DKIM signature by prospect.test"
    )
    assert logged["real-1@prospect.test"]["sender_verified"] is True
    assert logged["real-1@prospect.test"]["sender_verification"] == (
        "forwarded original with a DKIM signature by prospect.test"
    )


async def test_nothing_is_checked_or_marked_when_verification_is_off(tmp_path, dns):
    async with app_with(tmp_path, dns, "off") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        forward = message(USER, bcc_address(user), "Fwd: Pricing", "log it")
        forward.add_attachment(_original("<fake-2@prospect.test>", "hi"))
        await send(listener, "mallory@evil.test", [bcc_address(user)], message(USER, CLIENT, "Off", "x"))
        await send(listener, USER, [bcc_address(user)], forward)
        [plain] = await emails_of(user, CLIENT)
        [original] = await emails_of(user, ALICE)
    for email in (plain, original):
        assert (email["sender_verified"], email["sender_verification"]) == (None, None)
    # auto on a loopback listener: the MTA in front did it; the record is not marked either.
    async with app_with(tmp_path / "auto", dns, "auto") as app, listening(app.rt) as listener:
        user = await app.user(USER)
        await send(listener, "mallory@evil.test", [bcc_address(user)], message(USER, CLIENT, "Auto", "x"))
        [auto] = await emails_of(user, CLIENT)
    assert auto["sender_verified"] is None


def _forward_as_attachment(user: TestUser, inner: bytes) -> bytes:
    """A forward carrying the original byte for byte, as mail clients attach it (message/rfc822, 7bit)."""
    boundary = "fwd-boundary-1"
    head = wire(message(USER, bcc_address(user), "Fwd: Pricing", "unused")).split(b"\r\n\r\n", 1)[0]
    head = b"\r\n".join(
        line for line in head.split(b"\r\n") if not line.lower().startswith((b"content-", b"mime-version"))
    )
    return b"\r\n".join(
        [
            head,
            b"MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode(),
            b"",
            f"--{boundary}".encode(),
            b"Content-Type: text/plain; charset=utf-8",
            b"",
            b"Please log this one.",
            f"--{boundary}".encode(),
            b"Content-Type: message/rfc822",
            b"Content-Disposition: attachment",
            b"",
            inner.rstrip(b"\r\n"),
            f"--{boundary}--".encode(),
            b"",
        ]
    )


def _original(message_id: str, text: str) -> EmailMessage:
    original = message(f"Alice Example <{ALICE}>", f"Sam Seller <{USER}>", "Pricing question", text)
    original.replace_header("Message-ID", message_id)
    return original


async def _contact_page(app: TestApp, user: TestUser, address: str) -> str:
    """The contact's page in the web UI, signed in as the user."""
    [contact] = (await user.get("/api/v1/contacts", params={"email": address})).json()["items"]
    login = await app.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token
    form = {"email": USER, "password": "correct horse battery", "csrf_token": token.group(1)}
    assert (await app.client.post("/login", data=form)).status_code == 303
    page = await app.client.get(f"/contacts/{contact['id']}")
    assert page.status_code == 200
    return page.text


# ---- the token and the log ----


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.append(logging.Formatter("%(name)s %(levelname)s %(message)s").format(record))


async def test_the_bcc_token_never_reaches_the_log(tmp_path):
    handler = _Everything()
    root, ours, aiosmtpd = logging.getLogger(), logging.getLogger("inboxlink"), logging.getLogger("mail.log")
    old_levels = root.level, ours.level
    for logger in (ours, aiosmtpd):
        logger.addHandler(handler)
    root.setLevel(logging.INFO)  # as `inboxlink serve` configures it
    ours.setLevel(logging.DEBUG)  # and an operator who wants to see everything inboxlink does
    try:
        async with app_with(tmp_path, None, "off") as app, listening(app.rt) as listener:
            user = await app.user(USER)
            address = bcc_address(user)
            # A whole session: the address in RCPT and visibly in Cc, a refusal, and a logged message.
            await send(listener, USER, [address], message(USER, CLIENT, "Logged", "x", Cc=address))
            with pytest.raises(smtplib.SMTPDataError):
                await send(
                    listener, "mallory@evil.test", [address], message("mallory@evil.test", CLIENT, "No", "x")
                )
            # Even with aiosmtpd's own logger turned to DEBUG (it logs every line of the session).
            aiosmtpd.setLevel(logging.DEBUG)
            await send(
                listener, USER, [address.upper()], message(USER, "b@prospect.test", "Again", "x", Cc=address)
            )
            assert len(await emails_of(user, CLIENT)) == 1
    finally:
        for logger in (ours, aiosmtpd):
            logger.removeHandler(handler)
        root.setLevel(old_levels[0])
        ours.setLevel(old_levels[1])
        aiosmtpd.setLevel(logging.WARNING)
    log = "\n".join(handler.text)
    assert user.caller.bcc_token not in log.lower()
    assert "mail.log DEBUG" in log and "[bcc address]" in log  # the DEBUG pass was captured, redacted
