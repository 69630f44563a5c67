"""Forgetting a contact (GDPR erasure): the contact, every email logged on no one else with its
attachments and blob files, its thread memberships and tracked ids go; emails shared with other
contacts stay for them with the address replaced by "forgotten contact"; the address goes on the
team's never-log list; an audit record keeps who and when and a keyed hash of the address."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.never_log import InvalidEntry, normalise_entry
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.erase import (
    BATCH,
    clear_references,
    delete_emails,
    delete_events,
    scrub,
    unlink_blobs,
)
from inboxlink.services.crm.never_log import add_to_team_list, require_admin
from inboxlink.services.errors import NotFound
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.services.validation import db_int
from inboxlink.storage.privacy_tables import privacy_audit
from inboxlink.storage.tables import contacts, email_contacts, emails, outbox

FORGOTTEN = "forgotten contact"
_AUDIT_PURPOSE = b"inboxlink privacy audit v1"
UNSENT_FORGOTTEN = {
    "code": "recipient_forgotten",
    "message": "Not sent: one of its recipients was forgotten (a privacy request). Write it again to the others if it is still needed.",
}


@dataclass(frozen=True)
class Forgotten:
    emails_deleted: int
    emails_kept: int
    blobs_deleted: int
    seen_before: bool


def list_entry(address: str) -> str:
    """The address in the never-log list's stored form (the domain in ASCII), as typed if it has none."""
    try:
        return normalise_entry(address)
    except InvalidEntry:
        return address


def subject_hashes(rt: Runtime, address: str) -> list[str]:
    """HMAC-SHA256 of the address under a key derived from each installation key (the first key's first)."""
    data = address.strip().lower().encode("utf-8", "surrogatepass")
    return [hmac.new(k, data, hashlib.sha256).hexdigest() for k in rt.box.derived_keys(_AUDIT_PURPOSE)]


def _scrubbed(people: Any, address: str) -> tuple[list[dict[str, str]], bool]:
    out, changed = [], False
    for p in people or ():
        if str(p.get("email", "")).strip().lower() == address:
            out.append({"email": "", "name": FORGOTTEN})
            changed = True
        else:
            out.append(p)
    return out, changed


def _scrubbed_error(error: Any, address: str) -> tuple[Any, bool]:
    """A send's or a bounce's error names recipients ("recipients": [...], "… bob@x: 550 …" in the
    message): the forgotten address goes from it as from the headers — as stored and in the ASCII
    (IDNA) form an SMTP server answers with."""
    forms = {address.lower(), list_entry(address).lower()}
    text = json.dumps(error, ensure_ascii=False).lower() if isinstance(error, dict) else ""
    if not any(form in text for form in forms):
        return error, False
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.IGNORECASE)

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(FORGOTTEN, value)
        if isinstance(value, list):
            return [clean(v) for v in value if not (isinstance(v, str) and v.strip().lower() in forms)]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return clean(error), True


async def _cancel_unsent(conn: AsyncConnection, ids: list[int]) -> None:
    """Shared emails not yet on their way (queued, scheduled) are not sent to a forgotten person:
    cancelled, their rendered payload (which still names them) wiped. One already being handed to
    the server cannot be called back."""
    for start in range(0, len(ids), BATCH):
        waiting = select(outbox.c.email_id).where(
            outbox.c.email_id.in_(ids[start : start + BATCH]), outbox.c.state.in_(("pending", "scheduled"))
        )
        doomed = list((await conn.execute(waiting)).scalars())
        if not doomed:
            continue
        await conn.execute(
            outbox.update()
            .where(outbox.c.email_id.in_(doomed), outbox.c.state.in_(("pending", "scheduled")))
            .values(state="cancelled", payload=b"", updated_at=now())
        )
        await conn.execute(
            emails.update().where(emails.c.id.in_(doomed)).values(status="cancelled", error=UNSENT_FORGOTTEN)
        )


async def _scrub_shared(conn: AsyncConnection, ids: list[int], address: str) -> None:
    """Emails that stay for other contacts lose the forgotten address wherever it is written."""
    for start in range(0, len(ids), BATCH):
        rows = (await conn.execute(select(emails).where(emails.c.id.in_(ids[start : start + BATCH])))).all()
        for r in rows:
            values: dict[str, object] = {}
            for column in ("to_addrs", "cc_addrs", "bcc_addrs"):
                new, changed = _scrubbed(getattr(r, column), address)
                if changed:
                    values[column] = new
            if r.from_email.strip().lower() == address:
                values.update(from_email="", from_name=FORGOTTEN)
            error, changed = _scrubbed_error(r.error, address)
            if changed:
                values["error"] = error
            if values:
                await conn.execute(emails.update().where(emails.c.id == r.id).values(**values))


async def forget_contact_row(
    rt: Runtime, team_id: int, contact_id: int, actor: str, actor_id: int | None
) -> Forgotten:
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(
                select(contacts).where(contacts.c.id == contact_id, contacts.c.team_id == team_id)
            )
        ).first()
        if row is None:
            raise NotFound("contact")
        address = row.email.strip().lower()
        linked = [
            r.email_id
            for r in await conn.execute(
                select(email_contacts.c.email_id).where(email_contacts.c.contact_id == contact_id)
            )
        ]
        shared: set[int] = set()
        for start in range(0, len(linked), BATCH):
            chunk = linked[start : start + BATCH]
            rows = await conn.execute(
                select(email_contacts.c.email_id)
                .where(email_contacts.c.email_id.in_(chunk), email_contacts.c.contact_id != contact_id)
                .distinct()
            )
            shared.update(r.email_id for r in rows)
        only = [i for i in linked if i not in shared]
        blobs = await delete_emails(conn, only)
        await _cancel_unsent(conn, sorted(shared))
        await _scrub_shared(conn, sorted(shared), address)
        await delete_events(conn, sorted(shared))  # their payloads still name the forgotten person
        await clear_references(conn, contacts, [contact_id])
        await conn.execute(delete(contacts).where(contacts.c.id == contact_id))
        await add_to_team_list(conn, team_id, list_entry(address), actor_id)
        hashes = subject_hashes(rt, address)
        seen = await conn.scalar(
            select(privacy_audit.c.id).where(
                privacy_audit.c.team_id == team_id, privacy_audit.c.subject_hash.in_(hashes)
            )
        )
        result = Forgotten(len(only), len(shared), len(blobs), seen is not None)
        await conn.execute(
            privacy_audit.insert().values(
                team_id=team_id,
                actor=actor[:320],
                action="forget_contact",
                subject_hash=hashes[0],
                details={
                    "emails_deleted": result.emails_deleted,
                    "emails_kept": result.emails_kept,
                    "blobs_deleted": result.blobs_deleted,
                    "repeat": result.seen_before,
                },
                created_at=now(),
            )
        )
    await unlink_blobs(rt, blobs)
    await scrub(rt)
    return result


async def forget_contact(rt: Runtime, caller: Caller, contact_id: int) -> Forgotten:
    require_admin(caller)
    db_int(contact_id, field="contact_id")
    return await forget_contact_row(rt, caller.team_id, contact_id, caller.email, caller.user_id)


async def forget_address(rt: Runtime, team_id: int, address: str, actor: str) -> Forgotten | None:
    """The CLI's `inboxlink forget EMAIL`: None when the team has no such contact (the address still
    goes on the never-log list)."""
    address = address.strip().lower()
    async with rt.engine.begin() as conn:
        contact_id = await conn.scalar(
            select(contacts.c.id).where(contacts.c.team_id == team_id, contacts.c.email == address)
        )
        if contact_id is None:
            await add_to_team_list(conn, team_id, list_entry(address), None)
            return None
    return await forget_contact_row(rt, team_id, int(contact_id), actor, None)
