"""Connecting a mailbox: refuse POP3, log in to IMAP and SMTP before anything is stored, find the Sent
folder, keep the password encrypted. Also reading, re-crediting and removing inboxes."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink import imap
from inboxlink.domain.sent_folder import choose_sent_folder
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import normalise_address
from inboxlink.smtp import (
    SmtpAuthFailed,
    SmtpConnectionFailed,
    SmtpError,
    SmtpServer,
    SmtpTlsFailed,
    verify_login,
)
from inboxlink.storage.db import new_id
from inboxlink.storage.tables import folder_cursors, inboxes, notifications, oauth_grants

POP3_PORTS = {110, 995}
SECURITIES = {"tls", "starttls", "none"}

POP3_MESSAGE = (
    "POP3 is not supported. POP3 downloads mail and usually deletes it from the server, so the CRM "
    "could never see the replies to what you send. Switch your mail client (and this form) to IMAP: "
    "your provider lists its IMAP server next to the POP3 one (usually port 993 with SSL/TLS)."
)


def _pop3_error(field: str) -> ServiceError:
    return ServiceError("pop3_not_supported", POP3_MESSAGE, field=field)


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint(rt: Runtime, raw: Any, name: str) -> tuple[str, int, str]:
    if not isinstance(raw, dict):
        raise ServiceError(
            "invalid_field", f"{name} must be an object with host, port and security.", field=name
        )
    host = raw.get("host")
    port = raw.get("port")
    security = raw.get("security", "tls")
    if not isinstance(host, str) or not host.strip() or any(c in host for c in " /\\\r\n@"):
        raise ServiceError(
            "invalid_field",
            f"{name}.host must be a server name such as imap.example.com.",
            field=f"{name}.host",
        )
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ServiceError(
            "invalid_field", f"{name}.port must be a port number (1-65535).", field=f"{name}.port"
        )
    if security not in SECURITIES:
        raise ServiceError(
            "invalid_field", f"{name}.security must be tls, starttls or none.", field=f"{name}.security"
        )
    host = host.strip()
    if security == "none" and not _is_loopback(host) and not rt.settings.allow_insecure:
        raise ServiceError(
            "insecure_connection",
            f"{name}: an unencrypted connection to {host} would send your password in clear text. "
            "Use tls or starttls (an administrator can allow plain connections with INBOXLINK_ALLOW_INSECURE).",
            field=f"{name}.security",
        )
    return host, port, security


def _check_not_pop3(host: str, port: int) -> None:
    if port in POP3_PORTS:
        raise _pop3_error("imap.port")
    first_label = host.lower().split(".", 1)[0]
    if first_label in {"pop", "pop3", "pop-mail"}:
        raise _pop3_error("imap.host")


@dataclass(frozen=True)
class Probe:
    sent_folder: str | None
    # Where monitoring starts: (UIDVALIDITY, last UID already there) per followed folder.
    starts: dict[str, tuple[int, int]]


async def probe_imap(
    rt: Runtime, host: str, port: int, security: str, username: str, password: str, *, access_token: str | None = None
) -> Probe:
    """Log in (with `access_token`: SASL XOAUTH2), find the Sent folder and note where each followed
    folder stands now; raises ServiceError with the contract's code on every failure."""
    try:
        client = await imap.ImapClient.connect(host, port, security, ssl_context=rt.ssl_context(), timeout=20)  # type: ignore[arg-type]
    except imap.Pop3Greeting as exc:
        raise _pop3_error("imap.port") from exc
    except imap.TlsFailed as exc:
        raise ServiceError(
            "tls_failed",
            f"The secure connection to {host}:{port} could not be verified ({exc}). Check the server name "
            "and port, or ask your administrator whether the server's certificate is valid.",
            field="imap.host",
        ) from exc
    except imap.ImapError as exc:
        raise ServiceError(
            "connection_failed",
            f"Could not reach the IMAP server {host}:{port} ({exc}). Check the server name and port.",
            field="imap.host",
        ) from exc
    try:
        if "IMAP4REV1" not in client.capabilities and "IMAP4REV2" not in client.capabilities:
            raise ServiceError(
                "imap_capability_missing", f"{host}:{port} does not speak IMAP4rev1.", field="imap.host"
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
                + (f" ({exc.server_text})" if exc.server_text else "")
                + ". Check them; with two-step verification you may need an app password.",
                field="password",
            ) from exc
        except imap.ImapError as exc:
            raise ServiceError("connection_failed", f"IMAP login failed: {exc}", field="imap.host") from exc
        mailboxes = await client.list_mailboxes()
        sent = choose_sent_folder([(m.name, m.flags) for m in mailboxes])
        starts = {}
        for folder in ["INBOX", *([sent] if sent else [])]:
            info = await client.select(folder, readonly=True)
            starts[folder] = (info.uidvalidity, (info.uidnext or 1) - 1)
        return Probe(sent, starts)
    except imap.ImapError as exc:
        raise ServiceError(
            "connection_failed", f"The IMAP server broke the connection: {exc}", field="imap.host"
        ) from exc
    finally:
        await client.logout()
        await client.close()


async def probe_smtp(rt: Runtime, server: SmtpServer) -> None:
    try:
        await verify_login(server, rt.ssl_context())
    except SmtpAuthFailed as exc:
        raise ServiceError(
            "smtp_auth_failed",
            "The SMTP (outgoing mail) server refused the user name or password"
            + (f" ({exc.server_text})" if exc.server_text else "")
            + ". Some providers need an app password for sending.",
            field="smtp.host",
        ) from exc
    except SmtpTlsFailed as exc:
        raise ServiceError(
            "tls_failed", f"The secure connection to the SMTP server failed: {exc}", field="smtp.host"
        ) from exc
    except (SmtpConnectionFailed, SmtpError) as exc:
        raise ServiceError(
            "connection_failed", f"Could not use the SMTP server: {exc}", field="smtp.host"
        ) from exc


def inbox_view(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "email": row.email,
        "user_id": row.user_id,
        "status": row.status,
        "disconnect_reason": row.disconnect_reason,
        "disconnected_at": iso(row.disconnected_at),
        "last_error": row.last_error,
        "next_retry_at": iso(row.next_retry_at),
        "sent_folder": row.sent_folder,
        "last_sync_at": iso(row.last_sync_at),
        "imap": {"host": row.imap_host, "port": row.imap_port, "security": row.imap_security},
        "smtp": {"host": row.smtp_host, "port": row.smtp_port, "security": row.smtp_security},
        "created_at": iso(row.created_at),
        "auth": row.auth,
        "provider": row.provider,
    }


async def connect_inbox(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    protocol = str(body.get("protocol", "imap")).lower()
    if protocol == "pop3" or protocol == "pop":
        raise _pop3_error("protocol")
    if protocol != "imap":
        raise ServiceError("invalid_field", "protocol must be imap.", field="protocol")
    email = normalise_address(body.get("email"), field="email")
    username = body.get("username") or email
    password = body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not password:
        raise ServiceError("invalid_field", "username and password are required.", field="password")
    imap_host, imap_port, imap_sec = _endpoint(rt, body.get("imap"), "imap")
    _check_not_pop3(imap_host, imap_port)
    smtp_host, smtp_port, smtp_sec = _endpoint(rt, body.get("smtp"), "smtp")
    probe = await probe_imap(rt, imap_host, imap_port, imap_sec, username, password)
    await probe_smtp(rt, SmtpServer(smtp_host, smtp_port, smtp_sec, username, password))  # type: ignore[arg-type]
    async with rt.engine.begin() as conn:
        result = await conn.execute(
            inboxes.insert().values(
                team_id=caller.team_id,
                user_id=caller.user_id,
                email=email,
                username=username,
                secret=rt.box.encrypt(json.dumps({"password": password}).encode()),
                imap_host=imap_host,
                imap_port=imap_port,
                imap_security=imap_sec,
                smtp_host=smtp_host,
                smtp_port=smtp_port,
                smtp_security=smtp_sec,
                status="connected",
                sent_folder=probe.sent_folder,
                created_at=now(),
            )
        )
        inbox_id = new_id(result)
        await _start_cursors(conn, inbox_id, probe, keep_existing=False)
        row = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).one()
    rt.inboxes_changed.set()
    return inbox_view(row)


async def _start_cursors(conn: AsyncConnection, inbox_id: int, probe: Probe, *, keep_existing: bool) -> None:
    """Monitoring of a folder starts when it is first seen: mail already there is not ours to read.
    On reconnect, folders already followed keep their cursor (the backlog is logged from it); a new
    or renamed Sent folder starts here, not at the monitor's first pass."""
    for folder, (uidvalidity, last_uid) in probe.starts.items():
        if keep_existing:
            found = await conn.scalar(
                select(folder_cursors.c.folder).where(
                    folder_cursors.c.inbox_id == inbox_id, folder_cursors.c.folder == folder
                )
            )
            if found is not None:
                continue
        await conn.execute(
            folder_cursors.insert().values(
                inbox_id=inbox_id,
                folder=folder,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                uidvalidity_changes=0,
                updated_at=now(),
            )
        )


async def _row(rt: Runtime, caller: Caller, inbox_id: int, *, owner_only: bool = False) -> Any:
    query = select(inboxes).where(
        inboxes.c.id == inbox_id, inboxes.c.team_id == caller.team_id, inboxes.c.deleted_at.is_(None)
    )
    if owner_only:
        # Teammates may see an inbox's health, but only its owner sends through it or changes it.
        query = query.where(inboxes.c.user_id == caller.user_id)
    async with rt.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("inbox")
    return row


async def get_inbox(rt: Runtime, caller: Caller, inbox_id: int) -> dict[str, object]:
    return inbox_view(await _row(rt, caller, inbox_id))


async def owned_inbox_row(rt: Runtime, caller: Caller, inbox_id: int) -> Any:
    return await _row(rt, caller, inbox_id, owner_only=True)


async def list_inboxes(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(inboxes)
                .where(inboxes.c.team_id == caller.team_id, inboxes.c.deleted_at.is_(None))
                .order_by(inboxes.c.id)
            )
        ).all()
    return [inbox_view(r) for r in rows]


def inbox_password(rt: Runtime, row: Any) -> str:
    return str(json.loads(rt.box.decrypt(row.secret))["password"])


async def update_credentials(
    rt: Runtime, caller: Caller, inbox_id: int, body: dict[str, Any]
) -> dict[str, object]:
    row = await owned_inbox_row(rt, caller, inbox_id)
    password = body.get("password")
    username = body.get("username") or row.username
    if not isinstance(password, str) or not password or not isinstance(username, str):
        raise ServiceError("invalid_field", "password is required.", field="password")
    probe = await probe_imap(rt, row.imap_host, row.imap_port, row.imap_security, username, password)
    await probe_smtp(rt, SmtpServer(row.smtp_host, row.smtp_port, row.smtp_security, username, password))
    async with rt.engine.begin() as conn:
        await conn.execute(
            inboxes.update()
            # Not an inbox removed while its new password was being checked.
            .where(inboxes.c.id == row.id, inboxes.c.deleted_at.is_(None))
            .values(
                username=username,
                secret=rt.box.encrypt(json.dumps({"password": password}).encode()),
                auth="password",  # a password replaces an OAuth grant too (an app password for Gmail)
                provider=None,
                status="connected",
                disconnect_reason=None,
                disconnected_at=None,
                last_error=None,
                next_retry_at=None,
                sent_folder=probe.sent_folder or row.sent_folder,
            )
        )
        await conn.execute(
            notifications.update()
            .where(notifications.c.inbox_id == row.id, notifications.c.resolved_at.is_(None))
            .values(resolved_at=now())
        )
        await _start_cursors(conn, row.id, probe, keep_existing=True)
        fresh = (await conn.execute(select(inboxes).where(inboxes.c.id == row.id))).one()
    rt.inboxes_changed.set()
    return inbox_view(fresh)


async def delete_inbox(rt: Runtime, caller: Caller, inbox_id: int) -> None:
    row = await owned_inbox_row(rt, caller, inbox_id)
    async with rt.engine.begin() as conn:
        # Soft delete: logged emails keep pointing at it; the secret is wiped so nothing can log in.
        await conn.execute(
            inboxes.update()
            .where(inboxes.c.id == row.id)
            .values(deleted_at=now(), status="deleted", secret=rt.box.encrypt(b'{"password": ""}'))
        )
        await conn.execute(oauth_grants.delete().where(oauth_grants.c.inbox_id == row.id))
    rt.inboxes_changed.set()
