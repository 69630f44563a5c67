"""ImapClient against scripted loopback servers: the cases a real Dovecot will not produce on demand
(POP3 greetings, STARTTLS injection, silent servers, XOAUTH2 challenges, BYE mid-command...).

A script is a list of steps: ("S", bytes) the server sends (`{tag}` becomes the last client tag),
("C", regex) the server expects one client line matching it (group `tag` is remembered).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from inboxlink.imap import (
    AuthFailed,
    CapabilityMissing,
    CommandFailed,
    ConnectionFailed,
    ImapClient,
    NotImapServer,
    Pop3Greeting,
    ProtocolError,
    ServerBye,
    TlsFailed,
)

Script = list[tuple[str, bytes]]
GREETING: tuple[str, bytes] = ("S", b"* OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE ENABLE CONDSTORE] ready\r\n")
ANY_TAG = rb"(?P<tag>[A-Za-z0-9]+) "


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[int]:
    """Serve `script` to the first connection; yield the port; fail if the script was not followed."""
    errors: list[BaseException] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tag = b""
        try:
            for kind, data in script:
                if kind == "S":
                    writer.write(data.replace(b"{tag}", tag))
                    await writer.drain()
                else:
                    line = await asyncio.wait_for(reader.readline(), 5)
                    match = re.fullmatch(data, line)
                    assert match, f"expected {data!r}, client sent {line!r}"
                    tag = match.groupdict().get("tag") or tag
            await asyncio.wait_for(reader.read(), 5)  # hold the line until the client goes
        except (AssertionError, TimeoutError) as exc:
            errors.append(exc)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
    if errors:
        raise errors[0]


async def connect(port: int, timeout: float = 3.0) -> ImapClient:
    return await ImapClient.connect("127.0.0.1", port, "none", timeout=timeout)


def cmd(text: bytes) -> tuple[str, bytes]:
    return ("C", ANY_TAG + text + rb"\r\n")


LOGGED_IN: Script = [GREETING, cmd(rb'LOGIN "u" "p"'), ("S", b"{tag} OK [CAPABILITY IMAP4rev1 IDLE] in\r\n")]


# ---- greetings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "error"),
    [
        (b"+OK Dovecot ready.\r\n", Pop3Greeting),
        (b"220 mail.example.com ESMTP\r\n", ProtocolError),
        (b"* BYE Too many connections\r\n", ServerBye),
        (b"* NO not today\r\n", ProtocolError),
    ],
)
async def test_greetings_that_are_not_imap(greeting: bytes, error: type[Exception]) -> None:
    async with scripted([("S", greeting)]) as port:
        with pytest.raises(error):
            await connect(port)


NATS_INFO = b'INFO {"server_id":"NDQ3SECRET","version":"2.10.4","go":"go1.21","max_payload":1048576}\r\n'
MARIADB_HANDSHAKE = b"J\x00\x00\x00\n11.2.2-MariaDB\x00\x05\x00\x00\x00sEcReT\x00\xfe\xff-\x02\x00\xff\x81"


@pytest.mark.parametrize(
    "answer",
    [
        NATS_INFO,
        MARIADB_HANDSHAKE,  # no line end: must not wait for one
        b"HTTP/1.1 400 Bad Request\r\nServer: internal-admin\r\n\r\n",
        b"* \x00\x01 garbage (unbalanced\r\n",  # starts like IMAP, does not parse
        b"* 1 EXISTS\r\n",  # IMAP syntax, but not a greeting
    ],
)
async def test_another_service_is_not_an_imap_server_and_is_not_quoted(answer: bytes) -> None:
    async with scripted([("S", answer)]) as port:
        with pytest.raises(NotImapServer) as failed:
            await connect(port, timeout=30)  # fails at once, not after a read timeout
    assert failed.value.server_text is None
    shown = str(failed.value)
    for fragment in (
        b"server_id",
        b"SECRET",
        b"MariaDB",
        b"sEcReT",
        b"internal-admin",
        b"garbage",
        b"EXISTS",
    ):
        assert fragment.decode() not in shown


async def test_server_words_are_cleaned_before_anyone_quotes_them() -> None:
    hostile = b"NO [AUTHENTICATIONFAILED] bad\x1b[2J\x07 password " + b"x" * 400
    async with scripted([GREETING, cmd(rb'LOGIN "u" "p"'), ("S", b"{tag} " + hostile + b"\r\n")]) as port:
        client = await connect(port)
        with pytest.raises(AuthFailed) as failed:
            await client.login("u", "p")
        await client.close()
    text = failed.value.server_text or ""
    assert text.startswith("bad [2J password x") and len(text) <= 200
    assert not any(ord(c) < 32 for c in text)


async def test_preauth_greeting_and_capability_command() -> None:
    script: Script = [
        ("S", b"* PREAUTH hi\r\n"),
        cmd(b"CAPABILITY"),
        ("S", b"* CAPABILITY IMAP4rev1 X\r\n{tag} OK\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        assert client.capabilities == {"IMAP4REV1", "X"}
        await client.close()


async def test_silent_server_times_out() -> None:
    async with scripted([]) as port:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match=r"within|timed out"):
            await connect(port, timeout=0.3)
        assert time.monotonic() - started < 2


async def test_starttls_not_offered_refuses_plaintext() -> None:
    async with scripted([GREETING]) as port:
        with pytest.raises(TlsFailed, match="STARTTLS"):
            await ImapClient.connect("127.0.0.1", port, "starttls", timeout=3)


async def test_data_injected_after_starttls_ok_is_refused() -> None:
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
        cmd(b"STARTTLS"),
        ("S", b"{tag} OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"),
    ]
    async with scripted(script) as port:
        with pytest.raises(ProtocolError, match="STARTTLS"):
            await ImapClient.connect("127.0.0.1", port, "starttls", timeout=3)


# ---- authentication -----------------------------------------------------------------------------


async def test_login_non_ascii_password_waits_for_continuation() -> None:
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1] ready\r\n"),
        cmd(rb'LOGIN "u" \{9\}'),
        ("S", b"+ go ahead\r\n"),
        ("C", "pässwort\r\n".encode()),
        ("S", b"{tag} OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "pässwort")
        assert client.capabilities == {"IMAP4REV1", "IDLE"}
        await client.close()


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (b"NO [AUTHENTICATIONFAILED] Authentication failed.", AuthFailed, "AUTHENTICATIONFAILED"),
        (b"NO Login failed", AuthFailed, None),
        (b"NO [UNAVAILABLE] Try later", CommandFailed, "UNAVAILABLE"),
        (b"NO [PRIVACYREQUIRED] Use TLS", TlsFailed, "PRIVACYREQUIRED"),
    ],
)
async def test_login_refusals(answer: bytes, error: type[Exception], code: str | None) -> None:
    async with scripted([GREETING, cmd(rb'LOGIN "u" "p"'), ("S", b"{tag} " + answer + b"\r\n")]) as port:
        client = await connect(port)
        with pytest.raises(error) as failed:
            await client.login("u", "p")
        assert getattr(failed.value, "code", None) == code and getattr(failed.value, "server_text", None)
        await client.close()


async def test_logindisabled_and_missing_mechanisms_fail_before_sending() -> None:
    async with scripted([("S", b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n")]) as port:
        client = await connect(port)
        with pytest.raises(CapabilityMissing):
            await client.login("u", "p")
        with pytest.raises(CapabilityMissing):
            await client.authenticate_xoauth2("u", "token")
        await client.close()


async def test_xoauth2_error_challenge_is_answered_with_an_empty_line() -> None:
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n"),
        cmd(rb"AUTHENTICATE XOAUTH2 dXNlcj11AWF1dGg9QmVhcmVyIHRvawEB"),
        ("S", b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
        ("C", b"\r\n"),
        ("S", b"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        with pytest.raises(AuthFailed) as failed:
            await client.authenticate_xoauth2("u", "tok")
        assert failed.value.server_text == 'Invalid credentials {"status":"401"}'
        await client.close()


async def test_xoauth2_without_sasl_ir_sends_the_response_after_the_continuation() -> None:
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n"),
        cmd(rb"AUTHENTICATE XOAUTH2"),
        ("S", b"+ \r\n"),
        ("C", rb"dXNlcj11AWF1dGg9QmVhcmVyIHRvawEB\r\n"),
        ("S", b"{tag} OK Success\r\n"),
        cmd(b"CAPABILITY"),
        ("S", b"* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.authenticate_xoauth2("u", "tok")
        assert "IDLE" in client.capabilities
        await client.close()


# ---- commands -----------------------------------------------------------------------------------


async def test_pending_exists_only_for_unsolicited_exists() -> None:
    script = [
        *LOGGED_IN,
        cmd(b"UID SEARCH ALL"),
        ("S", b"* SEARCH 2 1\r\n* 3 EXISTS\r\n{tag} OK\r\n"),
        cmd(b'SELECT "INBOX"'),
        ("S", b"* 3 EXISTS\r\n* OK [UIDVALIDITY 5] x\r\n{tag} OK [READ-WRITE] done\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        assert client.pending_exists is False
        assert await client.uid_search("ALL") == [1, 2]
        assert client.pending_exists is True
        client.pending_exists = False
        info = await client.select("INBOX", condstore=True)  # CONDSTORE not advertised: not asked for
        assert (info.exists, info.uidvalidity, info.uidnext, info.highestmodseq) == (3, 5, None, None)
        assert client.pending_exists is False
        await client.close()


async def test_append_waits_for_continuation_without_literal_plus() -> None:
    msg = b"Subject: x\r\n\r\nhello\r\n"
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1] ready\r\n"),
        cmd(rb'APPEND "Envoy&AOk-s" \(\\Seen\) "05-Mar-2024 10:00:00 \+0000" \{21\}'),
        ("S", b"+ Ready for literal data\r\n"),
        ("C", b"Subject: x\r\n"),
        ("C", b"\r\n"),
        ("C", b"hello\r\n"),
        ("C", b"\r\n"),  # the command's own CRLF after the literal
        ("S", b"{tag} OK [APPENDUID 9 41] Append completed.\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        when = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
        assert await client.append("Envoyés", msg, date=when) == 41
        await client.close()


async def test_select_without_uidvalidity_is_a_protocol_error() -> None:
    async with scripted([*LOGGED_IN, cmd(b'EXAMINE "INBOX"'), ("S", b"* 0 EXISTS\r\n{tag} OK\r\n")]) as port:
        client = await connect(port)
        await client.login("u", "p")
        with pytest.raises(ProtocolError):
            await client.select("INBOX", readonly=True)
        await client.close()


async def test_bye_mid_command_breaks_the_connection() -> None:
    async with scripted([*LOGGED_IN, cmd(b"NOOP"), ("S", b"* BYE Server shutting down.\r\n")]) as port:
        client = await connect(port)
        await client.login("u", "p")
        with pytest.raises(ServerBye):
            await client.noop()
        with pytest.raises(ConnectionFailed, match="no longer usable"):
            await client.noop()
        await client.logout()  # never raises


async def test_timeout_mid_command_breaks_the_connection() -> None:
    async with scripted([*LOGGED_IN, cmd(b"NOOP")]) as port:
        client = await connect(port, timeout=0.3)
        await client.login("u", "p")
        with pytest.raises(ConnectionFailed, match="within"):
            await client.noop()
        with pytest.raises(ConnectionFailed, match="no longer usable"):
            await client.uid_search("ALL")
        await client.close()
        await client.close()  # twice is fine


async def test_wrong_tag_is_a_protocol_error() -> None:
    async with scripted([*LOGGED_IN, cmd(b"NOOP"), ("S", b"Z999 OK what\r\n")]) as port:
        client = await connect(port)
        await client.login("u", "p")
        with pytest.raises(ProtocolError):
            await client.noop()
        await client.close()


# ---- IDLE ---------------------------------------------------------------------------------------


async def test_idle_returns_on_push_and_ignores_keepalives() -> None:
    script = [
        *LOGGED_IN,
        cmd(b"IDLE"),
        ("S", b"+ idling\r\n* OK Still here\r\n"),
        ("S", b"* 4 EXISTS\r\n"),
        ("C", b"DONE\r\n"),
        ("S", b"* 1 RECENT\r\n{tag} OK Idle completed.\r\n"),
        cmd(b"NOOP"),
        ("S", b"{tag} OK\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        assert await client.idle(timeout=5) == ["4 EXISTS", "1 RECENT"]
        assert client.pending_exists is True
        assert await client.noop() == []
        await client.close()


async def test_idle_timeout_sends_done() -> None:
    script = [
        *LOGGED_IN,
        cmd(b"IDLE"),
        ("S", b"+ idling\r\n"),
        ("C", b"DONE\r\n"),
        ("S", b"{tag} OK done\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        started = time.monotonic()
        assert await client.idle(timeout=0.3) == []
        assert 0.25 < time.monotonic() - started < 2
        await client.close()


async def test_idle_refused_keeps_the_connection_usable() -> None:
    script = [*LOGGED_IN, cmd(b"IDLE"), ("S", b"{tag} BAD not now\r\n"), cmd(b"NOOP"), ("S", b"{tag} OK\r\n")]
    async with scripted(script) as port:
        client = await connect(port)
        await client.login("u", "p")
        with pytest.raises(CommandFailed):
            await client.idle(timeout=1)
        await client.noop()
        await client.close()


async def test_idle_needs_the_capability() -> None:
    async with scripted([("S", b"* OK [CAPABILITY IMAP4rev1] ready\r\n")]) as port:
        client = await connect(port)
        with pytest.raises(CapabilityMissing):
            await client.idle(timeout=1)
        await client.close()


# ---- deleting one message -------------------------------------------------------------------------


async def test_uid_store_and_uid_expunge_touch_one_message() -> None:
    script: Script = [
        ("S", b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n"),
        cmd(rb'SELECT "INBOX"'),
        (
            "S",
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 43] n\r\n{tag} OK [READ-WRITE] done\r\n",
        ),
        cmd(rb"UID STORE 42 \+FLAGS\.SILENT \(\\Deleted\)"),
        ("S", b"{tag} OK Store completed\r\n"),
        cmd(rb"UID EXPUNGE 42"),
        ("S", b"* 3 EXPUNGE\r\n{tag} OK Expunge completed\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        info = await client.select("INBOX")
        assert (info.exists, info.uidnext) == (3, 43)
        await client.uid_store("42", ["\\Deleted"])
        assert await client.expunge("42") == [3]
        await client.close()


async def test_uid_expunge_needs_uidplus_and_plain_expunge_is_sent_as_such() -> None:
    script: Script = [GREETING, cmd(rb"EXPUNGE"), ("S", b"* 2 EXPUNGE\r\n* 5 EXPUNGE\r\n{tag} OK done\r\n")]
    async with scripted(script) as port:
        client = await connect(port)
        with pytest.raises(CapabilityMissing):
            await client.expunge("42")  # refused before anything is sent
        assert await client.expunge() == [2, 5]
        await client.close()


async def test_store_refused_in_a_read_only_mailbox_is_command_failed() -> None:
    script: Script = [
        GREETING,
        cmd(rb"UID STORE 1 \+FLAGS\.SILENT \(\\Deleted\)"),
        ("S", b"{tag} NO [READ-ONLY] Mailbox is read-only\r\n"),
    ]
    async with scripted(script) as port:
        client = await connect(port)
        with pytest.raises(CommandFailed) as failed:
            await client.uid_store("1", ["\\Deleted"])
        assert failed.value.code == "READ-ONLY"
        await client.close()
