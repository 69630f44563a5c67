"""How inboxlink signs in to an inbox's servers: its password, or a fresh OAuth2 access token.

The monitor, the sender and the Sent-copy check all come here, so "a monitor that must reconnect,
and every send, uses a fresh token" holds in one place:

- `imap_login` / `with_smtp`: log in with the current token; when the server refuses it, refresh
  once (unless someone already did) and try again; refused with a fresh token too → the inbox is
  `disconnected` / `access_revoked` and `GrantRevoked` is raised.
- Refreshing (services.accounts.oauth_grants) is one at a time per inbox, across processes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from inboxlink import imap
from inboxlink.services.accounts import oauth_grants
from inboxlink.services.accounts.endpoints import Endpoint, pin_public_address
from inboxlink.services.accounts.health import mark_disconnected
from inboxlink.services.accounts.oauth_grants import GrantRevoked, TokenUnavailable
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime
from inboxlink.smtp import SmtpAuthFailed, SmtpConnectionFailed, SmtpServer

__all__ = [
    "GrantRevoked",
    "TokenUnavailable",
    "imap_login",
    "is_oauth",
    "password",
    "refresh_due_in",
    "with_smtp",
]

T = TypeVar("T")


def is_oauth(inbox: Any) -> bool:
    return getattr(inbox, "auth", "password") == "oauth2"


def password(rt: Runtime, inbox: Any) -> str:
    return str(json.loads(rt.box.decrypt(inbox.secret)).get("password", ""))


async def _revoked(rt: Runtime, inbox: Any, where: str, server_text: str | None) -> GrantRevoked:
    text = (
        f"{where} refused a freshly refreshed access token ({server_text or 'no reason given'}): access "
        "to the mailbox was withdrawn. Reconnect the inbox."
    )
    await mark_disconnected(rt, inbox.id, "access_revoked", text, used_secret=bytes(inbox.secret))
    return GrantRevoked(text)


async def imap_login(rt: Runtime, client: imap.ImapClient, inbox: Any) -> None:
    """LOGIN with the password, or AUTHENTICATE XOAUTH2 with a fresh token (see the module doc).
    Raises imap.AuthFailed (password inboxes), GrantRevoked, TokenUnavailable or imap errors."""
    if not is_oauth(inbox):
        await client.login(inbox.username, password(rt, inbox))
        return
    token = await oauth_grants.access_token(rt, inbox)
    try:
        await client.authenticate_xoauth2(inbox.username, token)
        return
    except imap.AuthFailed:
        pass  # revoked early, or expired in flight: one refresh decides
    token = await oauth_grants.access_token(rt, inbox, stale=token)
    try:
        await client.authenticate_xoauth2(inbox.username, token)
    except imap.AuthFailed as exc:
        raise await _revoked(rt, inbox, "The IMAP server", exc.server_text) from exc


async def checked_address(
    rt: Runtime, inbox: Any, host: str, port: int, security: str, name: str
) -> str | None:
    """The address to connect to for every session, not only at connect time: a name that resolved
    publicly then may point into the installation's own network now (DNS rebinding). None where
    private hosts are allowed, and for OAuth inboxes, whose servers come from the administrator's
    configuration (INBOXLINK_OAUTH_P_IMAP/_SMTP), not from a user (the name is used as is). Raises
    OSError, a transient fault: the name may point back out later; the monitor and the sender retry."""
    if is_oauth(inbox):
        return None
    try:
        return (await pin_public_address(rt, Endpoint(host, port, security), name)).address
    except ServiceError as exc:
        raise OSError(exc.message) from exc


def _server(rt: Runtime, inbox: Any, token: str | None, address: str | None) -> SmtpServer:
    return SmtpServer(
        inbox.smtp_host,
        inbox.smtp_port,
        inbox.smtp_security,
        inbox.username,
        "" if token is not None else password(rt, inbox),
        access_token=token,
        address=address,
    )


async def with_smtp(rt: Runtime, inbox: Any, use: Callable[[SmtpServer], Awaitable[T]]) -> T:
    """Run `use(server)` with the inbox's SMTP credentials; for OAuth, a refused AUTH (which happens
    before anything is handed over, so trying again is safe) gets one refresh and one more try."""
    try:
        address = await checked_address(
            rt, inbox, inbox.smtp_host, inbox.smtp_port, inbox.smtp_security, "smtp"
        )
    except OSError as exc:
        raise SmtpConnectionFailed(str(exc)) from exc
    if not is_oauth(inbox):
        return await use(_server(rt, inbox, None, address))
    token = await oauth_grants.access_token(rt, inbox)
    try:
        return await use(_server(rt, inbox, token, address))
    except SmtpAuthFailed:
        pass
    token = await oauth_grants.access_token(rt, inbox, stale=token)
    try:
        return await use(_server(rt, inbox, token, address))
    except SmtpAuthFailed as exc:
        raise await _revoked(rt, inbox, "The SMTP server", exc.server_text) from exc


async def refresh_due_in(rt: Runtime, inbox: Any) -> float | None:
    """Seconds until the inbox's access token should be refreshed (None: no OAuth)."""
    return await oauth_grants.refresh_due_in(rt, inbox) if is_oauth(inbox) else None


async def refresh_if_due(rt: Runtime, inbox: Any) -> None:
    """Refresh ahead of expiry (the monitor calls this between IDLE rounds): a revoked grant is
    then noticed at the next refresh, not only at the next login."""
    if is_oauth(inbox):
        await oauth_grants.access_token(rt, inbox)
