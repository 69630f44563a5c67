"""Logging in to a mailbox's IMAP and SMTP servers before anything is stored: every failure becomes
a ServiceError with the contract's code and a sentence the user can act on. The server's own words
appear only as the IMAP/SMTP rooms hand them over (text of a well-formed reply, cleaned)."""

from __future__ import annotations

from dataclasses import dataclass

from inboxlink import imap
from inboxlink.domain.connect_text import parenthetical, starttls_hint
from inboxlink.domain.providers import server_habits
from inboxlink.domain.sent_folder import choose_sent_folder
from inboxlink.services.accounts.endpoints import Endpoint, pop3_error
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime
from inboxlink.smtp import (
    SmtpAuthFailed,
    SmtpConnectionFailed,
    SmtpError,
    SmtpNotSmtpServer,
    SmtpServer,
    SmtpTlsFailed,
    verify_login,
)


@dataclass(frozen=True)
class Probe:
    sent_folder: str | None
    # Where monitoring starts: (UIDVALIDITY, last UID already there) per followed folder.
    starts: dict[str, tuple[int, int]]


def not_an_imap_server(where: Endpoint) -> ServiceError:
    return ServiceError(
        "not_an_imap_server",
        f"{where.host}:{where.port} is not an IMAP server: what answered there did not greet like one. "
        "Check the port (IMAP is usually 993 with SSL/TLS, or 143 with STARTTLS).",
        field="imap.port",
    )


async def open_imap(rt: Runtime, where: Endpoint, timeout: float = 20) -> imap.ImapClient:
    """A connected (not yet logged-in) client; ServiceError on failure."""
    try:
        return await imap.ImapClient.connect(
            where.host,
            where.port,
            where.security,  # type: ignore[arg-type]
            ssl_context=rt.ssl_context(),
            timeout=timeout,
            address=where.address,
        )
    except imap.Pop3Greeting as exc:
        raise pop3_error("imap.port") from exc
    except imap.NotImapServer as exc:
        raise not_an_imap_server(where) from exc
    except imap.TlsFailed as exc:
        hint = starttls_hint(str(exc), where.security, "imap", where.port)
        raise ServiceError(
            "tls_failed",
            hint
            or f"The secure connection to {where.host}:{where.port} could not be verified ({exc}). Check the "
            "server name and port, or ask your administrator whether the server's certificate is valid.",
            field="imap.security" if hint else "imap.host",
        ) from exc
    except imap.ImapError as exc:
        raise ServiceError(
            "connection_failed", f"Could not reach the IMAP server: {exc}.", field="imap.host"
        ) from exc


async def imap_login(
    client: imap.ImapClient, where: Endpoint, username: str, password: str, *, access_token: str | None = None
) -> None:
    """LOGIN with the password, or SASL XOAUTH2 with `access_token` (OAuth2 mailboxes)."""
    if "IMAP4REV1" not in client.capabilities and "IMAP4REV2" not in client.capabilities:
        raise ServiceError(
            "imap_capability_missing",
            f"{where.host}:{where.port} does not speak IMAP4rev1.",
            field="imap.host",
        )
    try:
        if access_token is not None:
            await client.authenticate_xoauth2(username, access_token)
        else:
            await client.login(username, password)
    except imap.AuthFailed as exc:
        raise ServiceError(
            "auth_failed",
            "The IMAP server refused the user name or password"
            + parenthetical(exc.server_text)
            + ". Check them; with two-step verification you may need an app password.",
            field="password",
        ) from exc
    except imap.ImapError as exc:
        raise ServiceError("connection_failed", f"IMAP login failed: {exc}", field="imap.host") from exc


async def probe_imap(
    rt: Runtime, where: Endpoint, username: str, password: str, *, access_token: str | None = None
) -> Probe:
    """Log in, find the Sent folder and note where each followed folder stands now."""
    client = await open_imap(rt, where)
    try:
        # What the greeting announced counts too: iCloud's AUTH=ATOKEN is gone after login.
        announced = client.capabilities
        await imap_login(client, where, username, password, access_token=access_token)
        mailboxes = await client.list_mailboxes()
        habits = server_habits(
            where.host, greeting=client.greeting, capabilities=announced | client.capabilities
        )
        sent = choose_sent_folder([(m.name, m.flags) for m in mailboxes], habits.sent_names)
        starts = {}
        for folder in ["INBOX", *([sent] if sent else [])]:
            # Courier: a UIDVALIDITY that holds only after one read-write open, and no UIDNEXT.
            info = await imap.stable_select(client, folder)
            starts[folder] = (info.uidvalidity, (info.uidnext or 1) - 1)
        return Probe(sent, starts)
    except imap.ImapError as exc:
        raise ServiceError(
            "connection_failed", f"The IMAP server broke the connection: {exc}", field="imap.host"
        ) from exc
    finally:
        await client.logout()


async def probe_smtp(rt: Runtime, server: SmtpServer) -> None:
    try:
        await verify_login(server, rt.ssl_context())
    except SmtpAuthFailed as exc:
        raise ServiceError(
            "smtp_auth_failed",
            "The SMTP (outgoing mail) server refused the user name or password"
            + parenthetical(exc.server_text)
            + ". Some providers need an app password for sending.",
            field="smtp.host",
        ) from exc
    except SmtpTlsFailed as exc:
        hint = starttls_hint(str(exc), server.security, "smtp", server.port)
        raise ServiceError(
            "tls_failed",
            hint or f"The secure connection to the SMTP server failed: {exc}",
            field="smtp.security" if hint else "smtp.host",
        ) from exc
    except SmtpNotSmtpServer as exc:
        raise ServiceError(
            "not_an_smtp_server",
            f"{server.host}:{server.port} is not an SMTP server: what answered there did not reply like "
            "one. Check the port (usually 465 with SSL/TLS, or 587 with STARTTLS).",
            field="smtp.port",
        ) from exc
    except (SmtpConnectionFailed, SmtpError) as exc:
        raise ServiceError(
            "connection_failed", f"Could not use the SMTP server: {str(exc).rstrip('.')}.", field="smtp.host"
        ) from exc
