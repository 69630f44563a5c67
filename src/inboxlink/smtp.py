"""The SMTP edge: log in to the user's submission server and deliver rendered messages (aiosmtplib).

Errors, one tree:
    SmtpError (.server_text)
     ├─ SmtpAuthFailed        535 and friends: wrong password, revoked app password
     ├─ SmtpTlsFailed         certificate not verified, handshake failed, STARTTLS missing
     ├─ SmtpConnectionFailed  refused, reset, timed out (before the message was handed over)
     │   └─ SmtpNotSmtpServer what answered is not an SMTP server (another service on the port)
     ├─ SmtpInterrupted       the connection broke during the hand-over: outcome unknown
     └─ SmtpRejected          the server refused the message (.permanent for 5xx)

Messages never quote bytes that are not a well-formed SMTP reply (a connect form that quoted any
port's answer was a port scanner with echo); the server's words (`server_text`) are the text of a
reply line, cleaned by `domain.server_text.quotable`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from inboxlink.domain.connect_text import socket_text
from inboxlink.domain.server_text import quotable

Security = Literal["tls", "starttls", "none"]


class SmtpError(Exception):
    def __init__(self, message: str, server_text: str | None = None) -> None:
        super().__init__(message)
        self.server_text = quotable(server_text) or None


class SmtpAuthFailed(SmtpError):
    pass


class SmtpTlsFailed(SmtpError):
    pass


class SmtpConnectionFailed(SmtpError):
    pass


class SmtpNotSmtpServer(SmtpConnectionFailed):
    """The peer's first line was not an SMTP reply."""


class SmtpInterrupted(SmtpError):
    """The connection broke after the message was handed over: it may or may not have been accepted,
    so it must not simply be sent again."""


class SmtpRejected(SmtpError):
    def __init__(self, message: str, server_text: str | None = None, *, permanent: bool) -> None:
        super().__init__(message, server_text)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    # Keyword-only: two optional strings side by side must never be swapped by position.
    # With an OAuth2 access token, AUTH XOAUTH2 (Gmail, Office 365) instead of the password.
    access_token: str | None = field(default=None, repr=False, kw_only=True)
    # An IP the caller resolved and checked: connect there, verify TLS for `host` (no second lookup).
    address: str | None = field(default=None, kw_only=True)


def _reply_text(exc: aiosmtplib.SMTPResponseException) -> str:
    """`code text` of a well-formed reply, cleaned for quoting."""
    return f"{exc.code} {quotable(exc.message)}"


def _tls_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _client(
    server: SmtpServer, ssl_context: ssl.SSLContext, timeout: float, sock: socket.socket | None
) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=server.host,  # with `sock`, only the TLS server name
        port=None if sock is not None else server.port,
        use_tls=server.security == "tls",
        start_tls=server.security == "starttls",
        tls_context=ssl_context if server.security != "none" else None,
        validate_certs=True,
        timeout=timeout,
        sock=sock,
    )


async def _pinned_socket(address: str, port: int, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _open(server: SmtpServer, ssl_context: ssl.SSLContext, timeout: float) -> aiosmtplib.SMTP:
    where = f"{server.host}:{server.port}"
    try:
        sock = await _pinned_socket(server.address, server.port, timeout) if server.address else None
    except (OSError, TimeoutError) as exc:
        raise SmtpConnectionFailed(
            socket_text(
                getattr(exc, "errno", None),
                where,
                f"Could not connect to {where}: {exc.strerror or 'timed out'}",
            )
        ) from exc
    client = _client(server, ssl_context, timeout, sock)
    try:
        await client.connect()
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code < 0:  # aiosmtplib's "malformed response line": the peer is not speaking SMTP
            raise SmtpNotSmtpServer(f"{where} did not answer like an SMTP server") from exc
        if "STARTTLS" in exc.message.upper() or _tls_cause(exc) is not None:
            raise SmtpTlsFailed(f"TLS with {where} failed: {_reply_text(exc)}", exc.message) from exc
        raise SmtpConnectionFailed(
            f"{where} refused the connection: {_reply_text(exc)}", exc.message
        ) from exc
    except aiosmtplib.SMTPException as exc:
        tls = _tls_cause(exc)
        if tls is not None or "STARTTLS" in str(exc).upper():
            raise SmtpTlsFailed(f"TLS with {where} failed: {tls or exc}") from exc
        # aiosmtplib's own words (timeouts, disconnects), never the peer's bytes
        raise SmtpConnectionFailed(f"Could not connect to {where}: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        if _tls_cause(exc) is not None:
            raise SmtpTlsFailed(f"TLS with {server.host}:{server.port} failed: {exc}") from exc
        raise SmtpConnectionFailed(
            socket_text(getattr(exc, "errno", None), where, f"Could not connect to {where}: {exc}")
        ) from exc
    try:
        if server.access_token is not None:
            await client.auth_xoauth2(server.username, server.access_token)
        else:
            await client.login(server.username, server.password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        await _quit(client)
        if 400 <= exc.code < 500:
            # "454 Too many login attempts" and the like: try again later, the password may be fine.
            raise SmtpConnectionFailed(
                f"The SMTP server is not accepting logins now: {_reply_text(exc)}", exc.message
            ) from exc
        raise SmtpAuthFailed("The SMTP server refused the user name or password.", exc.message) from exc
    except aiosmtplib.SMTPResponseException as exc:
        await _quit(client)
        if exc.code < 0:
            raise SmtpNotSmtpServer(f"{where} did not answer like an SMTP server") from exc
        raise SmtpConnectionFailed(f"SMTP login failed: {_reply_text(exc)}", exc.message) from exc
    except aiosmtplib.SMTPException as exc:
        await _quit(client)
        raise SmtpConnectionFailed(f"SMTP login failed: {exc}") from exc
    return client


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


async def verify_login(server: SmtpServer, ssl_context: ssl.SSLContext, timeout: float = 20.0) -> None:
    await _quit(await _open(server, ssl_context, timeout))


async def deliver(
    server: SmtpServer,
    ssl_context: ssl.SSLContext,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    timeout: float = 60.0,
) -> dict[str, str]:
    """Send `message` as is (so the Message-ID we chose is the one on the wire). Returns the
    recipients the server refused while accepting the others ({address: its reply})."""
    client = await _open(server, ssl_context, timeout)
    try:
        refused, _reply = await client.sendmail(sender, list(recipients), message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        texts = "; ".join(f"{r.recipient}: {_reply_text(r)}" for r in exc.recipients)
        # 4xx (greylisting, a full mailbox for now) is worth another try; only 5xx everywhere is final.
        permanent = all(r.code >= 500 for r in exc.recipients)
        raise SmtpRejected(f"All recipients were refused: {texts}", texts, permanent=permanent) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpRejected(
            f"The SMTP server refused the message: {_reply_text(exc)}",
            exc.message,
            permanent=500 <= exc.code < 600,
        ) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SmtpInterrupted(f"The connection broke while sending: {exc}") from exc
    finally:
        await _quit(client)
    return {address: f"{answer.code} {quotable(answer.message)}" for address, answer in refused.items()}
