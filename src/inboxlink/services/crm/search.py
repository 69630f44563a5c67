"""The global search box: contacts, companies and deals by name, address or domain; emails by the
words of their subject and body, through the blind index (crm.search_index). A handful of each,
newest first, for answers while typing: every word must match, the last one as a prefix."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.quoted import snippet
from inboxlink.domain.search_terms import QueryWord, has_prefix, query_words, words
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.companies import list_companies
from inboxlink.services.crm.contacts import list_contacts
from inboxlink.services.crm.deals import list_deals
from inboxlink.services.crm.search_index import lookup_hashes, searchable_text
from inboxlink.services.crm.timeline import unseal
from inboxlink.services.platform.runtime import Runtime, iso
from inboxlink.services.validation import has_surrogates
from inboxlink.storage.search_tables import email_search_terms
from inboxlink.storage.tables import email_contacts, emails

PER_KIND = 6
MAX_QUERY = 200
COUNT_CAP = 2000  # postings counted per word to find the rarest (counting all of "the" would cost)
CHECKED = 10  # candidates per shown email when a long last word is checked against the text
SNIPPET = 160
MAX_BODY = 100_000  # characters of a candidate's body checked and cut for its snippet
_TOKENS = re.compile(r"\S+")


def _empty() -> dict[str, list[dict[str, object]]]:
    return {"contacts": [], "companies": [], "deals": [], "emails": []}


async def search(
    rt: Runtime, caller: Caller, query: str, per_kind: int = PER_KIND
) -> dict[str, list[dict[str, object]]]:
    q = query.strip()[:MAX_QUERY]
    if len(q) < 2 or has_surrogates(q):
        return _empty()
    people, _ = await list_contacts(rt, caller, query=q, limit=per_kind)
    firms, _ = await list_companies(rt, caller, query=q, limit=per_kind)
    its_deals, _ = await list_deals(rt, caller, query=q, limit=per_kind)
    found = await search_emails(rt, caller.team_id, q, per_kind)
    return {"contacts": people, "companies": firms, "deals": its_deals, "emails": found}


async def _rarest_first(
    conn: AsyncConnection, team_id: int, lookups: Sequence[list[bytes]]
) -> list[list[bytes]] | None:
    """Each word's stored forms, ordered by how many emails have them (counted up to COUNT_CAP);
    None when a word has none (nothing can match)."""
    counted = []
    for hashes in lookups:
        capped = (
            select(email_search_terms.c.email_id)
            .where(email_search_terms.c.team_id == team_id, email_search_terms.c.term.in_(hashes))
            .limit(COUNT_CAP)
            .subquery()
        )
        count = int(await conn.scalar(select(func.count()).select_from(capped)) or 0)
        if count == 0:
            return None
        counted.append((count, hashes))
    return [hashes for _, hashes in sorted(counted, key=lambda c: c[0])]


async def _matching(
    conn: AsyncConnection, team_id: int, lookups: Sequence[list[bytes]], limit: int
) -> list[int]:
    """The newest `limit` emails having every word: the rarest word's postings walked newest first
    (the primary key's order), each checked for the other words by primary-key lookups."""
    ordered = await _rarest_first(conn, team_id, lookups)
    if ordered is None:
        return []
    first = email_search_terms.alias("t0")
    query = select(first.c.email_id).where(first.c.team_id == team_id, first.c.term.in_(ordered[0]))
    for index, hashes in enumerate(ordered[1:], start=1):
        other = email_search_terms.alias(f"t{index}")
        query = query.where(
            exists().where(
                and_(
                    other.c.team_id == team_id, other.c.term.in_(hashes), other.c.email_id == first.c.email_id
                )
            )
        )
    rows = await conn.execute(query.order_by(first.c.email_id.desc()).limit(limit))
    return list(dict.fromkeys(r.email_id for r in rows))


def _body(rt: Runtime, text: Any, html: Any) -> str:
    """The start of the body as text: enough for the check and the snippet (the index itself keeps
    only an email's first MAX_TERMS terms), never the whole of a 2 MB hostile HTML."""
    plain = unseal(rt, text)
    markup = unseal(rt, html)
    return searchable_text(
        plain[:MAX_BODY] if plain else plain, markup[: MAX_BODY * 4] if markup else markup
    )[:MAX_BODY]


def _starts_a_word(subject: str, body: str, prefix: str) -> bool:
    """The check of a broad hit: a word of the subject or body starts with what was typed."""
    return has_prefix(set(words(subject)) | set(words(body)), prefix)


def _examine(
    rt: Runtime, subject: str, text: Any, html: Any, exact: bool, lookups: Sequence[QueryWord]
) -> str | None:
    """CPU work, off the event loop: decrypt one candidate, check a broad hit, cut its snippet;
    None when it does not match after all."""
    body = _body(rt, text, html)
    if not exact and not _starts_a_word(subject, body, lookups[-1].word):
        return None
    return hit_snippet(body, lookups)


def hit_snippet(body: str, lookups: Sequence[QueryWord]) -> str:
    """About SNIPPET characters of the body around the first word that matched; the body's own
    first words when only the subject matched."""
    wanted = [q.word for q in lookups]
    for token in _TOKENS.finditer(body):
        if any(w.startswith(p) for w in words(token.group()) for p in wanted):
            start = max(0, token.start() - SNIPPET // 3)
            if start:
                # Start at a word boundary, not inside a word.
                space = body.find(" ", start, token.start())
                start = space + 1 if space != -1 else start
            window = " ".join(body[start : start + SNIPPET * 2].split())
            cut = window if len(window) <= SNIPPET else window[: SNIPPET - 1].rstrip() + "…"
            return ("…" if start else "") + cut
    return snippet(body, SNIPPET)


async def search_emails(
    rt: Runtime, team_id: int, query: str, limit: int = PER_KIND
) -> list[dict[str, object]]:
    """The newest `limit` emails of the team whose subject and body hold every word of `query`."""
    if has_surrogates(query):
        return []
    lookups = query_words(query[:MAX_QUERY])
    if not lookups:
        return []
    exact = [lookup_hashes(rt, team_id, q.term) for q in lookups]
    last = lookups[-1]
    async with rt.engine.connect() as conn:
        ids = await _matching(conn, team_id, exact, limit)
        broad: list[int] = []
        if len(ids) < limit and last.broad is not None:
            # The last word may be unfinished: emails with a word starting with it, found by its
            # first letters and checked (decrypted) one by one, newest first.
            widened = [*exact[:-1], lookup_hashes(rt, team_id, last.broad)]
            broad = [i for i in await _matching(conn, team_id, widened, limit * CHECKED) if i not in ids]
        if not ids and not broad:
            return []
        rows = (
            await conn.execute(
                select(emails.c.id, emails.c.subject, emails.c.from_email, emails.c.created_at)
                .where(emails.c.team_id == team_id, emails.c.id.in_([*ids, *broad]))
                .order_by(emails.c.id.desc())
            )
        ).all()
        exact_ids = set(ids)
        shown: list[tuple[Any, str]] = []
        for row in rows:  # one body at a time, decrypted off the loop, only until `limit` are shown
            sealed = (
                await conn.execute(select(emails.c.text, emails.c.html).where(emails.c.id == row.id))
            ).one()
            cut = await asyncio.to_thread(
                _examine, rt, row.subject, sealed.text, sealed.html, row.id in exact_ids, lookups
            )
            if cut is not None:
                shown.append((row, cut))
                if len(shown) == limit:
                    break
        links = await conn.execute(
            select(email_contacts.c.email_id, func.min(email_contacts.c.contact_id).label("contact_id"))
            .where(email_contacts.c.email_id.in_([r.id for r, _ in shown]))
            .group_by(email_contacts.c.email_id)
        )
        first_contact = {link.email_id: link.contact_id for link in links}
    return [
        {
            "id": r.id,
            "subject": r.subject,
            "from": r.from_email,
            "contact_id": first_contact.get(r.id),  # the record the web UI shows it on
            "created_at": iso(r.created_at),
            "snippet": cut,
        }
        for r, cut in shown
    ]
