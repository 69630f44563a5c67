"""The SMTP edge: log in to the user's submission server and deliver rendered messages (aiosmtplib).

Errors, one tree:
    SmtpError (.server_text)
     ├─ SmtpAuthFailed        535 and friends: wrong password, revoked app password
     ├─ SmtpTlsFailed         certificate not verified, handshake failed, STARTTLS missing
     ├─ SmtpConnectionFailed  refused, reset, timed out (before the message was handed over)
     ├─ SmtpInterrupted       the connection broke during the hand-over: outcome unknown
     └─ SmtpRejected          the server refused the message (.permanent for 5xx)
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

Security = Literal["tls", "starttls", "none"]


class SmtpError(Exception):
    def __init__(self, message: str, server_text: str | None = None) -> None:
        super().__init__(message)
        self.server_text = server_text


class SmtpAuthFailed(SmtpError):
    pass


class SmtpTlsFailed(SmtpError):
    pass


class SmtpConnectionFailed(SmtpError):
    pass


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
    # With an OAuth2 access token, AUTH XOAUTH2 (Gmail, Office 365) instead of the password.
    access_token: str | None = field(default=None, repr=False)


def _tls_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _client(server: SmtpServer, ssl_context: ssl.SSLContext, timeout: float) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.security == "tls",
        start_tls=server.security == "starttls",
        tls_context=ssl_context if server.security != "none" else None,
        validate_certs=True,
        timeout=timeout,
    )


async def _open(server: SmtpServer, ssl_context: ssl.SSLContext, timeout: float) -> aiosmtplib.SMTP:
    client = _client(server, ssl_context, timeout)
    try:
        await client.connect()
    except aiosmtplib.SMTPException as exc:
        tls = _tls_cause(exc)
        if tls is not None or "STARTTLS" in str(exc).upper():
            raise SmtpTlsFailed(f"TLS with {server.host}:{server.port} failed: {tls or exc}") from exc
        raise SmtpConnectionFailed(f"Could not connect to {server.host}:{server.port}: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        if _tls_cause(exc) is not None:
            raise SmtpTlsFailed(f"TLS with {server.host}:{server.port} failed: {exc}") from exc
        raise SmtpConnectionFailed(f"Could not connect to {server.host}:{server.port}: {exc}") from exc
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
                f"The SMTP server is not accepting logins now: {exc.code} {exc.message}"
            ) from exc
        raise SmtpAuthFailed("The SMTP server refused the user name or password.", exc.message) from exc
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
        texts = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        # 4xx (greylisting, a full mailbox for now) is worth another try; only 5xx everywhere is final.
        permanent = all(r.code >= 500 for r in exc.recipients)
        raise SmtpRejected(f"All recipients were refused: {texts}", texts, permanent=permanent) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpRejected(
            f"The SMTP server refused the message: {exc.code} {exc.message}",
            exc.message,
            permanent=500 <= exc.code < 600,
        ) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SmtpInterrupted(f"The connection broke while sending: {exc}") from exc
    finally:
        await _quit(client)
    return {address: f"{answer.code} {answer.message}" for address, answer in refused.items()}
