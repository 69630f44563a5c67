"""inboxlink.imap.ImapClient against the suite's real Dovecot (tests/peers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Protocol

import pytest

from inboxlink.imap import (
    AuthFailed,
    CommandFailed,
    ConnectionFailed,
    ImapClient,
    ServerBye,
    TlsFailed,
)
from tests.peers.dovecot import MailServer


class User(Protocol):  # tests/conftest.py's MailUser
    email: str
    password: str


HEADER_FIELDS = ("Message-ID", "In-Reply-To", "References", "From", "To", "Subject", "Date")


def message(n: int, to: str) -> bytes:
    return (
        f"From: Client {n} <client{n}@example.org>\r\nTo: {to}\r\nSubject: Offer {n}\r\n"
        f"Message-ID: <offer-{n}@example.org>\r\nDate: Tue, 05 Mar 2024 10:0{n}:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nDear seller, offer n°{n}.\r\n"
    ).encode()


@pytest.fixture
async def client(mail_server: MailServer, mail_user: User, trust_test_ca: str) -> AsyncIterator[ImapClient]:
    imap = await ImapClient.connect(mail_server.host, mail_server.imaps_port, "tls", timeout=10)
    await imap.login(mail_user.email, mail_user.password)
    yield imap
    await imap.logout()


# ---- connecting and logging in ------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
async def test_login_over_each_transport(
    mail_server: MailServer, mail_user: User, trust_test_ca: str, security: str
) -> None:
    port = mail_server.imaps_port if security == "tls" else mail_server.imap_port
    imap = await ImapClient.connect(mail_server.host, port, security, timeout=10)
    try:
        assert "IMAP4REV1" in imap.capabilities
        assert "STARTTLS" not in imap.capabilities or security == "none"
        await imap.login(mail_user.email, mail_user.password)
        assert {"CONDSTORE", "IDLE", "SPECIAL-USE", "UIDPLUS"} <= imap.capabilities  # refreshed
    finally:
        await imap.logout()


async def test_wrong_password_is_auth_failed(
    mail_server: MailServer, mail_user: User, trust_test_ca: str
) -> None:
    imap = await ImapClient.connect(mail_server.host, mail_server.imaps_port, "tls", timeout=10)
    try:
        with pytest.raises(AuthFailed) as failed:
            await imap.login(mail_user.email, "not-the-password")
        assert failed.value.code == "AUTHENTICATIONFAILED" and failed.value.server_text
        await imap.login(mail_user.email, mail_user.password)  # the session is still usable
    finally:
        await imap.logout()


async def test_password_with_quotes_backslashes_and_non_ascii(
    mail_server: MailServer, trust_test_ca: str
) -> None:
    email, password = f"quoted-{time.time_ns()}@example.test", 'p"a\\ss wörd{3}'
    mail_server.add_user(email, password, folders=())
    async with await ImapClient.connect(mail_server.host, mail_server.imaps_port, "tls") as imap:
        await imap.login(email, password)
        assert (await imap.select("INBOX")).exists == 0


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_untrusted_certificate_is_tls_failed(
    mail_server: MailServer, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    port = mail_server.imaps_port if security == "tls" else mail_server.imap_port
    with pytest.raises(TlsFailed, match="not trusted"):
        await ImapClient.connect(mail_server.host, port, security, timeout=10)


async def test_tls_to_a_plaintext_port_is_tls_failed(mail_server: MailServer, trust_test_ca: str) -> None:
    with pytest.raises(TlsFailed):
        await ImapClient.connect(mail_server.host, mail_server.imap_port, "tls", timeout=10)


async def test_closed_port_is_connection_failed(mail_server: MailServer) -> None:
    with pytest.raises(ConnectionFailed):
        await ImapClient.connect(mail_server.host, 1, "none", timeout=5)


# ---- folders ------------------------------------------------------------------------------------


async def test_list_shows_special_use_sent(client: ImapClient) -> None:
    by_name = {m.name: m for m in await client.list_mailboxes()}
    assert {"INBOX", "Sent", "Drafts", "Trash"} <= set(by_name)
    assert "\\Sent" in by_name["Sent"].flags and by_name["Sent"].delimiter == "/"
    assert "\\Sent" not in by_name["INBOX"].flags


async def test_select_with_condstore(client: ImapClient, mail_server: MailServer, mail_user: User) -> None:
    mail_server.deliver(mail_user.email, message(1, mail_user.email))
    info = await client.select("INBOX", condstore=True)
    assert info.exists == 1 and info.uidvalidity > 0 and info.uidnext == 2
    assert info.highestmodseq is not None and info.highestmodseq > 0
    assert client.pending_exists is False  # EXISTS in the SELECT answer is not news
    examined = await client.select("INBOX", readonly=True)
    assert examined.uidvalidity == info.uidvalidity and examined.exists == 1


async def test_select_missing_folder_is_command_failed(client: ImapClient) -> None:
    with pytest.raises(CommandFailed) as failed:
        await client.select("No such folder")
    assert "No such folder" in (failed.value.server_text or "")  # Dovecot 2.3 sends no code here


async def test_non_ascii_folder_names_round_trip(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    mail_server.doveadm("mailbox", "create", "-u", mail_user.email, "Envoyés", "Отправленные & Co")
    names = {m.name for m in await client.list_mailboxes()}
    assert {"Envoyés", "Отправленные & Co"} <= names
    uid = await client.append("Отправленные & Co", message(1, mail_user.email))
    assert uid == 1
    assert (await client.select("Отправленные & Co")).exists == 1
    assert "Отправленные & Co" in mail_server.folders(mail_user.email)


# ---- fetching -----------------------------------------------------------------------------------


async def test_fetch_headers_returns_headers_and_leaves_flags_alone(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    for n in (1, 2, 3):
        mail_server.deliver(mail_user.email, message(n, mail_user.email))
    before = mail_server.flags(mail_user.email)
    await client.select("INBOX", condstore=True)
    uids = await client.uid_search("ALL")
    assert uids == [1, 2, 3]
    got = await client.fetch_headers("1:*", HEADER_FIELDS)
    assert [m.uid for m in got] == [1, 2, 3]
    for n, msg in enumerate(got, start=1):
        assert msg.header is not None and f"Message-ID: <offer-{n}@example.org>".encode() in msg.header
        assert b"Content-Type" not in msg.header and msg.body is None
        assert msg.flags is not None and "\\Seen" not in msg.flags
        assert msg.modseq is not None  # CONDSTORE is on for this session
    assert mail_server.flags(mail_user.email) == before and all("\\Seen" not in f for f in before)
    assert await client.fetch_headers("4:*", HEADER_FIELDS) == [m for m in got if m.uid == 3]  # * = last


async def test_header_search_sends_the_value_as_a_string_not_as_syntax(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    # Message-IDs are the sender's text (the monitor searches for them): quotes and backslashes
    # must be searched for literally, never end the string and add search keys of their own.
    mail_server.deliver(mail_user.email, message(1, mail_user.email))
    odd = message(2, mail_user.email).replace(b"<offer-2@example.org>", b'<of"fer\\2@example.org>')
    mail_server.deliver(mail_user.email, odd)
    await client.select("INBOX", readonly=True)
    assert await client.uid_search_header("Message-ID", '<of"fer\\2@example.org>') == [2]
    assert await client.uid_search_header("Message-ID", "<offer-1@example.org>") == [1]
    assert await client.uid_search_header("Message-ID", 'x" OR ALL HEADER Subject "') == []


async def test_fetch_full_returns_exact_bytes(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    mail_server.deliver(mail_user.email, message(1, mail_user.email))
    await client.select("INBOX")
    msg = await client.fetch_full(1)
    assert msg is not None and msg.body == mail_server.messages(mail_user.email)[0]
    assert msg.flags is not None and "\\Seen" not in msg.flags
    assert mail_server.flags(mail_user.email) == [set()]
    assert await client.fetch_full(99) is None


async def test_uid_fetch_general_form(client: ImapClient, mail_server: MailServer, mail_user: User) -> None:
    mail_server.deliver(mail_user.email, message(1, mail_user.email))
    await client.select("INBOX", readonly=True)
    (msg,) = await client.uid_fetch("1", "(UID RFC822.SIZE FLAGS)")
    assert msg.size == len(mail_server.messages(mail_user.email)[0]) and msg.header is None


# ---- appending ----------------------------------------------------------------------------------


async def test_append_to_sent_returns_uid_and_is_seen(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    raw = message(7, "client7@example.org")
    assert await client.append("Sent", raw) == 1
    assert await client.append("Sent", raw, flags=()) == 2
    assert mail_server.messages(mail_user.email, "Sent") == [raw, raw]
    assert mail_server.flags(mail_user.email, "Sent") == [{"\\Seen"}, set()]


async def test_append_to_missing_folder_says_trycreate(client: ImapClient) -> None:
    with pytest.raises(CommandFailed) as failed:
        await client.append("Sent Items", b"Subject: x\r\n\r\nx\r\n")
    assert failed.value.code == "TRYCREATE"


# ---- news: IDLE, pending_exists, BYE -----------------------------------------------------------


async def test_idle_returns_soon_after_a_delivery(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    await client.select("INBOX")
    loop = asyncio.get_running_loop()
    delivered = loop.run_in_executor(None, _deliver_later, mail_server, mail_user.email, 0.3)
    started = time.monotonic()
    lines = await client.idle(timeout=20)
    elapsed = time.monotonic() - started
    await delivered
    assert "1 EXISTS" in lines and elapsed < 2.5, (lines, elapsed)
    assert (await client.fetch_headers("1:*", HEADER_FIELDS))[0].uid == 1


async def test_idle_timeout_returns_nothing(client: ImapClient) -> None:
    await client.select("INBOX")
    started = time.monotonic()
    assert await client.idle(timeout=0.5) == []
    assert 0.4 < time.monotonic() - started < 2.0
    assert (await client.select("INBOX")).exists == 0  # DONE was sent and acknowledged
    assert await client.fetch_headers("1:*", HEADER_FIELDS) == []  # UID FETCH 1:* on an empty box is OK


async def test_mail_arriving_between_commands_sets_pending_exists(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    await client.select("INBOX")
    assert client.pending_exists is False
    mail_server.deliver(mail_user.email, message(1, mail_user.email))
    await client.uid_search("ALL")
    if not client.pending_exists:  # the server reports news at its next opportunity
        await client.noop()
    assert client.pending_exists is True


async def test_kicked_session_raises_server_bye(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    await client.select("INBOX")
    idle = asyncio.create_task(client.idle(timeout=20))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(mail_server.kick, mail_user.email)
    with pytest.raises(ConnectionFailed) as failed:  # BYE, or EOF if the close wins the race
        await idle
    assert isinstance(failed.value, ServerBye) or "closed" in str(failed.value)
    with pytest.raises(ConnectionFailed):
        await client.noop()
    await client.logout()  # never raises, even now
    await client.close()


async def test_concurrent_calls_are_serialised(
    client: ImapClient, mail_server: MailServer, mail_user: User
) -> None:
    for n in (1, 2):
        mail_server.deliver(mail_user.email, message(n, mail_user.email))
    await client.select("INBOX", readonly=True)
    headers, uids, _ = await asyncio.gather(
        client.fetch_headers("1:*", HEADER_FIELDS), client.uid_search("ALL"), client.noop()
    )
    assert [m.uid for m in headers] == uids == [1, 2]


def _deliver_later(mail_server: MailServer, email: str, delay: float) -> None:
    time.sleep(delay)
    mail_server.deliver(email, message(9, email))
