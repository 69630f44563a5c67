"""The user's mail provider's submission server (aiosmtpd), relaying into Dovecot over LMTP.

"Send from the CRM" thereby becomes "lands in the recipient's INBOX". Two listeners share one
handler: STARTTLS (like port 587) and implicit TLS (like 465). Each runs in its own thread with its
own event loop (aiosmtpd Controller), so blocking and asyncio tests can both use it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import ssl
from collections.abc import Callable
from email.utils import make_msgid
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .dovecot import HOST, MailServer, free_ports

log = logging.getLogger(__name__)


class _DropLoginDataWarning(logging.Filter):
    # aiosmtpd 1.4 itself sets the deprecated Session.login_data on every AUTH and logs a warning.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())


class ProviderSmtp:
    host: str
    starttls_port: int
    tls_port: int
    received: list[tuple[str, list[str], bytes]]
    rewrite_message_id: bool
    file_sent_copies_for: set[str]
    refuse_users: set[str]
    tempfail_users: set[str]  # AUTH answered "454 4.7.0 Too many login attempts" (a temporary refusal)
    aliases: dict[str, str]  # address → Dovecot user whose INBOX receives mail sent to it
    # AUTH XOAUTH2: access token → the address it was issued for, or None (the fake OAuth provider's
    # introspection); without one, XOAUTH2 is refused.
    token_checker: Callable[[str], str | None] | None
    # Called with each relayed message before the 250 is answered (in the relay's thread): lets a
    # test make things happen while the client still waits for the answer.
    before_answer: Callable[[bytes], None] | None

    def __init__(self, mail: MailServer) -> None:
        self.host = HOST
        self.mail = mail
        self.starttls_port, self.tls_port = free_ports(2)
        # (mail_from, rcpt_tos, data) of every accepted message, as relayed.
        self.received = []
        # True models Amazon SES: the Message-ID the client chose is replaced before relaying.
        self.rewrite_message_id = False
        # Users whose accepted mail the provider files into their own "Sent" itself (Gmail does).
        self.file_sent_copies_for = set()
        # Users whose AUTH fails (535) even with the right password: IMAP works, sending does not.
        self.refuse_users = set()
        self.tempfail_users = set()
        self.aliases = {}
        self.token_checker = None
        self.before_answer = None

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(mail.ca_file, mail.key_file)
        common: dict[str, Any] = {
            "hostname": HOST,
            "server_hostname": "smtp.example.test",  # else SMTP() calls getfqdn(), slow without DNS
            "authenticator": self._authenticate,
        }
        self._controllers = [
            Controller(
                _Handler(self),
                port=self.starttls_port,
                tls_context=context,
                require_starttls=True,
                auth_require_tls=True,
                **common,
            ),
            # aiosmtpd only counts STARTTLS as TLS: with auth_require_tls=True it would hide AUTH
            # on an implicit-TLS listener. The transport is TLS already.
            Controller(
                _Handler(self), port=self.tls_port, ssl_context=context, auth_require_tls=False, **common
            ),
        ]
        # auth_required is not used: with auth_require_tls=False aiosmtpd warns (an error under
        # pytest's filterwarnings), so _Handler.handle_MAIL demands AUTH instead.
        for controller in self._controllers:
            controller.start()

    def stop(self) -> None:
        for controller in self._controllers:
            controller.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        # AUTH PLAIN/LOGIN against the mailbox's current password, like a real provider; a failure
        # answers 535 5.7.8.
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode(errors="replace")
            if login.lower() in {u.lower() for u in self.tempfail_users}:
                return AuthResult(success=False, handled=False, message="454 4.7.0 Too many login attempts")
            refused = login.lower() in {u.lower() for u in self.refuse_users}
            if not refused and self.mail.check_password(login, auth_data.password.decode(errors="replace")):
                return AuthResult(success=True, auth_data=login.lower())
        return AuthResult(success=False, handled=False)

    def _accept(self, login: str, mail_from: str, rcpt_tos: list[str], data: bytes) -> str:
        """Relay one message (runs in a worker thread: LMTP and doveadm block)."""
        if self.rewrite_message_id:
            data = replace_message_id(data, make_msgid(domain="email.amazonses.com"))
        try:
            for rcpt in rcpt_tos:
                mailbox = self.aliases.get(rcpt.lower(), rcpt)
                if self.mail.has_user(mailbox):
                    self.mail.deliver(mailbox, data, mail_from=mail_from)
            if login in {u.lower() for u in self.file_sent_copies_for}:
                self.mail.save(login, "Sent", data)
        except Exception as exc:  # a test peer must fail loudly, and the client must see it
            log.exception("provider relay failed")
            return f"451 4.3.0 relay into Dovecot failed: {exc}"
        # Recipients that are no Dovecot users are just recorded (mail to the outside world).
        self.received.append((mail_from, list(rcpt_tos), data))
        if self.before_answer is not None:
            self.before_answer(data)
        return "250 2.0.0 OK"


class _Handler:
    def __init__(self, provider: ProviderSmtp) -> None:
        self.provider = provider

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2 as Gmail and Office 365 take it: base64 of
        "user={address}\\x01auth=Bearer {token}\\x01\\x01", the token checked with the provider."""
        if len(args) > 1:
            raw: bytes = args[1].encode()
        else:
            answer = await server.challenge_auth("", encode_to_b64=False)
            raw = base64.b64encode(answer) if isinstance(answer, bytes) else b""
        try:
            fields = dict(
                part.split("=", 1) for part in base64.b64decode(raw).decode().split("\x01") if "=" in part
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return AuthResult(success=False, handled=False)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        checker = self.provider.token_checker
        owner = checker(token) if checker and token else None
        if owner is not None and owner.lower() == user.lower():
            return AuthResult(success=True, auth_data=user.lower())
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content
        assert isinstance(data, bytes) and envelope.mail_from is not None
        return await asyncio.to_thread(
            self.provider._accept, str(session.auth_data), envelope.mail_from, list(envelope.rcpt_tos), data
        )


_MESSAGE_ID = re.compile(
    rb"^message-id:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n|\Z)", re.IGNORECASE | re.MULTILINE
)


def replace_message_id(data: bytes, message_id: str) -> bytes:
    """Replace (or add) the Message-ID header, leaving every other byte alone."""
    blank = re.search(rb"\r?\n(?=\r?\n)", data)  # the line break ending the header block
    end = blank.end() if blank else len(data)
    header, rest = data[:end], data[end:]
    eol = b"\r\n" if b"\r\n" in header else b"\n"
    new = b"Message-ID: " + message_id.encode() + eol
    header, count = _MESSAGE_ID.subn(new, header, count=1)
    if count == 0:
        header = new + header
    return header + rest


def start_provider_smtp(mail: MailServer) -> ProviderSmtp:
    return ProviderSmtp(mail)
