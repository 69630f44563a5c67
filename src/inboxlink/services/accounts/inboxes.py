"""Connecting a mailbox: refuse POP3, log in to IMAP and SMTP before anything is stored, prove an
address that is not the login, find the Sent folder, keep the password encrypted. Also reading,
re-crediting and removing inboxes. Connect attempts are rate-limited per user: each one reaches
out to a server the user named, so an unlimited form would be a port scanner."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.accounts.address_proof import check_address_free, proof_needed, prove_address
from inboxlink.services.accounts.endpoints import (
    POP3_MESSAGE,
    Endpoint,
    check_not_pop3,
    parse_endpoint,
    pin_public_address,
    pop3_error,
)
from inboxlink.services.accounts.probes import Probe, probe_imap, probe_smtp
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError, TooManyAttempts
from inboxlink.services.platform import events
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import normalise_address, valid_unicode
from inboxlink.smtp import SmtpServer
from inboxlink.storage.db import new_id
from inboxlink.storage.tables import folder_cursors, inboxes, notifications, oauth_grants

__all__ = ["POP3_MESSAGE", "connect_inbox", "delete_inbox", "get_inbox", "list_inboxes", "update_credentials"]


def _count_attempt(rt: Runtime, caller: Caller) -> float:
    """Counted before any server is contacted (so a burst cannot slip in under the limit); a
    successful attempt is given back (`take_back`), so connecting many inboxes is never limited."""
    stamp = time.monotonic()
    wait = rt.connect_attempts.wait_seconds(caller.user_id, stamp)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        raise TooManyAttempts(
            f"Too many attempts to connect a mailbox in the last {rt.connect_attempts.window / 60:g} "
            f"minutes. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
    rt.connect_attempts.hit(caller.user_id, stamp)
    return stamp


async def _check_servers(
    rt: Runtime, imap_at: Endpoint, smtp_at: Endpoint, email: str, username: str, password: str
) -> Probe:
    """Every check that talks to a server, in order; raises ServiceError on the first failure."""
    imap_at = await pin_public_address(rt, imap_at, "imap")
    smtp_at = await pin_public_address(rt, smtp_at, "smtp")
    security: Any = smtp_at.security  # one of SECURITIES: parse_endpoint checked it
    smtp = SmtpServer(smtp_at.host, smtp_at.port, security, username, password, address=smtp_at.address)
    probe = await probe_imap(rt, imap_at, username, password)
    await probe_smtp(rt, smtp)
    if proof_needed(email, username):
        await prove_address(rt, imap_at, smtp, username, password, email)
    return probe


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
        raise pop3_error("protocol")
    if protocol != "imap":
        raise ServiceError("invalid_field", "protocol must be imap.", field="protocol")
    email = normalise_address(body.get("email"), field="email")
    username = body.get("username") or email
    password = body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not password:
        raise ServiceError("invalid_field", "username and password are required.", field="password")
    valid_unicode(username, field="username")
    valid_unicode(password, field="password")
    imap_at = parse_endpoint(rt, body.get("imap"), "imap")
    check_not_pop3(imap_at)
    smtp_at = parse_endpoint(rt, body.get("smtp"), "smtp")
    await check_address_free(rt, caller.user_id, caller.team_id, email)
    attempt = _count_attempt(rt, caller)
    probe = await _check_servers(rt, imap_at, smtp_at, email, username, password)
    async with rt.engine.begin() as conn:
        result = await conn.execute(
            inboxes.insert().values(
                team_id=caller.team_id,
                user_id=caller.user_id,
                email=email,
                username=username,
                secret=rt.box.encrypt(json.dumps({"password": password}).encode()),
                imap_host=imap_at.host,
                imap_port=imap_at.port,
                imap_security=imap_at.security,
                smtp_host=smtp_at.host,
                smtp_port=smtp_at.port,
                smtp_security=smtp_at.security,
                status="connected",
                sent_folder=probe.sent_folder,
                created_at=now(),
            )
        )
        inbox_id = new_id(result)
        await _start_cursors(conn, inbox_id, probe, keep_existing=False)
        row = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).one()
    rt.connect_attempts.take_back(caller.user_id, attempt)
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
    valid_unicode(username, field="username")
    valid_unicode(password, field="password")
    attempt = _count_attempt(rt, caller)
    probe = await _check_servers(
        rt,
        Endpoint(row.imap_host, row.imap_port, row.imap_security),
        Endpoint(row.smtp_host, row.smtp_port, row.smtp_security),
        row.email,
        username,
        password,
    )
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
        if row.status == "disconnected":
            await events.record(rt, conn, row.team_id, "inbox.reconnected", inbox_view(fresh))
    rt.connect_attempts.take_back(caller.user_id, attempt)
    rt.inboxes_changed.set()
    # Open pages (another tab's banner, the inbox list) learn the inbox is back, as they learn a disconnect.
    rt.timeline.publish(row.team_id, {"type": "inbox", "inbox_id": row.id})
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
