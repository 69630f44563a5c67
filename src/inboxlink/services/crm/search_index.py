"""Writing the blind search index (issue 14 item 3): each email's subject and body words
(domain.search_terms) stored as HMAC-SHA256 under a key derived from the installation key, with the
team in the hashed message, cut to 16 bytes. The database holds no word of a body: someone with a
copy sees which emails share a term and how often a term occurs, not what the term is (docs/security.md,
"Search index"). Every email gets its rows in the transaction that stores it (crm.timeline), the
emails logged before this index by a job (crm.search_backfill)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.search_terms import Term, index_terms
from inboxlink.mime._text import html_to_text
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.search_tables import TERM_BYTES, email_search_state, email_search_terms

PURPOSE = b"inboxlink search index v1"
INDEX_CHARS = 200_000
INSERT_CHUNK = 500  # rows per INSERT: SQLite allows 32,766 bound values


@dataclass(frozen=True)
class SearchKey:
    key_id: str  # the installation key's fingerprint (public: key_fingerprints holds it), cut
    key: bytes


@dataclass(frozen=True)
class HashedTerms:
    key_id: str
    terms: tuple[bytes, ...]


def search_keys(rt: Runtime) -> list[SearchKey]:
    """A key per configured installation key, the current one first (hash with [0], look up
    with all: during a key rotation some emails are still hashed under the old key)."""
    ids = [f[:16] for f in rt.box.fingerprints()]
    return [SearchKey(i, k) for i, k in zip(ids, rt.box.derived_keys(PURPOSE), strict=True)]


def hash_terms(key: bytes, team_id: int, terms: Iterable[Term]) -> list[bytes]:
    """The stored form of each term: the team is part of the message, so one word of two teams
    gives two unrelated hashes (no cross-team frequency count)."""
    base = hmac.new(key, team_id.to_bytes(8, "big"), hashlib.sha256)
    out = []
    for term in terms:
        mac = base.copy()
        mac.update(f"\0{term.kind}\0{term.text}".encode())
        out.append(mac.digest()[:TERM_BYTES])
    return out


def searchable_text(text: str | None, html: str | None) -> str:
    """The body as words: the text part, or the HTML's text when the email has no text part."""
    if text and text.strip():
        return text
    return html_to_text(html) if html else ""


def email_terms(
    key: SearchKey, team_id: int, subject: str, text: str | None, html: str | None
) -> HashedTerms:
    """CPU work (normalising, hashing): run it off the event loop for big bodies. Only the body's
    first INDEX_CHARS characters are read: the index keeps an email's first MAX_TERMS terms anyway,
    and a 2 MB hostile HTML must not cost seconds of CPU per email."""
    body = searchable_text(text[:INDEX_CHARS] if text else text, html[: INDEX_CHARS * 4] if html else html)
    terms = index_terms(subject, body[:INDEX_CHARS])
    return HashedTerms(key.key_id, tuple(hash_terms(key.key, team_id, terms)))


async def write_terms(
    conn: AsyncConnection, team_id: int, email_id: int, hashed: HashedTerms, *, replace: bool = True
) -> None:
    """The email's index rows, replacing any it had (`replace`), in the caller's transaction."""
    if replace:
        await conn.execute(delete(email_search_terms).where(email_search_terms.c.email_id == email_id))
        await conn.execute(delete(email_search_state).where(email_search_state.c.email_id == email_id))
    rows = [{"team_id": team_id, "term": t, "email_id": email_id} for t in hashed.terms]
    for start in range(0, len(rows), INSERT_CHUNK):
        await conn.execute(email_search_terms.insert(), rows[start : start + INSERT_CHUNK])
    await conn.execute(
        email_search_state.insert().values(email_id=email_id, key_id=hashed.key_id, indexed_at=now())
    )


def lookup_hashes(rt: Runtime, team_id: int, term: Term) -> list[bytes]:
    """Every stored form `term` may have (one per configured key)."""
    return [hash_terms(k.key, team_id, [term])[0] for k in search_keys(rt)]
