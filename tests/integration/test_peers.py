"""The test peers themselves work: real Dovecot over TLS, the provider's SMTP relaying into it, POP3 stub."""

from __future__ import annotations

import imaplib
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest

from tests.peers.dovecot import (
    DEFAULT_IMAP_CAPABILITY,
    MailServer,
    MailUser,
    dovecot_binary,
    start_mail_server,
)
from tests.peers.pop3_stub import start_pop3_stub
from tests.peers.provider_smtp import ProviderSmtp


def _message(sender: str, to: str, subject: str = "hello") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="crm.example.test")
    msg.set_content("Hi there.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _imaps(server: MailServer) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=server.ca_file)
    return imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=context, timeout=10)


def _list_flags(conn: imaplib.IMAP4) -> dict[str, set[str]]:
    """LIST as {folder name: flags}; Dovecot quotes names only when it must."""
    typ, data = conn.list()
    assert typ == "OK"
    result: dict[str, set[str]] = {}
    for line in data:
        assert isinstance(line, bytes)
        match = re.fullmatch(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (?:"(.*)"|(.*))', line)
        assert match, line
        name = (match[2] if match[2] is not None else match[3]).decode()
        result[name] = set(match[1].decode().split())
    return result


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    typ, data = conn.capability()
    assert typ == "OK"
    return set(data[0].decode().split())


@pytest.fixture
def other_user(mail_server: MailServer) -> MailUser:
    user = MailUser(f"rcpt-{secrets.token_hex(4)}@example.test", secrets.token_urlsafe(12))
    mail_server.add_user(user.email, user.password)
    return user


@pytest.fixture(scope="module")
def old_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    """A second instance without SPECIAL-USE and IDLE, as an old server would be."""
    if dovecot_binary() is None:
        pytest.skip("Dovecot is not installed: run scripts/install-test-deps (the test command does)")
    server = start_mail_server(tmp_path_factory.mktemp("old-dovecot"), special_use=False, idle=False)
    yield server
    server.stop()


def test_imaps_login_lists_sent_with_special_use_flag(mail_server: MailServer, mail_user: MailUser) -> None:
    with _imaps(mail_server) as conn:
        conn.login(mail_user.email, mail_user.password)
        assert "\\Sent" in _list_flags(conn)["Sent"]
        # The hard-coded list old_server trims must still be this Dovecot's own.
        assert _capabilities(conn) == set(DEFAULT_IMAP_CAPABILITY)


def test_starttls_on_the_plain_port(mail_server: MailServer, mail_user: MailUser) -> None:
    with imaplib.IMAP4(mail_server.host, mail_server.imap_port, timeout=10) as conn:
        conn.starttls(ssl.create_default_context(cafile=mail_server.ca_file))
        typ, _ = conn.login(mail_user.email, mail_user.password)
        assert typ == "OK"


def test_sent_items_folder_gets_no_sent_flag(mail_server: MailServer) -> None:
    email = f"legacy-{secrets.token_hex(4)}@example.test"
    mail_server.add_user(email, "pw-legacy", folders=("Sent Items",))
    assert mail_server.folders(email) == ["INBOX", "Sent Items"]
    with _imaps(mail_server) as conn:
        conn.login(email, "pw-legacy")
        assert "\\Sent" not in _list_flags(conn)["Sent Items"]


def test_deliver_lands_in_inbox(mail_server: MailServer, mail_user: MailUser) -> None:
    message = _message("someone@outside.test", mail_user.email)
    mail_server.deliver(mail_user.email, message)
    (stored,) = mail_server.messages(mail_user.email)
    assert stored.endswith(message)  # after the Return-Path/Delivered-To/Received LMTP adds
    assert mail_server.flags(mail_user.email) == [set()]


def test_idle_pushes_a_delivery(mail_server: MailServer, mail_user: MailUser) -> None:
    # ~0.5 s here (Dovecot batches inotify events); 30 s would mean the inotify limit ran out and
    # Dovecot fell back to polling (fs.inotify.max_user_instances).
    with _imaps(mail_server) as conn:
        conn.login(mail_user.email, mail_user.password)
        conn.select("INBOX")
        conn.send(b"i1 IDLE\r\n")
        assert conn.readline().startswith(b"+ ")
        started = time.monotonic()
        mail_server.deliver(mail_user.email, _message("a@outside.test", mail_user.email))
        while not (line := conn.readline()).endswith(b" EXISTS\r\n"):
            assert line.startswith(b"* "), line
        assert time.monotonic() - started < 5
        conn.send(b"DONE\r\n")
        while not conn.readline().startswith(b"i1 OK"):
            pass


def test_save_folders_flags_and_uidvalidity(mail_server: MailServer, mail_user: MailUser) -> None:
    message = _message(mail_user.email, "x@outside.test")
    mail_server.save(mail_user.email, "Sent", message)
    assert mail_server.messages(mail_user.email, "Sent") == [message]
    assert mail_server.messages(mail_user.email, "Drafts") == []
    with _imaps(mail_server) as conn:
        conn.login(mail_user.email, mail_user.password)
        conn.select('"Sent"')
        conn.uid("STORE", "1", "+FLAGS", "(\\Seen \\Answered)")
    assert mail_server.flags(mail_user.email, "Sent") == [{"\\Seen", "\\Answered"}]
    mail_server.set_uidvalidity(mail_user.email, "Sent", 424242)
    with _imaps(mail_server) as conn:
        conn.login(mail_user.email, mail_user.password)
        conn.select('"Sent"', readonly=True)
        assert conn.response("UIDVALIDITY")[1] == [b"424242"]


def test_failed_login_answers_at_once(mail_server: MailServer, mail_user: MailUser) -> None:
    # Without the config's nodelay passdb each failure costs 0.5 s plus a growing per-IP penalty.
    started = time.monotonic()
    for _ in range(3):
        with _imaps(mail_server) as conn, pytest.raises(imaplib.IMAP4.error):
            conn.login(mail_user.email, "wrong")
    with _imaps(mail_server) as conn:
        conn.login(mail_user.email, mail_user.password)
    assert time.monotonic() - started < 1.0


def test_provider_starttls_relays_into_inbox(
    mail_server: MailServer, provider_smtp: ProviderSmtp, mail_user: MailUser, other_user: MailUser
) -> None:
    message = _message(mail_user.email, other_user.email)
    with smtplib.SMTP(provider_smtp.host, provider_smtp.starttls_port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=mail_server.ca_file))
        smtp.login(mail_user.email, mail_user.password)
        smtp.sendmail(mail_user.email, [other_user.email, "nobody@outside.test"], message)
    (stored,) = mail_server.messages(other_user.email)
    assert stored.endswith(message)
    assert provider_smtp.received[-1] == (mail_user.email, [other_user.email, "nobody@outside.test"], message)
    assert mail_server.messages(mail_user.email, "Sent") == []  # only Gmail-like providers file a copy


def test_provider_implicit_tls_with_trusted_default_context(
    mail_server: MailServer,
    provider_smtp: ProviderSmtp,
    mail_user: MailUser,
    other_user: MailUser,
    trust_test_ca: str,
) -> None:
    message = _message(mail_user.email, other_user.email)
    # The system default context plus SSL_CERT_FILE, as the application will verify.
    with smtplib.SMTP_SSL(
        provider_smtp.host, provider_smtp.tls_port, context=ssl.create_default_context()
    ) as smtp:
        smtp.login(mail_user.email, mail_user.password)
        smtp.sendmail(mail_user.email, [other_user.email], message)
    assert [m.endswith(message) for m in mail_server.messages(other_user.email)] == [True]


async def test_provider_from_asyncio_files_sent_copy_and_rewrites_message_id(
    mail_server: MailServer, provider_smtp: ProviderSmtp, mail_user: MailUser, other_user: MailUser
) -> None:
    message = _message(mail_user.email, other_user.email)
    provider_smtp.file_sent_copies_for.add(mail_user.email)
    provider_smtp.rewrite_message_id = True
    try:
        await aiosmtplib.send(
            message,
            sender=mail_user.email,
            recipients=[other_user.email],
            hostname=provider_smtp.host,
            port=provider_smtp.tls_port,
            use_tls=True,
            tls_context=ssl.create_default_context(cafile=mail_server.ca_file),
            username=mail_user.email,
            password=mail_user.password,
        )
    finally:
        provider_smtp.rewrite_message_id = False
    (sent_copy,) = mail_server.messages(mail_user.email, "Sent")
    assert b"@email.amazonses.com>" in sent_copy and b"crm.example.test" not in sent_copy
    assert mail_server.messages(other_user.email)[0].endswith(sent_copy)


def test_provider_rejects_wrong_password_refused_user_and_unauthenticated_mail(
    mail_server: MailServer, provider_smtp: ProviderSmtp, mail_user: MailUser
) -> None:
    context = ssl.create_default_context(cafile=mail_server.ca_file)
    with smtplib.SMTP(provider_smtp.host, provider_smtp.starttls_port, timeout=10) as smtp:
        smtp.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp.login(mail_user.email, "wrong")
        assert failed.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail(mail_user.email, [mail_user.email], b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.smtp_code == 530
    provider_smtp.refuse_users.add(mail_user.email)
    try:
        with smtplib.SMTP_SSL(provider_smtp.host, provider_smtp.tls_port, context=context) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
                smtp.login(mail_user.email, mail_user.password)
            assert failed.value.smtp_code == 535
    finally:
        provider_smtp.refuse_users.discard(mail_user.email)


def test_set_password_and_kick(mail_server: MailServer, mail_user: MailUser) -> None:
    session = _imaps(mail_server)
    try:
        session.login(mail_user.email, mail_user.password)
        mail_server.set_password(mail_user.email, "new-password")
        with _imaps(mail_server) as conn, pytest.raises(imaplib.IMAP4.error):
            conn.login(mail_user.email, mail_user.password)
        with _imaps(mail_server) as conn:
            conn.login(mail_user.email, "new-password")
        assert session.noop()[0] == "OK"  # open sessions survive a password change
        mail_server.kick(mail_user.email)
        deadline = time.monotonic() + 5
        with pytest.raises((imaplib.IMAP4.abort, OSError)):  # * BYE, then the connection closes
            while time.monotonic() < deadline:
                session.noop()
                time.sleep(0.02)
    finally:
        session.shutdown()  # no LOGOUT: after a kick it would raise
    mail_server.kick(mail_user.email)  # nobody connected: not an error


def test_old_server_lacks_special_use_and_idle(old_server: MailServer) -> None:
    old_server.add_user("old@example.test", "pw-old")
    with _imaps(old_server) as conn:
        conn.login("old@example.test", "pw-old")
        capabilities = _capabilities(conn)
        assert "SPECIAL-USE" not in capabilities and "IDLE" not in capabilities
        assert "UIDPLUS" in capabilities
        assert _list_flags(conn)["Sent"] == {"\\HasNoChildren"}


def test_stop_and_start_keep_ports_and_mail(old_server: MailServer) -> None:
    old_server.add_user("restart@example.test", "pw-restart", folders=())
    message = _message("a@outside.test", "restart@example.test")
    old_server.deliver("restart@example.test", message)
    ports = (old_server.imap_port, old_server.imaps_port, old_server.lmtp_port)
    old_server.stop()
    with pytest.raises(OSError):
        socket.create_connection((old_server.host, old_server.imaps_port), timeout=1).close()
    old_server.start()
    assert (old_server.imap_port, old_server.imaps_port, old_server.lmtp_port) == ports
    assert [m.endswith(message) for m in old_server.messages("restart@example.test")] == [True]
    with _imaps(old_server) as conn:
        assert conn.login("restart@example.test", "pw-restart")[0] == "OK"


def test_instance_directory_layout(mail_server: MailServer) -> None:
    directory = Path(mail_server.directory)
    assert (directory.stat().st_mode & 0o777) == 0o755
    assert (directory / "log" / "dovecot.log").stat().st_size > 0
    config = (directory / "dovecot.conf").read_text()
    assert "!include" not in config and "@DIR@" not in config


def test_pop3_stub_greets_and_refuses() -> None:
    port, stop = start_pop3_stub()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            reader = sock.makefile("rb")
            assert reader.readline() == b"+OK POP3 server ready\r\n"
            sock.sendall(b"CAPA\r\n")
            assert reader.readline().startswith(b"-ERR")
    finally:
        stop()
