"""Contacts you can manage (issue 14): the profile (name, first/last name, phone, job title, owner,
lifecycle stage) and merging a duplicate into a contact so that nothing is lost: the duplicate's
emails (with their attachments), deals and company move over, blank fields are filled from it, and
then it is deleted. Everything is checked within the caller's team: another team's contact or user
is NotFound, as if it did not exist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.lifecycle import LIFECYCLE_STAGES
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact, get_contact_row
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.services.validation import db_int, valid_unicode
from inboxlink.storage.contact_profile_tables import contact_profiles
from inboxlink.storage.crm_tables import (
    contact_companies,
    contact_extras,
    deal_contacts,
    email_companies,
    email_deals,
)
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_history
from inboxlink.storage.tables import contacts, email_contacts, users

TEXT_FIELDS = {"first_name": 100, "last_name": 100, "job_title": 200}
PHONE_MAX = 40


def _line(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit or any(c in value for c in "\r\n\x00"):
        raise ServiceError(
            "invalid_field", f"{key} must be one line of at most {limit} characters.", field=key
        )
    return valid_unicode(value, field=key).strip()


async def _profile_row(conn: AsyncConnection, contact_id: int) -> Any:
    return (
        await conn.execute(select(contact_profiles).where(contact_profiles.c.contact_id == contact_id))
    ).first()


async def _phone(conn: AsyncConnection, contact_id: int) -> str:
    found = await conn.scalar(select(contact_extras.c.phone).where(contact_extras.c.contact_id == contact_id))
    return str(found or "")


async def profile(rt: Runtime, caller: Caller, contact_id: int) -> dict[str, object]:
    """The contact as the API shows it, plus its profile fields (empty strings / null when unset)."""
    contact = await get_contact(rt, caller, contact_id)
    async with rt.engine.connect() as conn:
        row = await _profile_row(conn, contact_id)
        phone = await _phone(conn, contact_id)
    return {
        **contact,
        "first_name": row.first_name if row else "",
        "last_name": row.last_name if row else "",
        "job_title": row.job_title if row else "",
        "owner_id": row.owner_id if row else None,
        "lifecycle_stage": (row.lifecycle_stage or None) if row else None,
        "phone": phone,
    }


async def _team_user(conn: AsyncConnection, caller: Caller, user_id: object) -> int | None:
    owner = db_int(user_id, field="owner_id")
    if owner is None:
        return None
    found = await conn.scalar(
        select(users.c.id).where(users.c.id == owner, users.c.team_id == caller.team_id)
    )
    if found is None:
        raise NotFound("user")
    return int(found)


async def _write_profile(conn: AsyncConnection, contact_id: int, values: dict[str, Any]) -> None:
    if not values:
        return
    if await _profile_row(conn, contact_id) is None:
        await conn.execute(contact_profiles.insert().values(contact_id=contact_id, **values))
    else:
        await conn.execute(
            contact_profiles.update().where(contact_profiles.c.contact_id == contact_id).values(**values)
        )


async def _write_phone(conn: AsyncConnection, contact_id: int, phone: str) -> None:
    await conn.execute(contact_extras.delete().where(contact_extras.c.contact_id == contact_id))
    if phone:
        await conn.execute(contact_extras.insert().values(contact_id=contact_id, phone=phone))


async def update_profile(
    rt: Runtime, caller: Caller, contact_id: int, body: dict[str, Any]
) -> dict[str, object]:
    """Change the fields present in `body` (a PATCH): name, first_name, last_name, phone, job_title,
    owner_id (a user of the team, null: nobody), lifecycle_stage (LIFECYCLE_STAGES, null: unset)."""
    await get_contact_row(rt, caller, contact_id)
    values: dict[str, Any] = {k: _line(body, k, limit) for k, limit in TEXT_FIELDS.items() if k in body}
    if "lifecycle_stage" in body:
        stage = body["lifecycle_stage"] or ""
        if stage and stage not in LIFECYCLE_STAGES:
            raise ServiceError(
                "invalid_field",
                f"lifecycle_stage must be one of: {', '.join(LIFECYCLE_STAGES)} (or null).",
                field="lifecycle_stage",
            )
        values["lifecycle_stage"] = stage
    name = _line(body, "name", 200) if "name" in body else None
    phone = _line(body, "phone", PHONE_MAX) if "phone" in body else None
    async with rt.engine.begin() as conn:
        if "owner_id" in body:
            values["owner_id"] = await _team_user(conn, caller, body["owner_id"])
        await _write_profile(conn, contact_id, values)
        if name is not None:
            await conn.execute(contacts.update().where(contacts.c.id == contact_id).values(name=name))
        if phone is not None:
            await _write_phone(conn, contact_id, phone)
    return await profile(rt, caller, contact_id)


async def _move_links(conn: AsyncConnection, table: Any, key: str, keep_id: int, other_id: int) -> int:
    """Rows of `table` (…, contact_id) from the duplicate to the kept contact, skipping those it has."""
    column = table.c[key]
    have = {r[0] for r in await conn.execute(select(column).where(table.c.contact_id == keep_id))}
    # Whole rows, so columns beside the key travel too (email_contacts.created_at orders the timeline).
    theirs = (await conn.execute(select(table).where(table.c.contact_id == other_id))).mappings().all()
    moving = [{**row, "contact_id": keep_id} for row in theirs if row[key] not in have]
    if moving:
        await conn.execute(table.insert(), moving)
    await conn.execute(table.delete().where(table.c.contact_id == other_id))
    return len(moving)


async def _move_enrolments(conn: AsyncConnection, keep_id: int, other_id: int) -> int:
    """The duplicate's sequence enrolments (with their history and sent steps) to the kept contact,
    instead of the contact's delete cascading them away. Where both are active in the same sequence
    the kept one goes on and the duplicate's ends as `merged` (one active enrolment per sequence and
    contact; the duplicate's steps already sent stay on its ended enrolment)."""
    running = sequence_enrolments.c.active_slot == 1
    kept_active = select(sequence_enrolments.c.sequence_id).where(
        sequence_enrolments.c.contact_id == keep_id, running
    )
    doubled = (
        (
            await conn.execute(
                select(sequence_enrolments.c.id).where(
                    sequence_enrolments.c.contact_id == other_id,
                    running,
                    sequence_enrolments.c.sequence_id.in_(kept_active),
                )
            )
        )
        .scalars()
        .all()
    )
    stamp = now()
    for enrolment_id in doubled:
        await conn.execute(
            sequence_enrolments.update()
            .where(sequence_enrolments.c.id == enrolment_id)
            .values(
                status="stopped", stop_reason="merged", active_slot=None, next_run_at=None, ended_at=stamp
            )
        )
        await conn.execute(
            sequence_history.insert().values(
                enrolment_id=enrolment_id, kind="stopped", detail={"reason": "merged"}, created_at=stamp
            )
        )
    moved = await conn.execute(
        sequence_enrolments.update()
        .where(sequence_enrolments.c.contact_id == other_id)
        .values(contact_id=keep_id)
    )
    return int(moved.rowcount)


async def merge_contacts(rt: Runtime, caller: Caller, keep_id: int, other_id: int) -> dict[str, object]:
    """Merge contact `other_id` into `keep_id` in one transaction; returns the kept contact's profile
    with `merged` counts. The kept contact's own fields win; blank ones are filled from the other."""
    if keep_id == other_id:
        raise ServiceError("invalid_field", "A contact cannot be merged into itself.", field="other_id")
    keep = await get_contact_row(rt, caller, keep_id)
    other = await get_contact_row(rt, caller, other_id)
    async with rt.engine.begin() as conn:
        emails_moved = await _move_links(conn, email_contacts, "email_id", keep_id, other_id)
        deals_moved = await _move_links(conn, deal_contacts, "deal_id", keep_id, other_id)
        enrolments_moved = await _move_enrolments(conn, keep_id, other_id)
        if keep.company_id is None and other.company_id is not None:
            await conn.execute(
                contact_companies.insert().values(contact_id=keep_id, company_id=other.company_id)
            )
        if not keep.name and other.name:
            await conn.execute(contacts.update().where(contacts.c.id == keep_id).values(name=other.name))
        if not await _phone(conn, keep_id) and (phone := await _phone(conn, other_id)):
            await _write_phone(conn, keep_id, phone)
        mine, theirs = await _profile_row(conn, keep_id), await _profile_row(conn, other_id)
        if theirs is not None:
            fill = {
                k: getattr(theirs, k)
                for k in ("first_name", "last_name", "job_title", "owner_id", "lifecycle_stage")
                if getattr(theirs, k) and not (getattr(mine, k) if mine is not None else None)
            }
            await _write_profile(conn, keep_id, fill)
        await conn.execute(
            contacts.delete().where(contacts.c.id == other_id, contacts.c.team_id == caller.team_id)
        )
    merged = await profile(rt, caller, keep_id)
    return {
        **merged,
        "merged": {
            "contact_id": other_id,
            "email": other.email,
            "emails": emails_moved,
            "deals": deals_moved,
            "enrolments": enrolments_moved,
        },
    }


async def delete_contact(rt: Runtime, caller: Caller, contact_id: int) -> None:
    """Delete a contact whose emails are all on another record too (a contact, company or deal);
    refused otherwise, so no logged email becomes unreachable (merge it, or an admin forgets it)."""
    await get_contact_row(rt, caller, contact_id)
    async with rt.engine.begin() as conn:
        mine = [
            r[0]
            for r in await conn.execute(
                select(email_contacts.c.email_id).where(email_contacts.c.contact_id == contact_id)
            )
        ]
        elsewhere: set[int] = set()
        if mine:
            for table in (email_contacts, email_companies, email_deals):
                query = select(table.c.email_id).where(table.c.email_id.in_(mine))
                if table is email_contacts:
                    query = query.where(email_contacts.c.contact_id != contact_id)
                elsewhere |= {r[0] for r in await conn.execute(query)}
        only_here = len(set(mine) - elsewhere)
        if only_here:
            raise ServiceError(
                "contact_has_emails",
                f"{only_here} {'email is' if only_here == 1 else 'emails are'} logged on this contact only. "
                "Merge the contact into another one to keep them (or an admin can forget the person).",
            )
        await conn.execute(
            contacts.delete().where(contacts.c.id == contact_id, contacts.c.team_id == caller.team_id)
        )
