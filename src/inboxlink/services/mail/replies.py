"""Logging what the monitor found: the tracked-id lookup, folder cursors, and writing a matched
message onto the timeline in the same transaction that advances the cursor past it.

Invariants (what the stored cursor promises): for (inbox, folder), every message with UID ≤ last_uid
under `uidvalidity` has been looked at, and every one of those that answered a tracked Message-ID is
logged. A crash before the commit re-does the work; the (team, dedupe key) unique constraint makes
that re-do harmless. Messages that match nothing leave no trace but the advanced cursor."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.models import Address, Attachment, ParsedMessage
from inboxlink.domain.threads import ThreadFacts, decide_thread
from inboxlink.domain.tracking import inbox_scope, scope_rank, user_scope, visible_scopes
from inboxlink.services.crm.timeline import NewEmail, email_views, existing_email_id, store_email, track_ids
from inboxlink.services.mail import sequence_stops
from inboxlink.services.platform import events, metrics
from inboxlink.services.platform.leases import fence
from inboxlink.services.platform.mail_parsing import parse_untrusted
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.tables import email_contacts, emails, folder_cursors, inboxes, tracked_ids, users

log = logging.getLogger(__name__)

LOOKUP_SLICE = 1000


@dataclass(frozen=True)
class Cursor:
    uidvalidity: int
    last_uid: int
    highestmodseq: int | None
    uidvalidity_changes: int


async def load_cursor(rt: Runtime, inbox_id: int, folder: str) -> Cursor | None:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(folder_cursors).where(
                    folder_cursors.c.inbox_id == inbox_id, folder_cursors.c.folder == folder
                )
            )
        ).first()
    if row is None:
        return None
    return Cursor(row.uidvalidity, row.last_uid, row.highestmodseq, row.uidvalidity_changes)


async def _write_cursor(conn: AsyncConnection, inbox_id: int, folder: str, cursor: Cursor) -> None:
    # Every cursor write (and the reply logged with it) is refused when the monitor's lease is stale.
    await fence(conn)
    values = {
        "uidvalidity": cursor.uidvalidity,
        "last_uid": cursor.last_uid,
        "highestmodseq": cursor.highestmodseq,
        "uidvalidity_changes": cursor.uidvalidity_changes,
        "updated_at": now(),
    }
    updated = await conn.execute(
        folder_cursors.update()
        .where(folder_cursors.c.inbox_id == inbox_id, folder_cursors.c.folder == folder)
        .values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(folder_cursors.insert().values(inbox_id=inbox_id, folder=folder, **values))


async def save_cursor(rt: Runtime, inbox_id: int, folder: str, cursor: Cursor) -> None:
    async with rt.engine.begin() as conn:
        await _write_cursor(conn, inbox_id, folder, cursor)
        await conn.execute(inboxes.update().where(inboxes.c.id == inbox_id).values(last_sync_at=now()))


async def lookup_tracked(
    conn: AsyncConnection, team_id: int, ids: Sequence[str], scopes: Sequence[str]
) -> dict[str, int]:
    """email id by tracked Message-ID, counting only rows of `scopes` (domain.tracking): indexed
    queries on the primary key (team_id, message_id, scope), in slices that stay far below every
    database's bound-parameter limit. An id tracked in several scopes maps to the most trusted."""
    ranked = await lookup_tracked_ranked(conn, team_id, ids, scopes)
    return {message_id: email_id for message_id, (_rank, email_id) in ranked.items()}


async def lookup_tracked_ranked(
    conn: AsyncConnection, team_id: int, ids: Sequence[str], scopes: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """(scope rank, email id) by tracked Message-ID: `lookup_tracked` with the winning rank."""
    unique = list(dict.fromkeys(ids))
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(unique), LOOKUP_SLICE):
        rows = await conn.execute(
            select(tracked_ids.c.message_id, tracked_ids.c.scope, tracked_ids.c.email_id).where(
                tracked_ids.c.team_id == team_id,
                tracked_ids.c.message_id.in_(unique[start : start + LOOKUP_SLICE]),
                tracked_ids.c.scope.in_(scopes),
            )
        )
        for r in rows:
            rank = scope_rank(r.scope)
            if r.message_id not in found or rank < found[r.message_id][0]:
                found[r.message_id] = (rank, r.email_id)
    return found


async def tracked_lookup(rt: Runtime, inbox: Any, ids: Sequence[str]) -> dict[str, int]:
    """What a monitor of `inbox` may match: the team's ids, its user's and its own."""
    async with rt.engine.connect() as conn:
        return await lookup_tracked(conn, inbox.team_id, ids, visible_scopes(inbox.id, inbox.user_id))


async def tracked_lookup_scoped(
    rt: Runtime, inbox: Any, ids: Sequence[str]
) -> tuple[dict[str, int], set[str]]:
    """`tracked_lookup`, plus the ids that count here only because this inbox learned them from
    inbound mail (its own scope is the best mapping): a sender chose those."""
    async with rt.engine.connect() as conn:
        ranked = await lookup_tracked_ranked(
            conn, inbox.team_id, ids, visible_scopes(inbox.id, inbox.user_id)
        )
    learned = scope_rank(inbox_scope(inbox.id))
    return {i: e for i, (_r, e) in ranked.items()}, {i for i, (r, _e) in ranked.items() if r == learned}


async def untrack_learned(rt: Runtime, inbox: Any, message_id: str) -> None:
    """Forget an id this inbox learned from inbound mail (another message in the mailbox has it)."""
    async with rt.engine.begin() as conn:
        await fence(conn)
        await conn.execute(
            tracked_ids.delete().where(
                tracked_ids.c.team_id == inbox.team_id,
                tracked_ids.c.message_id == message_id,
                tracked_ids.c.scope == inbox_scope(inbox.id),
            )
        )


async def track_alias(rt: Runtime, inbox: Any, email_id: int, message_id: str | None) -> None:
    """Another Message-ID under which one of our emails travels (a relay replaced ours), learned from
    a Sent-folder copy whose X-Inboxlink-Id carries our MAC. The MAC proves the signed id, not the
    Message-ID beside it: the mailbox's owner can file any copy in their own Sent. So the alias is
    learned only for an email sent through this very inbox, and counts for its user alone (a
    teammate's private Message-ID must not become tracked for the team through one's own Sent)."""
    if not message_id:
        return
    async with rt.engine.begin() as conn:
        await fence(conn)
        sent_from = await conn.scalar(select(emails.c.inbox_id).where(emails.c.id == email_id))
        if sent_from != inbox.id:
            return
        await track_ids(conn, inbox.team_id, email_id, [message_id], user_scope(inbox.user_id))


async def own_addresses(conn: AsyncConnection, team_id: int) -> set[str]:
    """Addresses of the team's users and inboxes: they are us, never contacts."""
    rows = await conn.execute(select(inboxes.c.email).where(inboxes.c.team_id == team_id))
    own = {r.email.lower() for r in rows}
    rows = await conn.execute(select(users.c.email).where(users.c.team_id == team_id))
    return own | {r.email.lower() for r in rows}


async def parent_facts(conn: AsyncConnection, email_id: int) -> tuple[ThreadFacts, list[int]]:
    parent = (await conn.execute(select(emails.c.thread_id).where(emails.c.id == email_id))).one()
    rows = (
        await conn.execute(
            select(emails.c.from_email, emails.c.to_addrs, emails.c.cc_addrs).where(
                emails.c.thread_id == parent.thread_id
            )
        )
    ).all()
    people: set[str] = set()
    for r in rows:
        people.add(r.from_email.lower())
        people.update(p["email"].lower() for p in (*r.to_addrs, *r.cc_addrs))
    contact_rows = await conn.execute(
        select(email_contacts.c.contact_id).where(email_contacts.c.email_id == email_id)
    )
    return ThreadFacts(str(parent.thread_id), frozenset(people)), [r.contact_id for r in contact_rows]


def _dedupe_key(parsed: ParsedMessage) -> str:
    """The Message-ID; without one, a digest of what the message says. Not its UID: UIDs change
    with UIDVALIDITY, and the rescan that follows must recognise what was already logged."""
    if parsed.message_id:
        return parsed.message_id
    sender = parsed.sender.email.lower() if parsed.sender else ""
    stamp = parsed.date.isoformat() if parsed.date else ""
    digest = hashlib.sha256(
        "\0".join((sender, stamp, parsed.subject, parsed.text)).encode("utf-8", "surrogatepass")
    )
    return "digest:" + digest.hexdigest()


async def log_matched_message(
    rt: Runtime,
    inbox: Any,
    folder: str,
    cursor: Cursor,
    uid: int,
    raw: bytes,
    matched_email_id: int,
    *,
    outbound: bool,
    not_learned: str | None = None,
) -> int | None:
    """Log one matched message and advance the cursor to `uid`, in one transaction. Returns the
    email's id: the new one, or the one already logged (seen twice, our own copy in Sent, or logged
    by another inbox of the team) — either way its Message-ID is tracked from now on, unless
    `not_learned` gives the reason it must not be (noted on the email when it is new)."""
    parsed = await parse_untrusted(rt, raw)  # in a worker process, within the time budget
    key = _dedupe_key(parsed)
    advanced = Cursor(
        cursor.uidvalidity, max(cursor.last_uid, uid), cursor.highestmodseq, cursor.uidvalidity_changes
    )
    try:
        async with rt.engine.begin() as conn:
            existing = await existing_email_id(conn, inbox.team_id, key)
            if existing is not None:
                if parsed.message_id and not_learned is None:
                    # Logged from another inbox (a reply to several of us): this inbox received it too.
                    scope = user_scope(inbox.user_id) if outbound else inbox_scope(inbox.id)
                    await track_ids(conn, inbox.team_id, existing, [parsed.message_id], scope)
                await _write_cursor(conn, inbox.id, folder, advanced)
                return existing
            new = await _new_email(
                conn,
                inbox,
                parsed,
                key,
                raw,
                matched_email_id,
                outbound=outbound,
                max_bytes=rt.settings.max_attachment_bytes,
            )
            if not_learned is not None:
                new.track, new.problems = False, [*new.problems, not_learned]
            email_id = await store_email(rt, conn, new)
            (view,) = await email_views(rt, conn, inbox.team_id, [email_id])
            await events.record(rt, conn, inbox.team_id, "email.logged", view)
            if not outbound and parsed.sender is not None:
                # A reply (or an out-of-office) from a contact in a sequence: stopped in this transaction.
                await sequence_stops.on_inbound(
                    conn, inbox.team_id, email_id, parsed.sender.email,
                    sequence_stops.auto_reply_of(raw, parsed.subject),
                    frozenset(await own_addresses(conn, inbox.team_id)),
                )  # fmt: skip
            await _write_cursor(conn, inbox.id, folder, advanced)
            await conn.execute(inboxes.update().where(inboxes.c.id == inbox.id).values(last_sync_at=now()))
    except IntegrityError:
        # Another worker logged the same message a moment ago (same team, same dedupe key). Any other
        # integrity error must not move the cursor past an unlogged message: re-raise it.
        async with rt.engine.connect() as conn:
            existing = await existing_email_id(conn, inbox.team_id, key)
        if existing is None:
            raise
        log.info("inbox %s uid %s: already logged by someone else", inbox.id, uid)
        await save_cursor(rt, inbox.id, folder, advanced)
        return existing
    metrics.REPLIES_LOGGED.labels("outbound" if outbound else "inbound").inc()
    rt.timeline.publish(inbox.team_id, {"type": "email", "email_id": email_id, "thread_id": new.thread_id})
    return email_id


def keep_original(parsed: ParsedMessage, raw: bytes, max_bytes: int) -> bool:
    """Keep what could not be decoded visible: the original bytes ride along as an attachment. Not
    when the only trouble was an attachment over the size limit (that would keep it after all), and
    never beyond the limit itself."""
    undecoded = [p for p in parsed.problems if "content dropped" not in p]
    return bool(undecoded) and len(raw) <= max_bytes


async def _new_email(
    conn: AsyncConnection,
    inbox: Any,
    parsed: ParsedMessage,
    key: str,
    raw: bytes,
    parent_id: int,
    *,
    outbound: bool,
    max_bytes: int,
) -> NewEmail:
    own = await own_addresses(conn, inbox.team_id)
    facts, parent_contacts = await parent_facts(conn, parent_id)
    sender = parsed.sender or Address("", "")
    participants = [p for p in (sender, *parsed.to, *parsed.cc) if p.email]
    recipients = frozenset(p.email.lower() for p in (*parsed.to, *parsed.cc))
    decision = decide_thread(
        facts,
        recipients if outbound else frozenset(p.email.lower() for p in participants),
        "outbound" if outbound else "inbound",
        sender=sender.email or None,
    )
    files = list(parsed.attachments)
    if keep_original(parsed, raw, max_bytes):
        files.append(Attachment("original-message.eml", "message/rfc822", raw))
    people = [p for p in participants if p.email.lower() not in own]
    new = NewEmail(
        team_id=inbox.team_id,
        direction="outbound" if outbound else "inbound",
        status="logged",
        source="sent_folder" if outbound else "imap",
        message_id=parsed.message_id,
        dedupe_key=key,
        sender=sender,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        text=parsed.text,
        html=parsed.html,
        sent_at=parsed.date or now(),
        attachments=files,
        inbox_id=inbox.id,
        user_id=inbox.user_id,
        thread_id=int(decision.thread_id) if decision.join and decision.thread_id else None,
        in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
        references=parsed.references,
        problems=parsed.problems,
        contact_addresses=people,
    )
    if decision.join:
        new.extra_contact_ids = parent_contacts
    return new
