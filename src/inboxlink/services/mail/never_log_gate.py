"""The never-log decision for mail read over IMAP, taken on the header summary before anything is
fetched in full: a listed sender's message never leaves the mail server (issue 15)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from inboxlink.mime.participants import header_participants
from inboxlink.services.crm.erase import delete_emails, scrub, unlink_blobs
from inboxlink.services.crm.never_log import Rules, load_rules, rules_for
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import email_contacts, emails


def skips(rules: Rules, sender: str | None, recipients: list[str], *, outbound: bool) -> bool:
    if rules.internal([a for a in (sender, *recipients) if a]):
        return True  # mail among the team's own domains only
    if outbound:
        # The user's own follow-up (Sent folder): not logged when it goes only to listed people.
        return bool(recipients) and all(rules.listed(a) for a in recipients)
    return sender is not None and rules.listed(sender)


async def not_logged(rt: Runtime, inbox: Any, header: bytes, *, outbound: bool) -> bool:
    """Whether a matched message is left alone (never fetched, never stored)."""
    sender, recipients = header_participants(header)
    rules = await load_rules(rt, inbox.team_id, inbox.user_id)
    return skips(rules, sender, recipients, outbound=outbound)


async def drop_if_unlogged(rt: Runtime, email_id: int) -> bool:
    """A CRM send whose recipients are all on a never-log list (or all internal) went out and is now
    logged nowhere: the email row existed only to carry the send. True when it was removed."""
    async with rt.engine.begin() as conn:
        if await conn.scalar(select(exists().where(email_contacts.c.email_id == email_id))):
            return False
        row = (await conn.execute(select(emails).where(emails.c.id == email_id))).first()
        if row is None or row.source != "crm":
            return False
        rules = await rules_for(conn, row.team_id, row.user_id)
        recipients = [str(p.get("email", "")) for p in (*row.to_addrs, *row.cc_addrs, *row.bcc_addrs)]
        if not recipients or not (
            rules.internal([row.from_email, *recipients]) or all(rules.listed(a) for a in recipients)
        ):
            return False
        blobs = await delete_emails(conn, [email_id])
    await unlink_blobs(rt, blobs)
    await scrub(rt)
    return True
