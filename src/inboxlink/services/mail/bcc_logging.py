"""Logging mail the user sent from their own mail client with their BCC logging address in Bcc, and
emails they forwarded to that address.

* Bcc'd mail → one OUTBOUND email on every To/Cc recipient's contact (never on the team's own
  addresses), threaded like mail found in the Sent folder (`domain.threads.decide_thread`). Its
  Message-ID becomes tracked for that user's inboxes (not the team's: whoever sent it to the logging
  address chose it), so the inbox monitor logs the answers by itself.
* A forward addressed to the logging address (visibly in To/Cc, or with nobody else to log on) →
  the ORIGINAL email, on its sender's contact, as inbound: taken from an attached message/rfc822
  part, else from an inline forward block (`mime.forwarded`).

Only mail *from* the user is logged: the From address (the envelope sender when there is none) must
be the user's login address or one of their inboxes. The token is what authenticates; the From check
keeps a leaked address or a mailbox-wide forwarding rule from filing other people's mail. It reads
the header block alone, before the body is parsed, and refuses two From fields or a From with two
addresses. DKIM/SPF (`sender_auth`) then say whether the From domain's mail system really sent it:
the verdict is stored on each email (`sender_verified`), never a reason to lose the message.

Exactly-once: the dedupe key (Message-ID, else a hash) is unique per team and the same the monitor
uses, so mail seen both in Sent and via Bcc, or re-delivered by an MTA, is stored once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.matching import candidate_ids, find_match
from inboxlink.domain.models import Address, Attachment, HeaderSummary, ParsedMessage
from inboxlink.domain.sender_auth import INLINE_FORWARD, NOT_CHECKED, Verdict, from_refusal
from inboxlink.domain.threads import Direction, decide_thread
from inboxlink.domain.tracking import TEAM, inbox_scope, user_scope
from inboxlink.mime.authors import HeaderBlockTooLarge, from_fields
from inboxlink.mime.forwarded import parse_forwarded
from inboxlink.services.crm.never_log import Rules, load_rules
from inboxlink.services.crm.timeline import (
    NewEmail,
    email_views,
    existing_email_id,
    prepare_email,
    store_email,
)

# The monitor's own helpers: "who is us" and "what do we know about the parent's thread" must give the
# same answers for mail found in Sent and mail received by Bcc.
from inboxlink.services.mail.replies import keep_original, lookup_tracked, own_addresses, parent_facts
from inboxlink.services.mail.sender_auth import (
    CHECK_SECONDS,
    Scope,
    SmtpOrigin,
    verify_original,
    verify_sender,
)
from inboxlink.services.platform import events
from inboxlink.services.platform.mail_parsing import parse_untrusted
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.tables import inboxes, users

__all__ = ["BccRejected", "BccResult", "BccUser", "bcc_user", "log_bcc_message"]

log = logging.getLogger(__name__)

_RFC822 = ("message/rfc822", "message/global")
_MAX_ATTACHED_ORIGINALS = 20
_Ours = Callable[[str], bool]  # "is this address one of the team's own (or a logging address)?"
# Trace fields MTAs prepend on each hop; without a Message-ID they would make one message hash as two.
_TRACE = re.compile(
    rb"\A(?:(?:received|return-path|delivered-to|x-original-to):[^\n]*\n(?:[ \t][^\n]*\n)*)+", re.IGNORECASE
)


_UNCHECKED = SmtpOrigin("", "", "", Scope(sender=False, originals=False))


class BccRejected(Exception):
    """Mail that must be refused. `code`: "unknown_address" | "foreign_sender" | "bad_from"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BccUser:
    user_id: int
    team_id: int
    email: str
    inboxes: dict[str, int]  # lower-cased address → inbox id (removed inboxes excluded)

    def owns(self, address: str) -> bool:
        address = address.strip().lower()
        return bool(address) and (address == self.email.lower() or address in self.inboxes)


@dataclass(frozen=True)
class BccResult:
    email_ids: tuple[int, ...] = ()  # what the message was logged as (now or on an earlier delivery)
    written: int = 0  # how many of them this call stored
    forwarded: bool = False  # an original forwarded email was among them
    note: str = ""  # why nothing was logged, when nothing was


@dataclass
class _Item:
    new: NewEmail
    parent_ids: HeaderSummary  # where to look for a tracked parent
    audience: frozenset[str]  # addresses decide_thread weighs
    forwarded: bool = False


async def bcc_user(rt: Runtime, token: str) -> BccUser | None:
    """The user whose logging address has this local part (case-insensitive), or None."""
    token = token.strip().lower()
    if not token:
        return None
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.bcc_token == token))).first()
        if row is None:
            return None
        boxes = await conn.execute(
            select(inboxes.c.id, inboxes.c.email).where(
                inboxes.c.user_id == row.id, inboxes.c.deleted_at.is_(None)
            )
        )
        owned = {b.email.lower(): b.id for b in boxes}
    return BccUser(row.id, row.team_id, row.email, owned)


def _raw_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(_TRACE.sub(b"", raw.replace(b"\r\n", b"\n"))).hexdigest()


def _author(user: BccUser, raw: bytes, envelope_from: str) -> str:
    """The From address, from the header block only (the body is not read yet); BccRejected unless it
    is exactly one address of the user's."""
    try:
        fields = from_fields(raw)
    except HeaderBlockTooLarge as exc:
        raise BccRejected("bad_from", f"Refused: {exc}") from exc
    problem = from_refusal(fields)
    if problem:
        raise BccRejected("bad_from", problem)
    from_address = fields[0][0] if fields else envelope_from.strip(" <>")
    _check_owner(user, from_address)
    return from_address


def _check_owner(user: BccUser, from_address: str) -> None:
    if not user.owns(from_address):
        raise BccRejected(
            "foreign_sender",
            f"From <{from_address}> is not one of your connected addresses; "
            "inboxlink does not log mail on someone else's behalf",
        )


async def log_bcc_message(
    rt: Runtime, bcc_token: str, raw: bytes, envelope_from: str, *, origin: SmtpOrigin = _UNCHECKED
) -> BccResult:
    """Log one message received on `bcc_token`'s address. Raises `BccRejected` for mail to refuse."""
    user = await bcc_user(rt, bcc_token)
    if user is None:
        raise BccRejected("unknown_address", "No such BCC logging address")
    from_address = _author(user, raw, envelope_from)
    parsed = await parse_untrusted(rt, raw)  # in a worker process, within the time budget
    if parsed.sender is not None:
        _check_owner(user, parsed.sender.email)  # the full parse must read the From checked above
    parsed = replace(parsed, sender=parsed.sender or Address(from_address))
    verdict = await verify_sender(rt, raw, from_address, origin)
    async with rt.engine.connect() as conn:
        own = await own_addresses(conn, user.team_id)
    logging_domain = "@" + rt.settings.bcc_domain.lower()
    visible = {p.email.lower() for p in (*parsed.to, *parsed.cc)}

    def ours(address: str) -> bool:
        return address.lower() in own or address.lower().endswith(logging_domain)

    items: list[_Item] = []
    recipients = [p for p in (*parsed.to, *parsed.cc) if not ours(p.email)]
    if recipients:
        audience = frozenset(a for a in visible if not a.endswith(logging_domain))
        files = parsed.attachments
        if keep_original(parsed, raw, rt.settings.max_attachment_bytes):
            files = (*files, Attachment("original-message.eml", "message/rfc822", raw))
        key = parsed.message_id or _raw_key(raw)
        inbox_id = user.inboxes.get(from_address.lower())
        items.append(_item(user, parsed, key, inbox_id, "outbound", recipients, audience, files, verdict))
    if not recipients or any(a.endswith(logging_domain) for a in visible):
        items.extend(await _forwarded_originals(rt, user, parsed, ours, origin))
    if not items:
        return BccResult(note="nothing to log: no recipient outside your own addresses, no forwarded email")
    return await _write(rt, user, items)


def _item(
    user: BccUser,
    parsed: ParsedMessage,
    key: str,
    inbox_id: int | None,
    direction: Direction,
    contacts: list[Address],
    audience: frozenset[str],
    attachments: tuple[Attachment, ...] | None = None,
    verdict: Verdict = NOT_CHECKED,
) -> _Item:
    assert parsed.sender is not None
    new = NewEmail(
        team_id=user.team_id,
        direction=direction,
        status="logged",
        source="bcc",
        message_id=parsed.message_id,
        dedupe_key=key,
        sender=parsed.sender,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        text=parsed.text,
        html=parsed.html,
        # In UTC: SQLite keeps the wall time and drops the offset.
        sent_at=parsed.date.astimezone(UTC) if parsed.date else now(),
        attachments=parsed.attachments if attachments is None else attachments,
        inbox_id=inbox_id,
        user_id=user.user_id,
        in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
        references=parsed.references,
        problems=parsed.problems,
        contact_addresses=contacts,
        sender_verified=verdict.verified,
        sender_verification=verdict.reason,
        # Mail whose sender could not be proved is kept on the record, but its Message-ID (chosen by
        # whoever sent it) does not make answers to it be fetched from the user's mailbox.
        track=verdict.verified is not False,
    )
    parents = HeaderSummary(parsed.message_id, parsed.in_reply_to, parsed.references)
    return _Item(new, parents, audience)


async def _forwarded_originals(
    rt: Runtime, user: BccUser, outer: ParsedMessage, ours: _Ours, origin: SmtpOrigin
) -> list[_Item]:
    """The originals inside a forward: every attached message, else the first inline forward block.
    Each is marked by its own DKIM signature: the forward's hop says nothing about what it carries."""
    inbox_id = user.inboxes.get((outer.sender.email if outer.sender else "").lower())
    items: list[_Item] = []
    attached = [a for a in outer.attachments if a.content_type in _RFC822 and a.data]
    deadline = time.monotonic() + CHECK_SECONDS  # for all of them together
    for part in attached[:_MAX_ATTACHED_ORIGINALS]:
        inner = await parse_untrusted(rt, part.data)
        if inner.sender is None:
            continue
        key = inner.message_id or _raw_key(part.data)
        left = deadline - time.monotonic()
        verdict = await verify_original(rt, part.data, inner.sender.email, origin, left)
        items.append(_original(user, inner, key, inbox_id, ours, verdict))
    if items:
        return items
    found = parse_forwarded(outer.text)
    if found is None:
        return []
    date = found.date
    if date is not None and date.tzinfo is None:
        # The block was printed in the forwarder's local time; the forward's own Date header carries
        # that zone's offset (at forwarding time, close enough for a timeline).
        date = date.replace(tzinfo=outer.date.tzinfo if outer.date and outer.date.tzinfo else UTC)
    inner = replace(
        outer,
        message_id=None,
        sender=found.sender,
        to=found.to,
        cc=found.cc,
        subject=found.subject,
        date=date or outer.date,  # no readable date: the forward's is the closest we know
        text=found.text,
        html=None,  # the forward's HTML is the forwarder's rendering, note and all
        in_reply_to=(),
        references=(),
    )
    digest = "\0".join((found.sender.email.lower(), found.subject, found.date_text, found.text.strip()))
    key = "fwd:" + hashlib.sha256(digest.encode("utf-8", "surrogatepass")).hexdigest()
    inline = INLINE_FORWARD if origin.scope.originals else NOT_CHECKED
    return [_original(user, inner, key, inbox_id, ours, inline)]


def _original(
    user: BccUser, inner: ParsedMessage, key: str, inbox_id: int | None, ours: _Ours, verdict: Verdict
) -> _Item:
    assert inner.sender is not None
    people = frozenset(p.email.lower() for p in (*inner.to, *inner.cc))
    if ours(inner.sender.email):
        # A forward of the user's (or a teammate's) own mail is their outbound mail to its recipients.
        contacts = [p for p in (*inner.to, *inner.cc) if not ours(p.email)]
        item = _item(user, inner, key, inbox_id, "outbound", contacts, people, verdict=verdict)
    else:
        people |= {inner.sender.email.lower()}
        item = _item(user, inner, key, inbox_id, "inbound", [inner.sender], people, verdict=verdict)
    item.forwarded = True
    # Not tracked: a forwarded original's Message-ID is whatever the forwarder put there, and
    # tracking it team-wide would let one user make another user's private replies get logged.
    item.new.track = False
    return item


async def _place_in_thread(conn: AsyncConnection, user: BccUser, item: _Item) -> None:
    """Join the thread of a tracked email the message answers, per `decide_thread`; else a new one."""
    new = item.new
    wanted = candidate_ids(item.parent_ids)
    if not wanted:
        return
    # The user's own mail may answer what the team sent and what any of their own inboxes learned.
    scopes = (TEAM, user_scope(user.user_id), *(inbox_scope(i) for i in user.inboxes.values()))
    known = await lookup_tracked(conn, new.team_id, wanted, scopes)
    parent = find_match(item.parent_ids, lambda ids: {i: known[i] for i in ids if i in known})
    if parent is None:
        return
    facts, parent_contacts = await parent_facts(conn, parent)
    direction: Direction = "inbound" if new.direction == "inbound" else "outbound"
    decision = decide_thread(facts, item.audience, direction, sender=new.sender.email or None)
    if decision.join and decision.thread_id:
        new.thread_id = int(decision.thread_id)
        new.extra_contact_ids = parent_contacts


def _loggable(rules: Rules, new: NewEmail, suffix: str) -> bool:
    """Someone on it may be logged (never-log lists), and it is not mail among the team's own domains."""
    everyone = [p.email for p in (new.sender, *new.to, *new.cc) if not p.email.lower().endswith(suffix)]
    if rules.internal(everyone):
        return False
    return any(not rules.listed(p.email) for p in (new.contact_addresses or ()))


async def _write(rt: Runtime, user: BccUser, items: list[_Item]) -> BccResult:
    """Everything of one message in one transaction: the MTA gets 250 only once all of it is stored."""
    # The logging address is a credential: it never shows among the recipients on a record.
    suffix = "@" + rt.settings.bcc_domain.lower()
    rules = await load_rules(rt, user.team_id, user.user_id)
    items = [item for item in items if _loggable(rules, item.new, suffix)]
    if not items:
        return BccResult(note="not logged: its people are on a never-log list, or it is internal mail")
    for item in items:
        item.new.to = [p for p in item.new.to if not p.email.lower().endswith(suffix)]
        item.new.cc = [p for p in item.new.cc if not p.email.lower().endswith(suffix)]
    for item in items:  # sealing and blob files before the transaction takes the write lock
        await prepare_email(rt, item.new)
    for attempt in range(2):
        ids: list[int] = []
        written: list[int] = []  # indexes into `items`
        try:
            async with rt.engine.begin() as conn:
                for index, item in enumerate(items):
                    existing = await existing_email_id(conn, user.team_id, item.new.dedupe_key)
                    if existing is not None:
                        ids.append(existing)
                        continue
                    await _place_in_thread(conn, user, item)
                    ids.append(await store_email(rt, conn, item.new))
                    written.append(index)
                    (view,) = await email_views(rt, conn, user.team_id, [ids[-1]])
                    await events.record(rt, conn, user.team_id, "email.logged", view)
            break
        except IntegrityError:
            # The same message arrived twice at once (or the monitor logged it from Sent meanwhile):
            # the retry sees the other copy and stores nothing twice.
            if attempt:
                raise
            log.info("BCC message for user %s raced another copy; retrying", user.user_id)
    for index in written:
        event = {"type": "email", "email_id": ids[index], "thread_id": items[index].new.thread_id}
        rt.timeline.publish(user.team_id, event)
    return BccResult(
        email_ids=tuple(dict.fromkeys(ids)),
        written=len(written),
        forwarded=any(item.forwarded for item in items),
    )
