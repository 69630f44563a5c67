"""Writing an email onto the timeline (thread, contacts, tracked ids, attachments) and reading emails
back as the API's email objects. Used by sending, reply logging and BCC logging alike."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.models import Address, Attachment
from inboxlink.domain.tracking import logged_scope
from inboxlink.mime.parse import TRUNCATED
from inboxlink.services.crm.contacts import contact_addresses, ensure_contacts
from inboxlink.services.crm.never_log import rules_for
from inboxlink.services.crm.record_links import email_record_ids, log_on_records
from inboxlink.services.crm.search_index import HashedTerms, email_terms, search_keys, write_terms
from inboxlink.services.errors import NotFound
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.storage.db import new_id
from inboxlink.storage.tables import attachments, contacts, email_contacts, emails, threads, tracked_ids


@dataclass
class NewEmail:
    team_id: int
    direction: str  # "outbound" | "inbound"
    status: str  # "queued" | "sent" | "failed" | "logged"
    source: str  # "crm" | "imap" | "sent_folder" | "bcc"
    message_id: str | None
    dedupe_key: str
    sender: Address
    to: Sequence[Address]
    cc: Sequence[Address]
    subject: str
    text: str
    html: str | None
    sent_at: datetime | None
    bcc: Sequence[Address] = ()
    attachments: Sequence[Attachment] = ()
    inbox_id: int | None = None
    user_id: int | None = None
    thread_id: int | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    problems: Sequence[str] = ()
    # Addresses whose contacts get the email; None → every participant except `exclude_from_contacts`.
    contact_addresses: Sequence[Address] | None = None
    # Contacts that get the email whatever its addresses say (e.g. the contacts of the parent email).
    extra_contact_ids: Sequence[int] = field(default=())
    # Whether replies to this email's Message-ID are logged (false for forwarded originals).
    track: bool = True
    # Companies and deals it is sent from (crm.record_links adds its contacts' companies and, for a
    # reply, the conversation's records).
    company_ids: Sequence[int] = ()
    deal_ids: Sequence[int] = ()
    # DKIM/SPF verdict on BCC-logged mail (None: not checked) and its reason.
    sender_verified: bool | None = None
    sender_verification: str | None = None
    # Filled by `prepare_email` (off the loop, before the transaction writes): the sealed bodies and
    # the blob name of every attachment (None: bytes not kept).
    prepared: Prepared | None = None


@dataclass(frozen=True)
class Prepared:
    text: str
    html: str | None
    blobs: tuple[str | None, ...]
    terms: HashedTerms  # its search index rows (crm.search_index)


# Mail from outside names whoever it likes: one reply with 40,000 addresses in Cc made 40,000
# contacts (issue 9). The first 50 distinct addresses of a message (sender, To, Cc, Bcc in that
# order), new or existing, get the email on their record; the others stay listed on the email's
# to/cc and a problem says how many were left out. Mail written in the CRM is exempt: compose
# allows 100 recipients, the user chose each of them, and the contract files it on every one.
MAX_CONTACTS_PER_MESSAGE = 50


def _addr_json(people: Sequence[Address]) -> list[dict[str, str]]:
    return [{"email": p.email, "name": p.name} for p in people]


async def track_ids(
    conn: AsyncConnection, team_id: int, email_id: int, ids: Sequence[str], scope: str
) -> None:
    """Track `ids` for `scope` (domain.tracking: who may have their answers logged)."""
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(tracked_ids)
        .values([{"team_id": team_id, "message_id": i, "scope": scope, "email_id": email_id} for i in ids])
        .on_conflict_do_nothing(index_elements=["team_id", "message_id", "scope"])
    )


async def team_email_row(conn: AsyncConnection, team_id: int, email_id: int) -> Any:
    """The email row if it belongs to the team; NotFound otherwise (another team's is not there)."""
    row = (
        await conn.execute(select(emails).where(emails.c.id == email_id, emails.c.team_id == team_id))
    ).first()
    if row is None:
        raise NotFound("email")
    return row


async def existing_email_id(conn: AsyncConnection, team_id: int, dedupe_key: str) -> int | None:
    found = await conn.scalar(
        select(emails.c.id).where(emails.c.team_id == team_id, emails.c.dedupe_key == dedupe_key)
    )
    return None if found is None else int(found)


async def prepare_email(rt: Runtime, new: NewEmail, conn: AsyncConnection | None = None) -> Prepared:
    """Seal the bodies and write the attachment blobs, in a thread. Call it before the transaction
    writes anything: on SQLite the first write takes the database's one write lock, and encrypting
    and writing files under it made other inboxes' monitors fail with "database is locked"."""
    if new.prepared is None:
        text, html, terms = await asyncio.to_thread(_seal_bodies, rt, new)
        blobs = [
            await rt.attachment_store.put(item.data, conn) if item.data else None for item in new.attachments
        ]
        new.prepared = Prepared(text=text, html=html, blobs=tuple(blobs), terms=terms)
    return new.prepared


def _seal_bodies(rt: Runtime, new: NewEmail) -> tuple[str, str | None, HashedTerms]:
    text, html = seal(rt, new.text), seal(rt, new.html) if new.html is not None else None
    # After sealing: encrypting picks up a rotation's new key, and the hashes use the same one.
    terms = email_terms(search_keys(rt)[0], new.team_id, new.subject, new.text, new.html)
    return text, html, terms


def _capped_contacts(new: NewEmail) -> tuple[list[Address], list[str]]:
    """The addresses that get the email on their record, and the problems to note (the cap)."""
    people = new.contact_addresses
    if people is None:
        people = [new.sender, *new.to, *new.cc, *new.bcc]
    distinct = [Address(email, name) for email, name in contact_addresses(people).items()]
    if new.source == "crm" or len(distinct) <= MAX_CONTACTS_PER_MESSAGE:
        return distinct, []
    left_out = len(distinct) - MAX_CONTACTS_PER_MESSAGE
    note = (
        f"contacts: {left_out:,} more addresses were not made contacts (at most "
        f"{MAX_CONTACTS_PER_MESSAGE} per message); they stay listed on the email"
    )
    return distinct[:MAX_CONTACTS_PER_MESSAGE], [note]


async def store_email(rt: Runtime, conn: AsyncConnection, new: NewEmail) -> int:
    """Insert the email with everything hanging off it, inside the caller's transaction. Blobs are
    written first (`prepare_email`); a rolled-back transaction leaves unreferenced blobs, never a
    row without bytes. The transaction's size is bounded: one email, at most 50 contacts
    (`MAX_CONTACTS_PER_MESSAGE`) and the attachments `mime.parse` kept (at most 100)."""
    # Not prepared before the transaction: database blobs join it (see DbBlobs.put).
    prepared = await prepare_email(rt, new, conn)
    people, notes = _capped_contacts(new)
    rules = await rules_for(conn, new.team_id, new.user_id)
    # A listed address or domain gets no contact and no email on its record (never-log lists).
    people = [p for p in people if not rules.listed(p.email)]
    stamp = now()
    thread_id = new.thread_id
    if thread_id is None:
        result = await conn.execute(
            threads.insert().values(team_id=new.team_id, subject=new.subject[:2000], created_at=stamp)
        )
        thread_id = new_id(result)
    result = await conn.execute(
        emails.insert().values(
            team_id=new.team_id,
            inbox_id=new.inbox_id,
            user_id=new.user_id,
            thread_id=thread_id,
            message_id=new.message_id,
            dedupe_key=new.dedupe_key,
            direction=new.direction,
            status=new.status,
            # Hostile mail can carry any length; PostgreSQL enforces column sizes (SQLite does not).
            from_email=new.sender.email[:320],
            from_name=new.sender.name[:200],
            to_addrs=_addr_json(new.to),
            cc_addrs=_addr_json(new.cc),
            bcc_addrs=_addr_json(new.bcc),
            subject=new.subject,
            text=prepared.text,
            html=prepared.html,
            in_reply_to=new.in_reply_to,
            references=list(new.references),
            problems=[*new.problems, *notes],
            # SQLite keeps wall-clock time and drops the offset: store every instant as UTC.
            sent_at=new.sent_at.astimezone(UTC) if new.sent_at else None,
            source=new.source,
            created_at=stamp,
            sender_verified=new.sender_verified,
            sender_verification=(new.sender_verification or "")[:300] or None,
        )
    )
    email_id = new_id(result)
    await write_terms(conn, new.team_id, email_id, prepared.terms, replace=False)
    linked = set((await ensure_contacts(conn, new.team_id, people)).values()) | set(new.extra_contact_ids)
    if linked:
        linked = await _loggable(conn, new.team_id, new.user_id, linked)
    if linked:
        await conn.execute(
            email_contacts.insert(),
            [{"email_id": email_id, "contact_id": c, "created_at": stamp} for c in sorted(linked)],
        )
    await log_on_records(
        conn,
        team_id=new.team_id,
        email_id=email_id,
        contact_ids=sorted(linked),
        joined_thread=new.thread_id,
        company_ids=new.company_ids,
        deal_ids=new.deal_ids,
        infer_deal=new.source == "bcc",
    )
    scope = logged_scope(new.source, new.user_id, new.inbox_id)
    if new.message_id and new.track and scope is not None:
        await track_ids(conn, new.team_id, email_id, [new.message_id], scope)
    if new.attachments:
        await conn.execute(
            attachments.insert(),
            [
                {
                    "team_id": new.team_id,
                    "email_id": email_id,
                    "filename": item.filename[:255],
                    "content_type": item.content_type[:255],
                    "size": item.size,
                    "blob": blob,
                    "created_at": stamp,
                }
                for item, blob in zip(new.attachments, prepared.blobs, strict=True)
            ],
        )
    return email_id


async def _loggable(conn: AsyncConnection, team_id: int, user_id: int | None, ids: set[int]) -> set[int]:
    """The contacts (e.g. a parent email's) not on a never-log list since, or forgotten."""
    rules = await rules_for(conn, team_id, user_id)
    if not rules.never.entries:
        return ids
    rows = await conn.execute(select(contacts.c.id, contacts.c.email).where(contacts.c.id.in_(sorted(ids))))
    return {r.id for r in rows if not rules.listed(r.email)}


SEALED = "fernet:"


def seal(rt: Runtime, text: str) -> str:
    """Mail bodies are encrypted at rest with the installation key (like credentials and blobs)."""
    return SEALED + rt.box.encrypt(text.encode("utf-8", "surrogatepass")).decode("ascii")


def unseal(rt: Runtime, stored: str | None) -> str | None:
    if stored is None or not stored.startswith(SEALED):
        return stored  # written before bodies were sealed
    return rt.box.decrypt(stored[len(SEALED) :].encode("ascii")).decode("utf-8", "surrogatepass")


async def email_views(
    rt: Runtime, conn: AsyncConnection, team_id: int, email_ids: Sequence[int]
) -> list[dict[str, object]]:
    """Email objects in the order of `email_ids`, loaded with three queries whatever their number."""
    if not email_ids:
        return []
    rows = (
        await conn.execute(select(emails).where(emails.c.team_id == team_id, emails.c.id.in_(email_ids)))
    ).all()
    links = (await conn.execute(select(email_contacts).where(email_contacts.c.email_id.in_(email_ids)))).all()
    files = (
        await conn.execute(
            select(attachments).where(attachments.c.email_id.in_(email_ids)).order_by(attachments.c.id)
        )
    ).all()
    companies_of, deals_of = await email_record_ids(conn, email_ids)
    contacts_of: dict[int, list[int]] = {}
    for link in links:
        contacts_of.setdefault(link.email_id, []).append(link.contact_id)
    files_of: dict[int, list[dict[str, object]]] = {}
    for f in files:
        files_of.setdefault(f.email_id, []).append(
            {
                "id": f.id,
                "filename": f.filename,
                "content_type": f.content_type,
                "size": f.size,
                "available": f.blob is not None,
            }
        )
    by_id = {
        r.id: {
            "id": r.id,
            "message_id": r.message_id,
            "thread_id": r.thread_id,
            "inbox_id": r.inbox_id,
            "user_id": r.user_id,  # whose inbox it went through: only they (or an admin) cancel it
            "direction": r.direction,
            "status": r.status,
            "error": r.error,
            "from": {"email": r.from_email, "name": r.from_name},
            "to": r.to_addrs,
            "cc": r.cc_addrs,
            "bcc": r.bcc_addrs,
            "subject": r.subject,
            "text": unseal(rt, r.text) or "",
            "html": unseal(rt, r.html),
            "sent_at": iso(r.sent_at) if r.status != "scheduled" else None,
            # A scheduled email keeps its send time in sent_at until it goes (mail.scheduled).
            "send_at": iso(r.sent_at) if r.status == "scheduled" else None,
            "created_at": iso(r.created_at),
            "attachments": files_of.get(r.id, []),
            "contact_ids": sorted(contacts_of.get(r.id, [])),
            "company_ids": companies_of.get(r.id, []),
            "deal_ids": deals_of.get(r.id, []),
            "sent_folder_copy": r.sent_folder_copy,
            "source": r.source,
            "problems": r.problems,
            # Something was cut or left out (mime.parse caps, the time budget); the original is
            # attached when it fitted under the attachment limit.
            "truncated": any(str(p).startswith(TRUNCATED) for p in r.problems or ()),
            "sender_verified": r.sender_verified,
            "sender_verification": r.sender_verification,
        }
        for r in rows
    }
    return [by_id[i] for i in email_ids if i in by_id]
