"""What stops an enrolment (the rules: domain.sequence_stops), applied in the same transaction as
the change that causes it — a reply logged (services.mail.replies), a bounce recorded
(services.mail.bounces), a send failed for good (services.mail.delivery) — so no step can be
queued after the reply is committed: the step's own transaction checks the enrolment is still
active (services.mail.sequence_runs)."""

from __future__ import annotations

from email.parser import HeaderParser

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.auto_replies import auto_reply_reason
from inboxlink.domain.companies import is_free_mail
from inboxlink.domain.sequence_stops import Happening, SequenceRules, decide_stop
from inboxlink.services.mail.sequence_enrolments import end_enrolment, note
from inboxlink.services.platform.runtime import Runtime
from inboxlink.services.validation import like_escape
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_sends, sequences
from inboxlink.storage.tables import contacts

__all__ = ["auto_reply_of", "on_bounce", "on_inbound", "on_send_failed"]

HEADER_LIMIT = 64 * 1024


def auto_reply_of(raw: bytes, subject: str) -> str | None:
    """Why this message is an automatic reply (domain.auto_replies), read from its header block."""
    block = raw[:HEADER_LIMIT]
    end = min((i for i in (block.find(b"\r\n\r\n"), block.find(b"\n\n")) if i >= 0), default=len(block))
    parsed = HeaderParser().parsestr(block[:end].decode("latin-1"))
    headers = {k.lower(): str(v) for k, v in parsed.items()}
    return auto_reply_reason(headers, subject)


async def _stop_for_email(conn: AsyncConnection, email_id: int, happening: Happening) -> None:
    sent = (
        await conn.execute(select(sequence_sends.c.enrolment_id).where(sequence_sends.c.email_id == email_id))
    ).first()
    if sent is None:
        return
    outcome = decide_stop(SequenceRules(), happening, contact_email="")
    await end_enrolment(conn, sent.enrolment_id, "stopped", outcome.reason, email_id=email_id)


async def on_bounce(rt: Runtime, conn: AsyncConnection, team_id: int, email_id: int) -> None:
    await _stop_for_email(conn, email_id, Happening.BOUNCE)


async def on_send_failed(rt: Runtime, conn: AsyncConnection, team_id: int, email_id: int) -> None:
    await _stop_for_email(conn, email_id, Happening.SEND_FAILED)


async def on_inbound(
    conn: AsyncConnection,
    team_id: int,
    email_id: int,
    sender: str,
    auto_reply: str | None,
    own_addresses: frozenset[str],
) -> None:
    """A message from `sender` was logged: stop (or note on) the enrolments it concerns."""
    who = sender.lower()
    if "@" not in who:
        return
    domain = who.rpartition("@")[2]
    rows = (
        await conn.execute(
            select(
                sequence_enrolments.c.id,
                contacts.c.email,
                sequences.c.stop_on_company_reply,
                sequences.c.stop_on_auto_reply,
            )
            .join(contacts, contacts.c.id == sequence_enrolments.c.contact_id)
            .join(sequences, sequences.c.id == sequence_enrolments.c.sequence_id)
            .where(
                sequence_enrolments.c.team_id == team_id,
                sequence_enrolments.c.status == "active",
                or_(
                    func.lower(contacts.c.email) == who,
                    func.lower(contacts.c.email).like(f"%@{like_escape(domain)}", escape="\\"),
                ),
            )
        )
    ).all()
    for row in rows:
        rules = SequenceRules(row.stop_on_company_reply, row.stop_on_auto_reply)
        outcome = decide_stop(
            rules,
            Happening.INBOUND,
            contact_email=row.email,
            sender=who,
            auto_reply=auto_reply is not None,
            free_mail=is_free_mail(domain),
            own_addresses=own_addresses,
        )
        if outcome.stop:
            await end_enrolment(conn, row.id, "stopped", outcome.reason, email_id=email_id, sender=who)
        elif outcome.note:
            await note(conn, row.id, "auto_reply", email_id=email_id, sender=who, why=auto_reply)
