"""Search by what an email says (issue 14 item 3), on SQLite and PostgreSQL: a reply delivered to the
IMAP server and logged is found by any word of its body, accents and case aside, through the API
and the web JSON; other teams never find it; the index holds no word in the clear; emails logged
before the index get indexed by the backfill job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from inboxlink.domain.models import Address
from inboxlink.services.crm import search_backfill
from inboxlink.services.crm.search import search_emails
from inboxlink.services.crm.search_backfill import index_after, index_backlog
from inboxlink.services.crm.search_index import search_keys
from inboxlink.services.crm.timeline import NewEmail, store_email
from inboxlink.services.platform import keys
from inboxlink.storage.platform_tables import jobs
from inboxlink.storage.search_tables import email_search_state, email_search_terms
from tests.integration import crm_backends
from tests.integration.conftest import CLIENT
from tests.support.flows import inbound
from tests.support.replies import make_reply
from tests.support.web import sign_in

app = crm_backends.app  # these tests run on SQLite and on PostgreSQL

BODY = (
    "Dzień dobry! Zażółć gęślą jaźń. Die Größe der Straße passt, l'élève a signé.\n"
    "The quarterly budget is approved.\n\n> On Tue, Sam wrote:\n> our earlier offer\n"
)


async def _found(user: Any, q: str) -> list[int]:
    resp = await user.get("/api/v1/search", params={"q": q})
    assert resp.status_code == 200, resp.text
    return [e["id"] for e in resp.json()["emails"]]


async def test_a_logged_reply_is_found_by_its_body_words_and_only_by_them(
    app, conversation, mail_server, mail_user
):
    user, _inbox, sent = conversation
    _mid, raw = make_reply(
        sender=CLIENT, to=mail_user.email, subject="Re: Our offer", text=BODY, in_reply_to=sent["message_id"]
    )
    mail_server.deliver(mail_user.email, raw)
    [reply] = await inbound(user, sent["contact_ids"][0])
    for q in ("zazolc", "GĘŚLĄ", "gęśl", "zazó", "strasse", "STRASSE", "grosse", "eleve", "ÉLÈVE", "budget approved",
              "quarterly budg", "quarterly budge", "Dzien", "earlier"):  # fmt: skip
        assert await _found(user, q) == [reply["id"]], q
    for q in ("zazolc missing", "approval", "invoice", "!!!", "x", "zz" * 20_000):
        assert reply["id"] not in await _found(user, q), q[:40]
    assert await _found(user, "budget " * 5000) == [reply["id"]]  # a long query: its first 200 characters
    # Bytes that are no UTF-8 (an encoded lone surrogate) separate words; a lone surrogate given to
    # the service finds nothing.
    resp = await user.get("/api/v1/search?q=%ED%A0%80budget%FF")
    assert resp.status_code == 200 and [e["id"] for e in resp.json()["emails"]] == [reply["id"]], resp.text
    assert await search_emails(app.rt, user.caller.team_id, "budget \ud800") == []
    # The subject is indexed the same way: both emails say "offer" in it.
    assert await _found(user, "OFFER") == [reply["id"], sent["id"]]
    assert await _found(user, "chris") == [sent["id"]]  # the sent email's body ("Hi Chris")
    [hit] = (await user.get("/api/v1/search", params={"q": "budget"})).json()["emails"]
    assert hit["contact_id"] == sent["contact_ids"][0] and hit["subject"] == "Re: Our offer"
    assert "quarterly budget is approved" in hit["snippet"] and len(hit["snippet"]) <= 161
    # The web box's JSON has the same hits, the contacts' names as before.
    await sign_in(user.client, user.caller.email)
    page = await user.client.get("/search", params={"q": "jaźń"}, headers={"Accept": "application/json"})
    assert [e["id"] for e in page.json()["emails"]] == [reply["id"]], page.text
    assert "quarterly budget" in (await user.client.get("/search", params={"q": "quarterly"})).text
    user.client.cookies.clear()
    # Another team's user finds nothing of it.
    other = await app.user("rival@other.test", team="rival")
    assert await _found(other, "zazolc") == [] and await _found(other, "offer") == []
    # No plaintext word: the rows are 16-byte hashes, distinct per team and key.
    async with app.rt.engine.connect() as conn:
        terms = (await conn.execute(select(email_search_terms.c.term))).scalars().all()
    assert terms and {len(t) for t in terms} == {16}
    assert not any(b"zazolc" in bytes(t) or b"budget" in bytes(t) for t in terms)


def _html_only(team_id: int, i: int) -> NewEmail:
    return NewEmail(
        team_id=team_id, direction="inbound", status="logged", source="imap", message_id=f"old-{i}@x.test",
        dedupe_key=f"old-{i}@x.test", sender=Address(CLIENT), to=[], cc=[], subject=f"Old {i}", text="",
        html=f"<p>Ancienne réunion n°{i}</p>", sent_at=None,
    )  # fmt: skip


async def test_emails_logged_before_the_index_are_indexed_by_the_job(app, conversation, monkeypatch):
    user, _inbox, sent = conversation
    team = user.caller.team_id
    async with app.rt.engine.begin() as conn:
        ids = [await store_email(app.rt, conn, _html_only(team, i)) for i in range(5)]
        # As if logged before migration 0022: no index rows.
        await conn.execute(delete(email_search_terms))
        await conn.execute(delete(email_search_state))
    assert await search_emails(app.rt, team, "reunion") == []
    # In short runs (a run stops after RUN_SECONDS), each handing on to a keyed job of its own.
    monkeypatch.setattr(search_backfill, "RUN_SECONDS", 0.0)
    monkeypatch.setattr(search_backfill, "BATCH", 2)
    payload: dict[str, Any] | None = {"after": 0}
    runs = 0
    while payload is not None:
        await index_backlog(app.rt, payload)
        runs += 1
        async with app.rt.engine.begin() as conn:
            job = (
                await conn.execute(
                    select(jobs).where(jobs.c.kind == "search.index", jobs.c.status == "pending")
                )
            ).first()
            if job is not None:
                await conn.execute(delete(jobs).where(jobs.c.id == job.id))
        payload = job.payload if job is not None else None
    assert runs == 4  # 6 emails, 2 per run, and the run that finds none after the last
    hits = await search_emails(app.rt, team, "REUNION")
    assert [h["id"] for h in hits] == sorted(ids, reverse=True)
    assert hits[0]["snippet"] == "Ancienne réunion n°4"  # HTML-only email: its text
    async with app.rt.engine.connect() as conn:
        states = (await conn.execute(select(email_search_state.c.key_id))).scalars().all()
        count = await conn.scalar(select(func.count()).select_from(email_search_terms))
    assert len(states) == 6 and set(states) == {search_keys(app.rt)[0].key_id}  # the sent email too
    await index_backlog(app.rt, {"after": 0})  # a second run changes nothing
    async with app.rt.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(email_search_terms)) == count
    assert [h["id"] for h in await search_emails(app.rt, team, "hi chris")] == [sent["id"]]


async def test_search_works_through_a_key_rotation_and_the_index_is_rehashed(app, conversation):
    user, _inbox, sent = conversation
    team = user.caller.team_id
    await keys.check_key(app.rt)
    old = search_keys(app.rt)[0].key_id
    assert await keys.begin_rotation(app.rt)  # a new key first in the key file, the old one still held
    new = search_keys(app.rt)[0].key_id
    assert new != old and len(search_keys(app.rt)) == 2
    async with app.rt.engine.begin() as conn:
        fresh = await store_email(app.rt, conn, _html_only(team, 7))
    # Mid-rotation: one email hashed under each key, both found.
    assert await _states(app) == {sent["id"]: old, fresh: new}
    assert [h["id"] for h in await search_emails(app.rt, team, "réunion")] == [fresh]
    assert [h["id"] for h in await search_emails(app.rt, team, "chris")] == [sent["id"]]
    await keys.run_rotation(app.rt, batch=50, grace=0)
    assert len(app.rt.box.keys) == 1  # the old key dropped
    assert await _states(app) == {sent["id"]: new, fresh: new}
    assert [h["id"] for h in await search_emails(app.rt, team, "chris")] == [sent["id"]]
    assert [h["id"] for h in await search_emails(app.rt, team, "reunion")] == [fresh]
    assert await index_after(app.rt, 0) == (fresh, 0)  # nothing left to re-hash


async def _states(app: Any) -> dict[int, str]:
    async with app.rt.engine.connect() as conn:
        rows = await conn.execute(select(email_search_state.c.email_id, email_search_state.c.key_id))
        return {r.email_id: r.key_id for r in rows}


async def test_contacts_companies_and_deals_are_found_without_accents(app, conversation):
    """Names are stored as typed; the search box matches them accent- and case-insensitively on both
    databases (SQLite through a registered function, PostgreSQL through translate())."""
    user, _inbox, _sent = conversation
    person = (
        await user.post("/api/v1/contacts", {"email": "zofia@prospect.test", "name": "Zażółć Gęślą"})
    ).json()
    firm = (await user.post("/api/v1/companies", {"name": "Société Générale"})).json()
    deal = (await user.post("/api/v1/deals", {"name": "Łódź Überlandwerk"})).json()
    for q, kind, wanted in (
        ("zazolc", "contacts", person["id"]),
        ("GESLA", "contacts", person["id"]),
        ("societe gen", "companies", firm["id"]),
        ("lodz", "deals", deal["id"]),
        ("uberland", "deals", deal["id"]),
    ):
        found = (await user.get("/api/v1/search", params={"q": q})).json()[kind]
        assert [r["id"] for r in found] == [wanted], (q, found)
    assert (await user.get("/api/v1/search", params={"q": "zazolcx"})).json()["contacts"] == []
    listed = (await user.get("/api/v1/contacts", params={"q": "zażo"})).json()["items"]
    assert [c["id"] for c in listed] == [person["id"]]
